"""``reproduce``: run a recorded run again and compare metrics and environments.

A pipeline run is executed again from the same approved version with the same
parameters and pinned dataset versions. A tracked cell run interactively is
executed again in a fresh kernel: its recorded source, after its recorded input
dataset versions are restored under their variable names.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput
from ..workspace import Workspace, get_workspace
from .cells import rerun_cell
from .execute import check_timeout


@dataclass
class ReproduceResult:
    """Old vs new metrics (``metrics``) and environment differences (``env``) as DataFrames."""

    original: str
    reproduced: str
    tolerance: float
    metrics: Any
    env: Any

    @property
    def matched(self) -> bool:
        return bool(len(self.metrics)) and bool(self.metrics["match"].all())

    @property
    def exit_code(self) -> int:
        return 0 if self.matched else 1


def _close(a: float | None, b: float | None, tol: float) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
        return a is None and b is None
    return abs(a - b) <= tol * max(1.0, abs(a))


def compare_metrics(old: dict, new: dict, tolerance: float):
    """One row per metric: original, reproduced, absolute difference, match (relative above 1)."""
    import pandas as pd

    rows = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        diff = abs(a - b) if a is not None and b is not None else None
        rows.append({"metric": key, "original": a, "reproduced": b, "difference": diff,
                     "match": _close(a, b, tolerance)})
    return pd.DataFrame(rows, columns=["metric", "original", "reproduced", "difference", "match"])


def compare_env(old: dict, new: dict):
    """Rows where python, platform or a package version differ (``(none)`` when absent)."""
    import pandas as pd

    rows = []
    for key in ("python", "implementation", "platform"):
        if old.get(key) != new.get(key):
            rows.append({"what": key, "original": old.get(key), "reproduced": new.get(key)})
    po, pn = old.get("packages", {}), new.get("packages", {})
    for name in sorted(set(po) | set(pn)):
        if po.get(name) != pn.get(name):
            rows.append({"what": f"package {name}", "original": po.get(name, "(none)"),
                         "reproduced": pn.get(name, "(none)")})
    return pd.DataFrame(rows, columns=["what", "original", "reproduced"])


def _kernel_env(ws: Workspace, run_id: str) -> dict:
    """The environment the run's own code ran in: a child's (the kernel) if it has one."""
    from ..query.runs import get_run
    from .gates import descendants

    with ws.meta.read() as conn:
        kids = descendants(conn, run_id)
    return get_run(kids[0], workspace=ws).env if kids else get_run(run_id, workspace=ws).env


def reproduce(run_id: str, tolerance: float = 1e-9, timeout: float | None = None,
              workspace: Workspace | None = None) -> ReproduceResult:
    """Execute run ``run_id`` again and compare.

    Parameters
    ----------
    run_id : str
        A pipeline run, or a tracked cell run (id or unique prefix).
    tolerance : float
        Largest accepted difference per metric (relative for values above 1).
    timeout : float, optional
        Seconds any one cell may run.

    Returns
    -------
    ReproduceResult
        ``matched`` is True when every metric agrees within ``tolerance``.
    """
    from ..query.runs import get_run


    check_timeout(timeout)
    ws = workspace or get_workspace(create=False)
    old = get_run(run_id, workspace=ws)
    if old.kind == "pipeline":
        new_id = _rerun_pipeline(ws, old, timeout)
    elif old.kind == "cell":
        new_id = rerun_cell(ws, old, timeout)
    else:
        raise InvalidInput(f"run {old.id} is a {old.kind} run; reproduce works on pipeline runs and tracked cells")
    new = get_run(new_id, workspace=ws)
    return ReproduceResult(old.id, new.id, tolerance, compare_metrics(old.metrics, new.metrics, tolerance),
                           compare_env(_kernel_env(ws, old.id), _kernel_env(ws, new.id)))


def _rerun_pipeline(ws: Workspace, old, timeout: float | None) -> str:
    from .run import TAG_PINS, TAG_PIPELINE, TAG_VERSION, run_pipeline

    name, version = old.tags.get(TAG_PIPELINE), old.tags.get(TAG_VERSION)
    if not name or not version:
        raise InvalidInput(f"run {old.id} has no pipeline version recorded; it cannot be reproduced")
    pins = json.loads(old.tags.get(TAG_PINS) or "{}")
    res = run_pipeline(name, params=dict(old.params), version=int(version), timeout=timeout, pins=pins,
                       tags={"nbtrack.reproduces": old.id}, workspace=ws, parent="")
    return res.run_id
