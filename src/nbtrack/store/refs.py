"""Which metadata rows refer to which objects: what fsck reports and gc keeps.

Later stages (datasets, models, pipelines) add their own reference queries with
``register``; fsck and gc follow whatever is registered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sqlalchemy import select
from sqlalchemy.engine import Connection

from .schema import RUN_OBJECT_COLUMNS, artifacts, runs

# Each query yields (oid, "what refers to it") pairs; ``oid`` None means "all".
RefQuery = Callable[[Connection, "str | None"], Iterator[tuple[str, str]]]
_queries: list[RefQuery] = []


def register(query: RefQuery) -> RefQuery:
    _queries.append(query)
    return query


@register
def _run_refs(conn: Connection, oid: str | None) -> Iterator[tuple[str, str]]:
    for col in RUN_OBJECT_COLUMNS:
        c = runs.c[col]
        q = select(runs.c.id, c).where(c.is_not(None))
        if oid is not None:
            q = q.where(c == oid)
        for run_id, ref in conn.execute(q):
            yield ref, f"run {run_id} ({col.removesuffix('_oid')})"


@register
def _artifact_refs(conn: Connection, oid: str | None) -> Iterator[tuple[str, str]]:
    q = select(artifacts.c.run_id, artifacts.c.name, artifacts.c.oid)
    if oid is not None:
        q = q.where(artifacts.c.oid == oid)
    for run_id, name, ref in conn.execute(q):
        yield ref, f"run {run_id} (artifact {name!r})"


def all_references(conn: Connection) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for query in _queries:
        for ref, what in query(conn, None):
            out.setdefault(ref, []).append(what)
    return out


def referrers(conn: Connection, oid: str) -> list[str]:
    return [what for query in _queries for _, what in query(conn, oid)]
