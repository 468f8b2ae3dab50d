"""A cell's history: its versions, their metrics, and the diff between two of them.

``history()`` is what ``%track_history`` shows: HTML in notebooks and nbconvert,
aligned text everywhere else. The browser's "Cell history" tab uses the same
functions.
"""

from __future__ import annotations

from typing import Any

import nbtrack

from ..errors import InvalidInput, NotFound
from .diff import diff_html, source_html, unified_text
from .html import Rich, esc, fmt_duration, fmt_time, fmt_value, status_html, table, text_table
from .pages import this_notebook

MAX_VERSIONS = 200  # versions the browser offers to diff
QUICK_VERSIONS = 50  # versions %track_history lists


def resolve_cell(cell: str | None = None, notebook: str | None = None) -> str:
    """The ``cell_key`` (``"notebook::label"``) of a cell named by the user.

    Parameters
    ----------
    cell : str, optional
        A full cell key, the cell's ``%%track NAME``, or a run name. By default
        the most recently tracked cell of the notebook.
    notebook : str, optional
        The notebook (default: the one the kernel runs).

    Raises
    ------
    nbtrack.errors.NotFound
        When no tracked cell matches.
    """
    nb = notebook if notebook is not None else this_notebook()
    if cell and "::" in cell:
        return cell
    if not cell:
        last = nbtrack.runs(kind="cell", notebook=nb or None, limit=1)
        if last.empty:
            raise NotFound(f"no tracked cells {'in ' + nb if nb else 'yet'}; run a cell with %%track first")
        key = nbtrack.get_run(last["id"].iloc[0]).cell_key
        if key is None:  # a cell run always has one
            raise NotFound("the latest tracked cell run has no cell key")
        return key
    if nbtrack.count_runs(cell_key=f"{nb or ''}::{cell}"):
        return f"{nb or ''}::{cell}"
    wheres: tuple[dict[str, Any] | None, ...] = ({"notebook": nb} if nb else None, {})
    for where in wheres:
        if where is None:
            continue
        found = nbtrack.runs(name=cell, kind="cell", limit=1, **where)
        if not found.empty:
            key = nbtrack.get_run(found["id"].iloc[0]).cell_key
            if key:
                return key
    raise NotFound(f"no tracked cell named {cell!r}{' in ' + nb if nb else ''}; "
                   "name cells with `%%track NAME` or pass a run name")


def versions(cell_key: str, limit: int = MAX_VERSIONS):
    """The newest ``limit`` versions of a cell, oldest first (a DataFrame like ``nbtrack.runs``)."""
    frame = nbtrack.runs(cell_key=cell_key, order_by="-cell_version", limit=limit)
    return frame.iloc[::-1].reset_index(drop=True)


def source(run_id: str) -> str:
    """The source code a run executed (empty when not recorded)."""
    return nbtrack.get_run(run_id).source or ""


def version_label(record: dict) -> str:
    """``v3 · 2026-11-24 10:00:00 · a1b2c3d4``."""
    version, started = fmt_value(record.get("cell_version")), fmt_time(record.get("started"))
    return f"v{version} \u00b7 {started} \u00b7 {record['id'][:8]}"


def metric_columns(frame) -> list[str]:
    return [c for c in frame.columns if c.startswith("metrics.") and frame[c].notna().any()]


def versions_rows(frame) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """Headers plus the rows as HTML cells and as text cells (one row per version)."""
    mcols = metric_columns(frame)
    headers = ["version", "run", "started (UTC)", "status", "duration"] + [c.split(".", 1)[1] for c in mcols]
    html_rows, text_rows = [], []
    for r in frame.to_dict("records"):
        text = [f"v{fmt_value(r['cell_version'])}", r["id"][:8], fmt_time(r["started"]), r["status"] or "",
                fmt_duration(r["duration"])] + [fmt_value(r[c]) for c in mcols]
        text_rows.append(text)
        html_rows.append([esc(t) for t in text[:3]] + [status_html(r["status"])] + [esc(t) for t in text[4:]])
    return headers, html_rows, text_rows


def history(cell: str | None = None, notebook: str | None = None, a: int | None = None, b: int | None = None):
    """Versions of one tracked cell with their metrics and the diff between two versions.

    Parameters
    ----------
    cell : str, optional
        Cell name, run name or cell key (see :func:`resolve_cell`); default: the
        last tracked cell.
    notebook : str, optional
        The notebook (default: the one the kernel runs).
    a, b : int, optional
        The two versions to diff (default: the last two).

    Returns
    -------
    nbtrack.ui.html.Rich
        Renders as HTML (``_repr_html_``) and as text (``repr``); ``.data`` is
        the versions DataFrame.
    """
    key = resolve_cell(cell, notebook)
    frame = versions(key, QUICK_VERSIONS if a is None and b is None else MAX_VERSIONS)
    if frame.empty:
        raise NotFound(f"cell {key!r} has no recorded versions")
    records = frame.to_dict("records")
    by_version = {int(r["cell_version"]): r for r in records if r["cell_version"] == r["cell_version"]}
    for v in (a, b):
        if v is not None and v not in by_version:
            raise InvalidInput(f"cell {key!r} has no version {v} among its newest {len(records)}; "
                               f"versions: {', '.join(map(str, sorted(by_version)[-10:]))}")
    new = by_version[b] if b is not None else records[-1]
    older = [r for r in records if r["cell_version"] < new["cell_version"]]
    old = by_version[a] if a is not None else (older[-1] if older else None)
    total = nbtrack.count_runs(cell_key=key)
    shown = f", newest {len(records)} listed" if total > len(records) else ""
    title = f"Cell history \u00b7 {key} \u00b7 {total} version{'s' * (total != 1)}{shown}"
    headers, html_rows, text_rows = versions_rows(frame)
    new_src = source(new["id"])
    if old is None:
        body_html, body_text = source_html(new_src), new_src
    else:
        old_src = source(old["id"])
        labels = (version_label(old), version_label(new))
        body_html, body_text = diff_html(old_src, new_src, *labels), unified_text(old_src, new_src, *labels)
    html_text = (f'<div class="nbtrack-history"><b>{esc(title)}</b>{table(headers, html_rows)}'
                 f'<div style="margin-top:6px">{body_html}</div></div>')
    return Rich(html_text, f"{title}\n{text_table(headers, text_rows)}\n\n{body_text}", frame)
