"""Tracked cells of a notebook: one row per cell history, for version browsers."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import func, select

from ..store.schema import runs as runs_t
from ..workspace import Workspace, get_workspace

_POSITION_KEY = re.compile(r"#\d+:[0-9a-f]{10}")  # see capture.cell_key
COLUMNS = ["cell_key", "cell_id", "label", "notebook", "versions", "first_started", "latest_run",
           "latest_status", "latest_started", "latest_version"]


def cells(notebook: str | Sequence[str] | None = None, workspace: Workspace | None = None):
    """The tracked cells of a notebook, most recently run first.

    Parameters
    ----------
    notebook : str or list of str, optional
        The notebook path as the kernel recorded it; several spellings of the
        same path (relative, absolute, resolved) may be given. All notebooks
        when omitted.

    Returns
    -------
    pandas.DataFrame
        ``cell_key`` (the history key, for ``cell_history``/``runs(cell_key=)``),
        ``cell_id`` (the notebook cell id of the latest run), ``label``,
        ``notebook``, ``versions`` (number of runs), ``first_started``,
        ``latest_run``, ``latest_status``, ``latest_started``, ``latest_version``.
    """
    import pandas as pd

    ws = workspace or get_workspace(create=False)
    names = [notebook] if isinstance(notebook, str) else list(notebook or [])
    agg = select(
        runs_t.c.cell_key, func.count().label("versions"), func.min(runs_t.c.started).label("first"),
        func.max(runs_t.c.started).label("last"),
    ).where(runs_t.c.cell_key.is_not(None), runs_t.c.kind == "cell")
    if names:
        agg = agg.where(runs_t.c.notebook.in_(names))
    sub = agg.group_by(runs_t.c.cell_key).subquery()
    q = (
        select(sub.c.cell_key, runs_t.c.cell_id, runs_t.c.notebook, sub.c.versions, sub.c.first, runs_t.c.id,
               runs_t.c.status, sub.c.last, runs_t.c.cell_version, runs_t.c.name)
        .select_from(sub.join(runs_t, (runs_t.c.cell_key == sub.c.cell_key) & (runs_t.c.started == sub.c.last)))
        .order_by(sub.c.last.desc(), runs_t.c.id)
    )
    with ws.meta.read() as conn:
        rows = conn.execute(q).all()
    seen: set[str] = set()
    out = []
    for r in rows:  # two runs may share the max start time: keep one per cell
        if r.cell_key in seen:
            continue
        seen.add(r.cell_key)
        label = r.cell_key.split("::", 1)[1] if "::" in r.cell_key else r.cell_key
        if _POSITION_KEY.fullmatch(label) and r.name:  # a cell keyed by position and source: its run's name
            label = r.name
        out.append((r.cell_key, r.cell_id, label, r.notebook, r.versions, r.first, r.id, r.status, r.last,
                    r.cell_version))
    df = pd.DataFrame(out, columns=COLUMNS)
    for col in ("first_started", "latest_started"):
        df[col] = pd.to_datetime(df[col], unit="s", utc=True)
    return df
