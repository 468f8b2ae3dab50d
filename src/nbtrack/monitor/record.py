"""Monitoring checks as runs of kind ``monitor``: metrics, the report, lineage."""

from __future__ import annotations

import math
from typing import Any

from ..workspace import Workspace

KIND = "monitor"


def _link_inputs(run: Any, *versions: Any) -> None:
    for v in versions:
        if v is not None and getattr(v, "id", None) is not None:
            run.use_dataset(v.id)


def record_drift(report: Any, ws: Workspace, parent: str | None = None, name: str | None = None) -> str:
    """Record a drift report as a ``monitor`` run; returns its id."""
    from ..capture.run import ActiveRun
    from ..context import default_parent

    run = ActiveRun(name or f"drift {report.reference}", KIND, parent_id=parent or default_parent(), workspace=ws)
    run.log_params({"check": "drift", "reference": report.reference, "current": report.current,
                    "features": len(report.rows)})
    if report.model_version is not None:
        run.set_tag("nbtrack.model", report.model_version.ref)
    run.set_tag("nbtrack.monitor", "drift")
    run.start()
    metrics = {"drift.share": report.share, "drift.n_drifted": len(report.drifted)}
    for r in report.rows:
        for key in ("psi", "ks_p", "js", "chi2_p", "missing_change"):
            v = r.get(key)
            if isinstance(v, float) and math.isfinite(v):
                metrics[f"{key}.{r['feature']}"] = v
    run.log_metrics(metrics, step=0)
    run.log_artifact(report.to_json(), name="drift.json")
    if report.drifted:
        run.set_tag("nbtrack.alerts", "; ".join(str(a) for a in report.alerts)[:2000])
    _link_inputs(run, report.reference_version, report.current_version)
    run.end("finished")
    return run.id


def record_validation(result: Any, ws: Workspace, target: str, parent: str | None = None) -> str:
    """Record a validation result as a ``monitor`` run; returns its id."""
    from ..capture.run import ActiveRun
    from ..context import default_parent

    run = ActiveRun(f"validate {target}", KIND, parent_id=parent or default_parent(), workspace=ws)
    run.log_params({"check": "validate", "contract": result.contract_ref, "data": target})
    run.set_tag("nbtrack.monitor", "validate")
    run.start()
    run.log_metrics({"validation.failed_checks": len(result.failures), "validation.rows": result.n_rows}, step=0)
    if not result.ok:
        run.set_tag("nbtrack.alerts", "; ".join(result.messages)[:2000])
    run.log_artifact(result.to_json(), name="validation.json")
    run.end("finished" if result.ok else "failed")
    return run.id
