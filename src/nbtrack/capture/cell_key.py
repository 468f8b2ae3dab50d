"""Which history a tracked cell's run belongs to (its ``cell_key``).

* ``%%track NAME``: ``notebook::NAME``;
* a cell id sent by the front end (JupyterLab, VS Code): ``notebook::CELL_ID``;
* neither (nbclient, papermill, old front ends): the cell is keyed by notebook,
  position (the kernel's execution count, which is the cell's position in a
  top-to-bottom run) and normalised source: ``notebook::#POS:HASH``. A run joins
  an earlier key of the same notebook when the normalised sources are equal, or
  when it sits at the same position with a similar source (an edited cell);
  otherwise it starts a new history. Two cells sharing a first line are no longer
  one cell.
"""

from __future__ import annotations

import difflib
import hashlib
import re

from sqlalchemy import func, select

from ..store.schema import runs

SIMILAR_AT_SAME_POSITION = 0.6
_KEY = re.compile(r"::#(\d+):([0-9a-f]{10})$")
_sources: dict[str, str] = {}  # key -> normalised source of its latest run seen by this process


def normalise(source: str) -> str:
    """The source without comment lines, blank lines and trailing spaces."""
    lines = (ln.rstrip() for ln in source.splitlines())
    return "\n".join(ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#"))


def digest(norm: str) -> str:
    return hashlib.sha1(norm.encode()).hexdigest()[:10]


def cell_key(ws, notebook: str | None, name: str | None, cell_id: str | None, body: str, position: int | None) -> str:
    nb = notebook or ""
    if name:
        return f"{nb}::{name}"
    if cell_id:
        return f"{nb}::{cell_id}"
    norm = normalise(body)
    h = digest(norm)
    pos = int(position or 0)
    try:
        found = _match(ws, nb, norm, h, pos)
    except Exception:  # a history lookup failing never stops the run: start a new history
        found = None
    key = found or f"{nb}::#{pos}:{h}"
    _sources[key] = norm
    return key


def _match(ws, nb: str, norm: str, h: str, pos: int) -> str | None:
    prefix = f"{nb}::#"
    with ws.meta.read() as conn:
        rows = conn.execute(
            select(runs.c.cell_key, func.max(runs.c.source_oid))
            .where(runs.c.notebook == (nb or None) if nb else runs.c.notebook.is_(None))
            .where(runs.c.cell_key.like(prefix.replace("%", r"\%").replace("_", r"\_") + "%", escape="\\"))
            .group_by(runs.c.cell_key)
        ).all()
    same_hash, same_pos = [], []
    for key, oid in rows:
        m = _KEY.search(key or "")
        if m is None or not key.startswith(prefix):
            continue
        if m.group(2) == h or _sources.get(key) == norm:
            same_hash.append((int(m.group(1)) != pos, key))
        elif int(m.group(1)) == pos:
            same_pos.append((key, oid))
    if same_hash:
        return sorted(same_hash)[0][1]
    best, best_ratio = None, SIMILAR_AT_SAME_POSITION
    for key, oid in same_pos:
        old = _sources.get(key)
        if old is None and oid:
            try:
                old = _sources[key] = normalise(ws.objects.get(oid).decode())
            except Exception:
                continue
        ratio = difflib.SequenceMatcher(None, old or "", norm).ratio()
        if ratio >= best_ratio:
            best, best_ratio = key, ratio
    return best
