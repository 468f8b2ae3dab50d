"""Which model versions are being served, where, and their recent traffic.

Every server (every ``--workers`` process) is a run of kind ``serve``: its
lineage inputs are the versions it served, its outputs the ``NAME.predictions``
versions it wrote. ``served()`` reads that back, so the sidebar, the browser and
``nbtrack served`` can show served models without asking the servers.
A run still marked running whose process is gone (on this host) is reported as
``gone``; traffic is counted from the prediction log's versions (rows logged in
the last hour, time of the last write), so it reflects logged (sampled) requests.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from ..context import HOST, pid_alive
from ..store.schema import dataset_versions, datasets, lineage, model_versions, models, runs
from ..workspace import Workspace, get_workspace


def served(name: str | None = None, *, since: float = 86400.0, workspace: Workspace | None = None):
    """Servers of the last ``since`` seconds (running ones first) with what they serve.

    Parameters
    ----------
    name : str, optional
        Only servers of this model.
    since : float
        Also list servers that stopped within this many seconds.

    Returns
    -------
    pandas.DataFrame
        One row per (server, model): ``model, ref, version, status, host, pid,
        started, ended, rows_logged, rows_last_hour, last_logged, run``.
    """
    import pandas as pd

    columns = ["model", "ref", "version", "status", "host", "pid", "started", "ended", "rows_logged",
               "rows_last_hour", "last_logged", "run"]
    records = served_records(name, since=since, workspace=workspace)
    df = pd.DataFrame(records, columns=columns)
    for c in ("started", "ended", "last_logged"):
        df[c] = pd.to_datetime(df[c], unit="s", utc=True)
    return df


def served_records(name: str | None = None, *, since: float = 86400.0,
                   workspace: Workspace | None = None) -> list[dict[str, Any]]:
    """:func:`served` as JSON-safe dicts (what the Jupyter REST route returns)."""
    ws = workspace or get_workspace()
    now = time.time()
    q = (select(runs.c.id, runs.c.status, runs.c.host, runs.c.pid, runs.c.started, runs.c.ended)
         .where(runs.c.kind == "serve", (runs.c.ended.is_(None)) | (runs.c.ended >= now - since))
         .order_by(runs.c.started.desc()))
    out = []
    with ws.meta.read() as conn:
        for run in conn.execute(q).all():
            inputs = conn.execute(
                select(models.c.name, model_versions.c.version, lineage.c.variable)
                .join(model_versions, model_versions.c.id == lineage.c.model_version_id)
                .join(models, models.c.id == model_versions.c.model_id)
                .where(lineage.c.run_id == run.id, lineage.c.direction == "input")
                .order_by(lineage.c.id)).all()
            latest: dict[str, tuple[int, str | None]] = {}
            for model, version, ref in inputs:  # edges are added as versions switch: the last one serves
                latest[model] = (version, ref)
            for model, (version, ref) in latest.items():
                if name is not None and model != name:
                    continue
                out.append({"model": model, "ref": ref, "version": version, "status": _status(run),
                            "host": run.host, "pid": run.pid, "started": run.started, "ended": run.ended,
                            "run": run.id, **_traffic(conn, model, run.id, now)})
    out.sort(key=lambda r: (r["status"] != "running", -(r["started"] or 0)))
    return out


def _status(run: Any) -> str:
    if run.status == "running" and run.host == HOST and run.pid and not pid_alive(run.pid):
        return "gone"
    return run.status


def _traffic(conn: Any, model: str, run_id: str, now: float) -> dict[str, Any]:
    """Rows this server logged in all, in the last hour, and when it last wrote."""
    rows = conn.execute(
        select(dataset_versions.c.version, dataset_versions.c.n_rows, dataset_versions.c.created,
               dataset_versions.c.run_id)
        .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
        .where(datasets.c.name == f"{model}.predictions").order_by(dataset_versions.c.version)).all()
    total = hour = 0
    last = None
    previous = 0
    for _version, n, created, rid in rows:
        added = (n or 0) - previous
        previous = n or 0
        if rid == run_id:
            total += added
            hour += added if created >= now - 3600 else 0
            last = created
    return {"rows_logged": total, "rows_last_hour": hour, "last_logged": last}
