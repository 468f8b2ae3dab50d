"""Alert rules stored in the workspace: ``nbtrack monitor add/list/rm``.

A rule watches one model reference (usually an alias, so it follows promotions):
drift thresholds (see :class:`~.drift.Thresholds`), conditions written in the one
expression language (:mod:`nbtrack.expr`, schema :data:`RULES`): ``"auc < 0.85"``
(bare names are the newest ``nbtrack.evaluate`` metrics of the version) or
``"drift.share >= 0.3"`` (the check's drift summary: ``share``, ``n_drifted``,
``psi_max``, ``js_max``, ``ks_p_min``), alerting when they hold; where alerts go
(sinks); and optionally a pipeline to retrain with, a promotion alias and its gate.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select

from .. import expr
from ..errors import InvalidInput, NotFound
from ..store.schema import monitor_rules
from ..workspace import Workspace, get_workspace
from .drift import Thresholds
from ..store.keys import inserted_id

RULES = expr.Schema(groups={"metrics": "number", "drift": "number"}, bare="metrics", what="alert rule")


@dataclass
class Rule:
    """One stored alert rule."""

    model: str
    thresholds: dict[str, float] = field(default_factory=dict)
    metrics: list[str] = field(default_factory=list)
    sinks: list[str] = field(default_factory=lambda: ["log"])
    features: list[str] | None = None
    current: str | None = None  # default: MODEL.predictions@latest
    retrain: str | None = None  # pipeline name
    promote_to: str | None = None
    gate_vs: str | None = None
    gates: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    creator: str | None = None
    created: float | None = None

    @property
    def model_name(self) -> str:
        return self.model.partition("@")[0]

    def spec(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("id", "model", "creator", "created")}

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in self.thresholds.items()] + [f"metric {m!r}" for m in self.metrics]
        if self.retrain:
            parts.append(f"retrain {self.retrain}" + (f" -> {self.promote_to}" if self.promote_to else "")
                         + (f" gate {self.gate_vs}" if self.gate_vs else ""))
        return ", ".join(parts) or "default thresholds"


def _validate(rule: Rule) -> None:
    from ..snapshot.models import parse_ref

    parse_ref(rule.model)
    Thresholds.of(rule.thresholds)
    for m in rule.metrics:
        expr.parse(m, RULES)  # raises InvalidInput naming the malformed condition
    if (rule.promote_to or rule.gate_vs) and not rule.retrain:
        raise InvalidInput("--promote-to and --gate-vs need --retrain PIPELINE")
    if rule.gate_vs:
        from ..pipeline.gates import parse_vs

        parse_vs(rule.gate_vs, rule.model_name)
    for s in rule.sinks:
        from .sinks import parse_sink

        parse_sink(s)


def add_rule(rule: Rule, workspace: Workspace | None = None) -> Rule:
    """Validate and store a rule; returns it with its id."""
    from ..context import user

    _validate(rule)
    ws = workspace or get_workspace(create=True)
    rule.creator, rule.created = user(), time.time()
    with ws.meta.write() as conn:
        rule.id = inserted_id(conn.execute(insert(monitor_rules).values(
            model=rule.model, spec=json.dumps(rule.spec()), creator=rule.creator, created=rule.created)))
        from ..registry import events

        events.record(conn, "monitor.rule_add", f"model:{rule.model}", {"rule": rule.id, **rule.spec()})
    return rule


def list_rules(workspace: Workspace | None = None) -> list[Rule]:
    ws = workspace or get_workspace()
    with ws.meta.read() as conn:
        rows = conn.execute(select(monitor_rules).order_by(monitor_rules.c.id)).mappings().all()
    return [Rule(model=r["model"], id=r["id"], creator=r["creator"], created=r["created"], **json.loads(r["spec"]))
            for r in rows]


def remove_rule(rule_id: int, workspace: Workspace | None = None) -> None:
    ws = workspace or get_workspace()
    with ws.meta.write() as conn:
        row = conn.execute(select(monitor_rules).where(monitor_rules.c.id == rule_id)).mappings().first()
        if row is None:
            raise NotFound(f"no monitor rule {rule_id}; `nbtrack monitor list` shows them")
        conn.execute(delete(monitor_rules).where(monitor_rules.c.id == rule_id))
        from ..registry import events

        events.record(conn, "monitor.rule_remove", f"model:{row['model']}", {"rule": rule_id})


def rules_frame(workspace: Workspace | None = None):
    """The rules as a DataFrame (``id, model, rule, sinks, creator, created``)."""
    import pandas as pd

    rows = [{"id": r.id, "model": r.model, "rule": r.describe(), "sinks": ", ".join(r.sinks), "creator": r.creator,
             "created": pd.Timestamp(r.created, unit="s", tz="UTC")} for r in list_rules(workspace)]
    return pd.DataFrame(rows, columns=["id", "model", "rule", "sinks", "creator", "created"])
