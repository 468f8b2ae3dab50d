"""Run ids: a full id from a unique prefix, like git."""

from __future__ import annotations

from sqlalchemy import select

from ..errors import InvalidInput, NotFound
from ..store.schema import runs as runs_t


def resolve_run_id(conn, run_id: str) -> str:
    """A full id from a unique prefix (at least 4 characters), like git."""
    if not isinstance(run_id, str) or not run_id.strip():
        raise InvalidInput("a run id is required")
    run_id = run_id.strip()
    exact = conn.execute(select(runs_t.c.id).where(runs_t.c.id == run_id)).scalar()
    if exact:
        return exact
    if len(run_id) < 4:
        raise NotFound(f"no run {run_id!r} (give at least 4 characters of its id)")
    found = conn.execute(
        select(runs_t.c.id).where(runs_t.c.id >= run_id, runs_t.c.id < run_id + "\uffff").limit(2)
    ).scalars().all()
    if not found:
        raise NotFound(f"no run {run_id!r}; `nbtrack runs` lists them")
    if len(found) > 1:
        raise InvalidInput(f"run id {run_id!r} is ambiguous; give more characters")
    return found[0]
