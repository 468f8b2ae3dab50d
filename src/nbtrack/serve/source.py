"""Served models from the registry: load ``NAME@ALIAS``, and follow the alias as it moves.

:func:`load_served` resolves a reference, loads the version through the same
trusted-type rules as :func:`nbtrack.load_model`, and builds its schema (the
signature, plus which columns had missing values in the training dataset
version) and provenance (run, notebook, approval, training data, metrics).

:class:`AliasWatcher` re-reads the aliases every ``poll`` seconds (one small
query for all of them). When one moved, the new version is loaded *first*, in
the watcher's thread, and only then swapped into the table: requests never wait
for a load and never see a half-loaded model.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any
from collections.abc import Callable

from sqlalchemy import select

from ..snapshot.models import ModelVersion, get_model_version, model_id, parse_ref
from ..store.schema import (aliases, dataset_versions, datasets, model_versions, pipeline_versions, pipelines, runs,
                            tags)
from ..workspace import Workspace, get_workspace
from .served import ModelTable, ServedModel
from .validation import Schema

log = logging.getLogger("nbtrack.serve")


def load_served(ref: str, trust: bool | list[str] | None = None, workspace: Workspace | None = None,
                mv: ModelVersion | None = None) -> ServedModel:
    """Load the version ``ref`` names (``churn@production``) ready to serve."""
    ws = workspace or get_workspace()
    mv = mv or get_model_version(ref, ws)
    model = mv.load(trust)
    name, spec = parse_ref(ref)
    with ws.meta.read() as conn:
        info = provenance(conn, mv)
    info["version_id"] = mv.id
    schema = Schema.from_signature(mv.signature, training_nulls(ws, mv))
    return ServedModel(name, mv.version, model, schema, ref=ref, alias=spec if is_alias(spec) else None, info=info)


def is_alias(spec: str | None) -> bool:
    """``production`` is an alias; ``3``, ``v3``, ``latest`` and nothing are not."""
    if not spec:
        return False
    return spec != "latest" and not spec.lstrip("v").isdigit()


def training_nulls(ws: Workspace, mv: ModelVersion) -> dict[str, int] | None:
    """Missing values per column of the training dataset version (None when unknown)."""
    if mv.dataset_version_id is None:
        return None
    try:
        with ws.meta.read() as conn:
            oid = conn.execute(select(dataset_versions.c.manifest_oid)
                               .where(dataset_versions.c.id == mv.dataset_version_id)).scalar()
        if oid is None:
            return None
        stats = json.loads(ws.objects.get(oid))["stats"]
        return {k: int(v.get("nulls", 0)) for k, v in stats.items()}
    except Exception:  # no manifest: do not refuse missing values on a guess
        return None


def provenance(conn: Any, mv: ModelVersion) -> dict[str, Any]:
    """Signature, metrics, training data, run, notebook and approval of a version (JSON-safe)."""
    info: dict[str, Any] = {"signature": mv.signature, "class": mv.class_name, "format": mv.format,
                            "unsafe": mv.unsafe, "metrics": mv.metrics, "created": mv.created,
                            "creator": mv.creator, "description": mv.description, "run": mv.run_id,
                            "training_data": None, "notebook": None, "cell": None, "approval": None}
    if mv.dataset_version_id is not None:
        row = conn.execute(select(datasets.c.name, dataset_versions.c.version)
                           .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
                           .where(dataset_versions.c.id == mv.dataset_version_id)).first()
        info["training_data"] = f"{row[0]}@{row[1]}" if row else None
    if mv.run_id is None:
        return info
    run = conn.execute(select(runs.c.notebook, runs.c.cell_id, runs.c.parent_id).where(runs.c.id == mv.run_id)).first()
    if run is None:
        return info
    info["notebook"], info["cell"] = run.notebook, run.cell_id
    info["approval"] = _approval(conn, run.parent_id, run.notebook)
    return info


def _approval(conn: Any, parent_id: str | None, notebook: str | None) -> dict[str, Any] | None:
    """The approved pipeline version the run came from (its pipeline run's), else one of its notebook."""
    q = (select(pipelines.c.name, pipeline_versions.c.version, pipeline_versions.c.status,
                pipeline_versions.c.approved_by, pipeline_versions.c.created)
         .join(pipelines, pipelines.c.id == pipeline_versions.c.pipeline_id))
    row = None
    if parent_id is not None:
        t = dict(conn.execute(select(tags.c.key, tags.c.value).where(tags.c.run_id == parent_id)).all())
        if "nbtrack.pipeline" in t and str(t.get("nbtrack.pipeline_version", "")).isdigit():
            row = conn.execute(q.where(pipelines.c.name == t["nbtrack.pipeline"],
                                       pipeline_versions.c.version == int(t["nbtrack.pipeline_version"]))).first()
    if row is None and notebook:
        row = conn.execute(q.where(pipeline_versions.c.notebook_path == notebook)
                           .order_by(pipeline_versions.c.created.desc()).limit(1)).first()
    if row is None:
        return None
    return {"pipeline": f"{row.name}@{row.version}", "status": row.status, "approved_by": row.approved_by,
            "approved": row.created}


def held_versions(ws: Workspace, refs: dict[str, tuple[str, str]]) -> dict[str, int | None]:
    """``{key: version id}`` the aliases hold now, in one query (``refs``: key -> (name, alias))."""
    names = {n for n, _ in refs.values()}
    q = (select(aliases.c.alias, aliases.c.version_id, model_versions.c.model_id)
         .join(model_versions, model_versions.c.id == aliases.c.version_id))
    with ws.meta.read() as conn:
        ids = {n: model_id(conn, n) for n in names}
        rows = conn.execute(q.where(aliases.c.model_id.in_([i for i in ids.values() if i is not None]))).all()
    held = {(mid, alias): vid for alias, vid, mid in rows}
    return {key: held.get((ids.get(n), a)) for key, (n, a) in refs.items()}


class AliasWatcher:
    """Polls the aliases of the served references and hot-swaps new versions in."""

    def __init__(self, table: ModelTable, ws: Workspace, trust: Any = None, poll: float = 2.0,
                 on_swap: Callable[[str, ServedModel, ServedModel | None], None] | None = None) -> None:
        self.table, self.ws, self.trust, self.poll, self.on_swap = table, ws, trust, poll, on_swap
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ids: dict[str, int | None] = {}

    def watched(self) -> dict[str, tuple[str, str]]:
        out: dict[str, tuple[str, str]] = {}
        for key, s in self.table.items():
            name, spec = parse_ref(s.ref)
            if spec is not None and is_alias(spec):
                out[key] = (name, spec)
        return out

    def start(self) -> None:
        refs = self.watched()
        if not refs or self.poll <= 0:
            return
        with self.ws.meta.read() as conn:
            for key, (name, alias) in refs.items():
                self._ids[key] = conn.execute(select(model_versions.c.id).join(
                    aliases, aliases.c.version_id == model_versions.c.id).where(
                    aliases.c.model_id == model_id(conn, name), aliases.c.alias == alias)).scalar()
        self._thread = threading.Thread(target=self._run, args=(refs,), name="nbtrack-serve-alias", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self, refs: dict[str, tuple[str, str]]) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.check(refs)
            except Exception as e:  # the store may be briefly locked or away: keep serving, retry
                log.warning("nbtrack serve: cannot re-read aliases (%s); still serving the loaded versions", e)

    def check(self, refs: dict[str, tuple[str, str]] | None = None) -> list[str]:
        """Swap in every alias that moved; returns the keys swapped."""
        refs = refs if refs is not None else self.watched()
        swapped = []
        for key, vid in held_versions(self.ws, refs).items():
            if vid is None or vid == self._ids.get(key):
                continue  # unset alias: keep serving what we have
            old = self.table.get(key)
            if old is None:  # no longer served
                continue
            new = load_served(old.ref, self.trust, self.ws)  # load first ...
            self.table.put(key, new)  # ... then swap
            self._ids[key] = vid
            swapped.append(key)
            log.info("nbtrack serve: %s now serves version %s (was %s)", old.ref, new.version, old.version)
            if self.on_swap is not None:
                self.on_swap(key, new, old)
        return swapped
