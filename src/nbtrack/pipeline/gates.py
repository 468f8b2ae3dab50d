"""Gates: conditions on a pipeline run's metrics that decide its exit code.

A gate is an expression of :mod:`nbtrack.expr` over the run's metrics,
``"metrics.auc >= 0.9"`` (``metrics.`` may be left out; ``and``/``or``/``not`` work),
checked by the one gate engine, :func:`nbtrack.expr.check`. A comparison gate
``"production:auc"`` (or ``"churn@production:auc"``) passes when the run is at least
as good as the model version currently holding that alias, decided by the registry's
own check (:func:`nbtrack.registry.gates.check_versus`: on a shared evaluation
dataset when both have one, else on recorded metrics), so a run that passes its
``--gate-vs`` is never refused by the promotion that follows. Higher is better,
lower for loss-like names; or append ``:lower``/``:higher``. Gate metrics are the
latest value of each metric across the pipeline run's descendants (its ``%%track``
cells) plus the metrics logged on the pipeline run itself, which win.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select

from ..errors import InvalidInput, NotFound
from ..expr import Condition, Expr, Verdict, check, parse
from ..snapshot.models import resolve, row_to_version, version_query
from ..store.schema import latest_metrics, lineage, model_versions, runs as runs_t
from ..workspace import Workspace

GateResult = Condition  # one checked condition, with its numbers (the name pipeline results used)


@dataclass(frozen=True)
class VsGate:
    """The run must be at least as good as ``model@alias`` on ``metric``."""

    text: str
    model: str | None
    alias: str
    metric: str
    higher_is_better: bool | None = None  # None: lower is better for loss/error/mse... names


def parse_gate(text: str) -> Expr:
    """``"metrics.auc>=0.9"`` into an expression (never evaluated as Python)."""
    return parse(str(text))


def parse_vs(text: str, model: str | None = None) -> VsGate:
    """``"production:auc"``, ``"churn@production:auc"`` or ``"production:loss:lower"``."""
    parts = str(text).strip().split(":")
    if len(parts) not in (2, 3) or not all(parts[:2]) or (len(parts) == 3 and parts[2] not in ("lower", "higher")):
        raise InvalidInput(f"cannot read --gate-vs {text!r}: write ALIAS:METRIC (production:auc), "
                           "MODEL@ALIAS:METRIC, and :lower for metrics where lower is better")
    name, sep, alias = parts[0].rpartition("@")
    if not sep:
        name, alias = model or "", parts[0]
    if not name:
        raise InvalidInput(f"--gate-vs {text!r} needs a model: pass --register NAME or write NAME@{alias}:{parts[1]}")
    return VsGate(str(text).strip(), name, alias, parts[1], None if len(parts) == 2 else parts[2] == "higher")


def evaluate(gates: list[Expr], metrics: dict[str, float | None]) -> list[Verdict]:
    """Check each gate against ``metrics``; a metric that was not logged fails its comparison."""
    return [check(g, metrics) for g in gates]


def evaluate_vs(ws: Workspace, vs: VsGate, metrics: dict[str, float | None], run_id: str | None) -> Verdict:
    """The registry's "not worse than ``vs.model@vs.alias``" check of this run's candidate.

    The candidate is the model the run produced (with its evaluations) and the run's
    metrics, exactly what registering it would record.
    """
    from ..registry.gates import candidate, check_versus, lower_is_better

    higher = (not lower_is_better(vs.metric)) if vs.higher_is_better is None else vs.higher_is_better
    with ws.meta.read() as conn:
        try:
            inc = resolve(conn, f"{vs.model}@{vs.alias}", ws)
        except NotFound:
            inc = None
        source = produced_model(ws, conn, run_id) if run_id else None
        cand = candidate(conn, source, vs.metric, dict(metrics), ref=f"run {run_id}" if run_id else None)
        cond = check_versus(conn, cand, inc, vs.alias, vs.metric, higher)
    cond.condition = vs.text  # shown as written: "FAIL production:auc: run ... auc = 0.7 < churn@1 auc = 0.8 ..."
    return Verdict(vs.text, cond.passed, [cond])


def descendants(conn, run_id: str) -> list[str]:
    """Ids of every run below ``run_id`` (children, their children...)."""
    out, frontier = [], [run_id]
    while frontier:
        kids = conn.execute(select(runs_t.c.id).where(runs_t.c.parent_id.in_(frontier))).scalars().all()
        out += kids
        frontier = kids
    return out


def gate_metrics(ws: Workspace, run_id: str) -> dict[str, float | None]:
    """Latest value of each metric across the run's descendants, then the run's own metrics."""
    with ws.meta.read() as conn:
        ids = descendants(conn, run_id)
        rows = conn.execute(select(latest_metrics.c.key, latest_metrics.c.value, latest_metrics.c.ts)
                            .where(latest_metrics.c.run_id.in_(ids))).all() if ids else []
        own = dict(conn.execute(select(latest_metrics.c.key, latest_metrics.c.value)
                                .where(latest_metrics.c.run_id == run_id)).all())
    latest: dict[str, tuple[float, float | None]] = {}
    for key, value, ts in rows:
        if key not in latest or ts >= latest[key][0]:
            latest[key] = (ts, value)
    merged = {k: v for k, (_, v) in latest.items()}
    merged.update(own)
    return merged


def produced_model(ws: Workspace, conn, run_id: str):
    """The model version pipeline run ``run_id`` (or a run below it) produced last, or None."""
    ids = [run_id, *descendants(conn, run_id)]
    vid = conn.execute(select(lineage.c.model_version_id).where(
        lineage.c.run_id.in_(ids), lineage.c.direction == "output", lineage.c.model_version_id.is_not(None))
        .order_by(lineage.c.id.desc()).limit(1)).scalar()
    if vid is None:
        return None
    return row_to_version(conn.execute(version_query().where(model_versions.c.id == vid)).first(), ws)


def summary(results: list[Condition]) -> str:
    """One line per condition, for tags and messages."""
    return "; ".join(str(r) for r in results)


def to_json(results: list[Condition]) -> str:
    return json.dumps([r.to_dict() for r in results], default=str)
