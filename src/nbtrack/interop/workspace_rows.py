"""The workspace side of an export: runs with everything they carry, read in bulk (a few queries per batch)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from ..store.runs import decode_param, encode_param
from ..store.schema import (artifacts, dataset_versions, datasets, experiments, lineage, metrics, params,
                            runs as runs_t, tags)
from ..workspace import Workspace


@dataclass
class RunRows:
    """One run as stored: its row, params (text), tags, full metric history, artifacts and datasets."""

    row: dict[str, Any]
    experiment: str
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[tuple[str, float | None, int, float]] = field(default_factory=list)  # key, value, step, ts
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    datasets: list[dict[str, Any]] = field(default_factory=list)  # name, version, fingerprint, direction, ...

    @property
    def id(self) -> str:
        return self.row["id"]

    def digest(self) -> str:
        """A hash of everything exported: equal digests mean nothing changed since the last export."""
        h = hashlib.sha256()
        r = self.row
        h.update(json.dumps([r["status"], r["ended"], r["name"], r["parent_id"], r["stdout_oid"], r["source_oid"],
                             sorted(self.params.items()), sorted(self.tags.items()), len(self.metrics),
                             max((m[3] for m in self.metrics), default=None),
                             sorted((a["name"], a["oid"]) for a in self.artifacts),
                             sorted((d["name"], d["version"], d["direction"]) for d in self.datasets)],
                            default=str).encode())
        return h.hexdigest()[:32]


def run_ids(ws: Workspace, experiment: str | None, since: float | None) -> list[tuple[str, str]]:
    """``(run id, experiment name)`` of the runs to export, oldest first (parents before children)."""
    q = (select(runs_t.c.id, experiments.c.name)
         .join(experiments, experiments.c.id == runs_t.c.experiment_id)
         .order_by(runs_t.c.started, runs_t.c.id))
    if experiment is not None:
        q = q.where(experiments.c.name == experiment)
    if since is not None:
        q = q.where(runs_t.c.started >= since)
    with ws.meta.read() as conn:
        return [(i, e) for i, e in conn.execute(q)]


def read_runs(ws: Workspace, ids: list[str], experiment_of: dict[str, str]) -> list[RunRows]:
    """Every part of the runs ``ids`` (at most a few hundred at a time), in the order given."""
    with ws.meta.read() as conn:
        out = {r["id"]: RunRows(dict(r), experiment_of[r["id"]])
               for r in conn.execute(select(runs_t).where(runs_t.c.id.in_(ids))).mappings()}
        for rid, k, v, t in conn.execute(select(params.c.run_id, params.c.key, params.c.value, params.c.vtype)
                                         .where(params.c.run_id.in_(ids))):
            out[rid].params[k] = param_text(v, t)
        for rid, k, v in conn.execute(select(tags.c.run_id, tags.c.key, tags.c.value).where(tags.c.run_id.in_(ids))):
            out[rid].tags[k] = v
        for rid, k, v, s, t in conn.execute(
                select(metrics.c.run_id, metrics.c.key, metrics.c.value, metrics.c.step, metrics.c.ts)
                .where(metrics.c.run_id.in_(ids)).order_by(metrics.c.run_id, metrics.c.id)):
            out[rid].metrics.append((k, v, s, t))
        for a in conn.execute(select(artifacts).where(artifacts.c.run_id.in_(ids))).mappings():
            out[a["run_id"]].artifacts.append(dict(a))
        q = (select(lineage.c.run_id, lineage.c.direction, lineage.c.variable, datasets.c.name,
                    dataset_versions.c.version, dataset_versions.c.fingerprint, dataset_versions.c.n_rows,
                    dataset_versions.c.n_cols, dataset_versions.c.manifest_oid)
             .join(dataset_versions, dataset_versions.c.id == lineage.c.dataset_version_id)
             .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
             .where(lineage.c.run_id.in_(ids)))
        for d in conn.execute(q).mappings():
            out[d["run_id"]].datasets.append(dict(d))
    return [out[i] for i in ids if i in out]


def param_text(text: str | None, vtype: str) -> str:
    """A param as MLflow shows it: text, ``None`` for a missing value."""
    if vtype == "none" or text is None:
        return "None"
    if vtype == "json":
        return text
    return str(decode_param(text, vtype))


def param_value(text: str) -> Any:
    """An imported MLflow param (always text) as the number or bool it spells, else the text."""
    t = text.strip()
    if t in ("True", "False"):
        return t == "True"
    if t == "None":
        return None
    try:
        return int(t) if t.lstrip("+-").isdigit() else float(t) if _numeric(t) else text
    except (ValueError, OverflowError):
        return text


def _numeric(t: str) -> bool:
    try:
        float(t)
    except ValueError:
        return False
    return encode_param(float(t))[0] is not None and any(ch.isdigit() for ch in t)
