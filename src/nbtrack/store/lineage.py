"""Writes of lineage edges: a run used or produced a dataset version (SQL only)."""

from __future__ import annotations

from sqlalchemy import and_, insert, select
from sqlalchemy.engine import Connection

from ..errors import InvalidInput
from .schema import lineage as lineage_t


def link(conn: Connection, run_id: str, direction: str, dataset_version_id: int,
         variable: str | None = None) -> None:
    """Record that ``run_id`` used (``input``) or produced (``output``) a dataset version (idempotent)."""
    if direction not in ("input", "output"):
        raise InvalidInput(f"direction must be 'input' or 'output', got {direction!r}")
    cond = and_(lineage_t.c.run_id == run_id, lineage_t.c.direction == direction,
                lineage_t.c.dataset_version_id == dataset_version_id,
                lineage_t.c.variable.is_(None) if variable is None else lineage_t.c.variable == variable)
    if conn.execute(select(lineage_t.c.id).where(cond)).first() is None:
        conn.execute(insert(lineage_t).values(run_id=run_id, direction=direction,
                                              dataset_version_id=dataset_version_id, variable=variable))
