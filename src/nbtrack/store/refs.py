"""Which metadata rows refer to which objects: what fsck reports and gc keeps.

Later stages (datasets, models, pipelines) add their own reference queries with
``register``; fsck and gc follow whatever is registered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sqlalchemy import select
from sqlalchemy.engine import Connection

from .schema import (RUN_OBJECT_COLUMNS, artifacts, contracts, dataset_chunks, dataset_versions, datasets,
                     model_versions, models, pipeline_versions, pipelines, runs)

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


@register
def _version_refs(conn: Connection, oid: str | None) -> Iterator[tuple[str, str]]:
    dv = (select(dataset_versions.c.manifest_oid, datasets.c.name, dataset_versions.c.version)
          .join(datasets, datasets.c.id == dataset_versions.c.dataset_id))
    ch = (select(dataset_chunks.c.oid, datasets.c.name, dataset_versions.c.version)
          .join(dataset_versions, dataset_versions.c.id == dataset_chunks.c.dataset_version_id)
          .join(datasets, datasets.c.id == dataset_versions.c.dataset_id))
    mv = (select(model_versions.c.oid, models.c.name, model_versions.c.version)
          .join(models, models.c.id == model_versions.c.model_id))
    pv = (select(pipeline_versions.c.notebook_oid, pipelines.c.name, pipeline_versions.c.version)
          .join(pipelines, pipelines.c.id == pipeline_versions.c.pipeline_id))
    pe = (select(pipeline_versions.c.env_oid, pipelines.c.name, pipeline_versions.c.version)
          .join(pipelines, pipelines.c.id == pipeline_versions.c.pipeline_id)
          .where(pipeline_versions.c.env_oid.is_not(None)))
    for q, what in ((dv, "dataset {}@{} (manifest)"), (ch, "dataset {}@{} (chunk)"), (mv, "model {}@{}"),
                    (pv, "pipeline {}@{} (notebook)"), (pe, "pipeline {}@{} (environment)")):
        col = q.selected_columns[0]
        if oid is not None:
            q = q.where(col == oid)
        for ref, name, version in conn.execute(q):
            yield ref, what.format(name, version)


@register
def _contract_refs(conn: Connection, oid: str | None) -> Iterator[tuple[str, str]]:
    q = select(contracts.c.oid, contracts.c.name, contracts.c.version)
    if oid is not None:
        q = q.where(contracts.c.oid == oid)
    for ref, name, version in conn.execute(q):
        yield ref, f"contract {name}@{version}"
