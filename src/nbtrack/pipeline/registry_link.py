"""From a pipeline run to the registry: the model it produced, register, gated promotion.

Only public registry functions are called; the registry owns versions, aliases,
gates on promotion and the audit log.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..errors import GateFailed, NotFound
from ..store import runs as store_runs
from ..store.schema import lineage
from ..workspace import Workspace
from .gates import VsGate, descendants


def model_run(ws: Workspace, run_id: str) -> str:
    """The run below pipeline run ``run_id`` that produced a model (the latest one)."""
    with ws.meta.read() as conn:
        ids = [run_id, *descendants(conn, run_id)]
        found = conn.execute(select(lineage.c.run_id).where(
            lineage.c.run_id.in_(ids), lineage.c.direction == "output", lineage.c.model_version_id.is_not(None))
            .order_by(lineage.c.id.desc()).limit(1)).scalar()
    if found is None:
        raise NotFound(f"pipeline run {run_id} produced no model to register: fit a scikit-learn model "
                       "in a %%track cell or call nbtrack.log_model(obj, name) in the notebook")
    return found


def register_and_promote(ws: Workspace, result: Any, name: str, promote_to: str | None,
                         vs: VsGate | None) -> None:
    """Register the run's model as the next version of ``name``; promote it when asked.

    ``result`` (a PipelineResult) gets ``model`` and ``promoted``; a refused
    promotion raises the registry's ``GateFailed`` after the run is tagged.
    """
    from ..registry.models import register_model

    metrics = {k: v for k, v in (result.metrics or {}).items() if v is not None}
    mv = register_model(name, run=model_run(ws, result.run_id), metrics=metrics,
                        reason=f"pipeline {result.pipeline}@{result.version} run {result.run_id}", workspace=ws)
    result.model = mv.ref
    tag_run(ws, result.run_id, {"nbtrack.model": mv.ref})
    if not promote_to:
        return
    from ..registry.promote import promote

    kwargs: dict[str, Any] = {"to": promote_to, "workspace": ws,
                              "reason": f"pipeline {result.pipeline}@{result.version} run {result.run_id}"}
    if vs is not None:
        kwargs.update(vs=vs.alias, metric=vs.metric, higher_is_better=vs.higher_is_better)
    try:
        promote(name, mv.version, **kwargs)
    except GateFailed as e:
        tag_run(ws, result.run_id, {"nbtrack.promotion": f"refused: {e}"})
        raise
    result.promoted = f"{name}@{promote_to}"
    tag_run(ws, result.run_id, {"nbtrack.promotion": f"{mv.ref} -> {promote_to}"})


def tag_run(ws: Workspace, run_id: str, tags: dict[str, Any]) -> None:
    """Add tags to a finished run (model registered, promotion outcome)."""
    with ws.meta.write() as conn:
        store_runs.write_tags(conn, run_id, {k: str(v) for k, v in tags.items()})
