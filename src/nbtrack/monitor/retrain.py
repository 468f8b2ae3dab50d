"""Retraining on alert: the rule's approved pipeline on the newest data, validated,
registered, promoted only if the gate passes.

Every step leaves an audit event carrying the ids that chain it together:
``monitor.alert`` (the check run, the alerts) -> ``monitor.retrain`` (the alert
event, the pipeline run, the new model version, ``promoted`` or ``refused`` with
the gate's numbers); the registry adds its own ``model.register`` and
``alias.promote`` / ``alias.promote_refused`` events whose reason names the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ContractViolation, GateFailed, NbtrackError
from ..workspace import Workspace


@dataclass
class Retraining:
    """What a retraining did: ``outcome`` is promoted, registered, refused or failed."""

    pipeline: str
    outcome: str
    run_id: str | None = None
    model: str | None = None
    detail: str = ""
    pins: dict[str, Any] = field(default_factory=dict)
    event_id: int | None = None


def newest_pins(pipeline: str, ws: Workspace) -> dict[str, int]:
    """The approved version's pinned datasets, each moved to its newest version."""
    from ..pipeline.versions import get_version as pipeline_version
    from ..snapshot.datasets import get_version

    pv = pipeline_version(pipeline, None, workspace=ws)
    return {name: get_version(f"{name}@latest", ws).version for name in (pv.pins or {})}


def retrain(rule: Any, alert_event: int | None, parent: str | None, ws: Workspace) -> Retraining:
    """Run ``rule.retrain`` on the newest data; register as the rule's model, promote through the gate."""
    from ..pipeline.run import run_pipeline

    result = Retraining(rule.retrain, "failed")
    try:
        result.pins = newest_pins(rule.retrain, ws)
        params, texts = _params(rule.params or {})
        res = run_pipeline(rule.retrain, params=params or None, param_texts=texts, gates=rule.gates or None,
                           gate_vs=rule.gate_vs, register=rule.model_name, promote_to=rule.promote_to,
                           pins=result.pins, parent=parent or "", workspace=ws,
                           tags={"nbtrack.alert_event": alert_event, "nbtrack.monitor": "retrain"})
        result.run_id, result.model = res.run_id, res.model
        result.outcome = "promoted" if res.promoted else "registered"
        result.detail = f"{res.model} -> {rule.promote_to}" if res.promoted else f"{res.model} registered"
    except GateFailed as e:
        r = e.fields.get("result")
        result.outcome = "refused"
        result.run_id = getattr(r, "run_id", None) or _run_of(e)
        result.model = getattr(r, "model", None)
        result.detail = str(e)
    except (ContractViolation, NbtrackError) as e:
        run_id = e.fields.get("run_id")
        result.outcome, result.run_id, result.detail = "failed", None if run_id is None else str(run_id), str(e)
    result.event_id = _audit(ws, rule, alert_event, result)
    return result


def _params(given: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Typed values as given; texts (from the CLI) parsed like ``nbtrack run -p NAME VALUE``."""
    from ..pipeline.parameters import parse_pairs

    texts = {k: v for k, v in given.items() if isinstance(v, str)}
    values, raw = parse_pairs(list(texts.items())) if texts else ({}, {})
    values.update({k: v for k, v in given.items() if not isinstance(v, str)})
    return values, raw


def _run_of(e: GateFailed) -> str | None:
    r = e.fields.get("result")
    return getattr(r, "run_id", None)


def _audit(ws: Workspace, rule: Any, alert_event: int | None, r: Retraining) -> int:
    from ..registry import events

    with ws.meta.write() as conn:
        return events.record(conn, "monitor.retrain", f"model:{rule.model}",
                             {"rule": rule.id, "alert_event": alert_event, "pipeline": r.pipeline,
                              "run": r.run_id, "model_version": r.model, "outcome": r.outcome,
                              "promote_to": rule.promote_to, "gate_vs": rule.gate_vs, "pins": r.pins,
                              "detail": r.detail[:2000]},
                             reason=f"alert event {alert_event}")
