"""What watches a model: its alert rules and the outcome of the last checks.

The sidebar's model detail and ``nbtrack.monitoring(name)`` show this next to the
model's servers (:func:`nbtrack.served`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..store.schema import runs, tags
from ..workspace import Workspace, get_workspace
from .rules import list_rules


def monitoring(name: str, *, last: int = 5, workspace: Workspace | None = None) -> dict[str, Any]:
    """The alert rules watching model ``name`` and its newest monitor runs.

    Parameters
    ----------
    name : str
        A registered model's name (rules on ``name@alias`` and ``name@N`` count).
    last : int
        How many of the newest monitor runs (checks, drift, validation, evaluation) to return.

    Returns
    -------
    dict
        ``rules``: ``[{"id", "model", "rule", "sinks", "retrain"}]``;
        ``checks``: newest first, ``[{"run", "kind", "model", "status", "started", "alerts"}]``
        where ``kind`` is ``check``, ``drift``, ``validate`` or ``evaluate`` and ``alerts``
        the alert texts (empty when all was well).
    """
    ws = workspace or get_workspace()
    rules = [{"id": r.id, "model": r.model, "rule": r.describe(), "sinks": list(r.sinks), "retrain": r.retrain}
             for r in list_rules(ws) if r.model_name == name]
    model_tag = tags.alias("model_tag")
    kind_tag = tags.alias("kind_tag")
    alerts_tag = tags.alias("alerts_tag")
    q = (select(runs.c.id, runs.c.status, runs.c.started, model_tag.c.value.label("model"),
                kind_tag.c.value.label("kind"), alerts_tag.c.value.label("alerts"))
         .join(model_tag, (model_tag.c.run_id == runs.c.id) & (model_tag.c.key == "nbtrack.model"))
         .outerjoin(kind_tag, (kind_tag.c.run_id == runs.c.id) & (kind_tag.c.key == "nbtrack.monitor"))
         .outerjoin(alerts_tag, (alerts_tag.c.run_id == runs.c.id) & (alerts_tag.c.key == "nbtrack.alerts"))
         .where(runs.c.kind == "monitor", model_tag.c.value.like(_prefix(name), escape="\\"))
         .order_by(runs.c.started.desc()).limit(max(0, int(last))))
    with ws.meta.read() as conn:
        rows = conn.execute(q).all()
    checks = [{"run": r.id, "kind": r.kind, "model": r.model, "status": r.status, "started": r.started,
               "alerts": [a.strip() for a in (r.alerts or "").split(";") if a.strip()]} for r in rows]
    return {"rules": rules, "checks": checks}


def _prefix(name: str) -> str:
    """``LIKE`` pattern for ``name@...`` with the name's own ``%``/``_`` taken literally."""
    return name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "@%"
