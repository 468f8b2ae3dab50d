"""``nbtrack monitor check``: evaluate every rule, send alerts, retrain when asked.

Per rule: drift of the current data (``MODEL.predictions@latest`` unless another
dataset is given) against the model version's own training data; the current data
against the data contract guarding that training data, when one is stored; the
rule's conditions over the version's newest ``evaluate`` metrics and the drift summary. Any drifted
feature or holding condition is an alert: an audit event ``monitor.alert``, one
message to each sink, then the retraining if the rule names a pipeline. The whole
check of a rule is a ``monitor`` run; drift and retraining runs are its children.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import NotFound
from ..workspace import Workspace, get_workspace
from .rules import Rule, list_rules


@dataclass
class RuleCheck:
    """The outcome of one rule."""

    rule: Rule
    model_version: str | None = None
    current: str | None = None
    alerts: list[str] = field(default_factory=list)
    drift: Any = None
    run_id: str | None = None
    event_id: int | None = None
    deliveries: list = field(default_factory=list)
    retraining: Any = None
    skipped: str | None = None

    @property
    def alerted(self) -> bool:
        return bool(self.alerts)

    def summary(self) -> str:
        head = f"rule {self.rule.id} {self.rule.model}"
        if self.skipped:
            return f"{head}: skipped ({self.skipped})"
        if not self.alerts:
            return f"{head} ({self.model_version}) vs {self.current}: ok"
        lines = [f"{head} ({self.model_version}) vs {self.current}: ALERT"] + [f"  {a}" for a in self.alerts]
        lines += [f"  sink {d.sink}: {'delivered' if d.ok else 'FAILED ' + d.detail}" for d in self.deliveries]
        if self.retraining is not None:
            r = self.retraining
            lines.append(f"  retrain {r.pipeline} run {r.run_id}: {r.outcome}" + (f" ({r.detail[:300]})"
                                                                                  if r.detail else ""))
        return "\n".join(lines)


def check(rule_ids: list[int] | None = None, current: str | None = None, retrain: bool = True,
          workspace: Workspace | None = None) -> list[RuleCheck]:
    """Check the stored rules (all, or ``rule_ids``).

    Parameters
    ----------
    current : str, optional
        A dataset reference to compare instead of ``MODEL.predictions@latest``.
    retrain : bool
        Run the rules' retraining pipelines on alert (default).

    Returns
    -------
    list of RuleCheck
    """
    ws = workspace or get_workspace()
    rules = [r for r in list_rules(ws) if rule_ids is None or r.id in rule_ids]
    if rule_ids:
        missing = set(rule_ids) - {r.id for r in rules}
        if missing:
            raise NotFound(f"no monitor rule {sorted(missing)}; `nbtrack monitor list` shows them")
    return [check_rule(r, current, retrain, ws) for r in rules]


def check_rule(rule: Rule, current: str | None, retrain: bool, ws: Workspace) -> RuleCheck:
    from ..capture.run import track
    from ..snapshot.models import get_model_version

    out = RuleCheck(rule)
    try:
        mv = get_model_version(rule.model, ws)
    except NotFound as e:
        out.skipped = str(e)
        return out
    out.model_version = mv.ref
    out.current = current or rule.current or f"{rule.model_name}.predictions@latest"
    with track(f"monitor check {rule.model}", kind="monitor", workspace=ws,
               params={"check": "rule", "rule": rule.id, "model": mv.ref, "current": out.current},
               tags={"nbtrack.monitor": "check", "nbtrack.model": mv.ref}) as run:
        out.run_id = run.id
        _drift(out, mv, ws)
        _contract(out, mv, ws)
        _metrics(out, mv, ws)
        if out.alerts:
            run.set_tag("nbtrack.alerts", "; ".join(out.alerts)[:2000])
            _alert(out, mv, ws)
            if retrain and rule.retrain:
                from .retrain import retrain as do_retrain

                out.retraining = do_retrain(rule, out.event_id, run.id, ws)
                run.set_tag("nbtrack.retrain", f"{out.retraining.outcome} run {out.retraining.run_id}")
    return out


def _drift(out: RuleCheck, mv: Any, ws: Workspace) -> None:
    from ..snapshot.datasets import get_version
    from .drift import drift

    if out.current is None:
        out.skipped = "no current data"
        return
    try:
        get_version(out.current, ws)
    except NotFound as e:
        out.skipped = f"no current data: {e}"
        return
    report = drift(mv, out.current, out.rule.features, thresholds=out.rule.thresholds or None, workspace=ws)
    out.drift = report
    out.alerts += [f"drift {a}" for a in report.alerts]


def _contract(out: RuleCheck, mv: Any, ws: Workspace) -> None:
    """The current data against the contract guarding the version's training data, if one is stored."""
    from ..snapshot.contracts import model_contract
    from .validate import validate

    if out.drift is None:
        return
    contract = model_contract(mv.ref, ws)
    if contract is None:
        return
    result = validate(out.current, contract, workspace=ws)
    out.alerts += [f"contract {contract.ref}: {m}" for m in result.messages]


def _metrics(out: RuleCheck, mv: Any, ws: Workspace) -> None:
    """The rule's conditions over the newest evaluation metrics and the drift summary."""
    from .. import expr
    from .evaluate import latest_metrics
    from .rules import RULES

    if not out.rule.metrics:
        return
    values = {"metrics": latest_metrics(mv.ref, ws), "drift": drift_summary(out.drift)}
    for cond in out.rule.metrics:
        verdict = expr.check(cond, values, RULES)
        if verdict.passed:
            out.alerts.append(f"condition {cond}: " + "; ".join(c.detail for c in verdict.conditions))


def drift_summary(report: Any) -> dict[str, float]:
    """``drift.*`` values a rule condition can name."""
    if report is None:
        return {}
    df = report.to_frame()
    out = {"share": report.share, "n_drifted": float(len(report.drifted))}
    for key, col, fn in (("psi_max", "psi", "max"), ("js_max", "js", "max"), ("ks_p_min", "ks_p", "min"),
                         ("chi2_p_min", "chi2_p", "min")):
        if col in df and df[col].notna().any():
            out[key] = float(getattr(df[col], fn)())
    return out


def _alert(out: RuleCheck, mv: Any, ws: Workspace) -> None:
    from ..registry import events
    from .sinks import send

    payload = {"event": "nbtrack.monitor.alert", "rule": out.rule.id, "model": mv.ref, "current": out.current,
               "alerts": out.alerts, "check_run": out.run_id,
               "drift_run": getattr(out.drift, "run_id", None),
               "drifted": getattr(out.drift, "drifted", []), "share": getattr(out.drift, "share", None)}
    with ws.meta.write() as conn:
        out.event_id = events.record(conn, "monitor.alert", f"model:{mv.ref}", payload, reason=f"rule {out.rule.id}")
    payload["event_id"] = out.event_id
    out.deliveries = [send(s, payload) for s in out.rule.sinks]
