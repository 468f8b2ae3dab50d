"""``import_mlflow``: an MLflow tracking store's runs and registered models into the workspace.

Each MLflow run becomes an nbtrack run tagged ``mlflow.run_id``: params (numbers
stay numbers), the full metric histories, tags, status, start and end, the
parent, and every artifact file. Registered models come in as model versions
with their aliases (see :mod:`.mlflow_models` for the trust rules).

Importing again updates what changed in MLflow and never duplicates: runs are
found by their ``mlflow.run_id`` tag, unchanged ones skipped (``mlflow.digest``).
Runs that nbtrack exported (tag ``nbtrack.run_id``) and this workspace still
holds are not imported back.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import tempfile
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select

from ..errors import NotFound
from ..store import pg_summary, runs as store_runs
from ..store.schema import latest_metrics, metrics, runs as runs_t, tags as tags_t
from ..workspace import Workspace, get_workspace
from . import mlflow_common as mc
from . import mlflow_models
from .workspace_rows import param_value

SKIP_TAGS = ("mlflow.log-model.history",)  # bulky JSON MLflow keeps for its own UI


@dataclass
class ImportResult:
    """What an import did. ``runs`` maps MLflow run ids to nbtrack run ids."""

    tracking_uri: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0  # runs nbtrack exported that this workspace holds already
    model_versions: int = 0
    aliases: int = 0
    runs: dict[str, str] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)  # model versions refused by the trust rules
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        total = self.created + self.updated + self.unchanged + self.skipped
        return (f"imported {total} runs from {self.tracking_uri} ({self.created} new, {self.updated} "
                f"updated, {self.unchanged} unchanged, {self.skipped} already here), {self.model_versions} new "
                f"model versions, {self.aliases} aliases set, {len(self.refused)} model versions refused")


def import_mlflow(
    tracking_uri: str,
    experiment: str | None = None,
    *,
    registry_uri: str | None = None,
    models: bool = True,
    trust: bool | list[str] | None = None,
    progress: mc.Progress | None = None,
    workspace: Workspace | None = None,
) -> ImportResult:
    """Import runs, metric histories, artifacts and registered models from MLflow.

    Parameters
    ----------
    tracking_uri : str
        The MLflow tracking store: ``sqlite:///mlflow.db``, ``postgresql://...``, ``http://host:5000``...
    experiment : str, optional
        Only the runs of this MLflow experiment (default: every active one). Runs
        keep their experiment's name.
    registry_uri : str, optional
        MLflow's model registry (default: the tracking URI).
    models : bool
        Also import registered models, their versions and aliases (default True).
    trust : bool or list of str, optional
        MLflow models saved with skops load when every type in them is trusted
        (as ``nbtrack.load_model``; a list adds type names). Pickled (pickle or
        cloudpickle) models can run code when loaded: they are imported only with
        ``trust=True`` and otherwise listed in ``ImportResult.refused``.
    progress : callable, optional
        Wraps the iterable of runs (the CLI passes a progress bar).

    Returns
    -------
    ImportResult
        Counts, the run id mapping, refusals and warnings.
    """
    ws = workspace or get_workspace(create=True)
    client = mc.client(tracking_uri, registry_uri)
    if experiment is not None:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            raise NotFound(f"MLflow at {tracking_uri} has no experiment {experiment!r}")
        exps = [found]
    else:
        exps = list(mc.pages(client.search_experiments, max_results=1000))
    result = ImportResult(tracking_uri)
    names = {e.experiment_id: e.name for e in exps}
    found_runs = list(mc.pages(client.search_runs, experiment_ids=list(names), max_results=mc.PAGE,
                               order_by=["attributes.start_time ASC"])) if names else []
    known, local = _imported(ws)
    with tempfile.TemporaryDirectory(prefix="nbtrack-import-") as tmp:
        for run in mc.each(found_runs, progress):
            _import_run(client, ws, run, names[run.info.experiment_id], known, local, result, tmp)
        _link_parents(ws, found_runs, result)
        if models:
            mlflow_models.import_models(client, ws, result, trust, tmp)
    return result


def _imported(ws: Workspace) -> tuple[dict[str, tuple[str, str | None]], set[str]]:
    """(MLflow run id -> (nbtrack run id, digest imported), the ids of this workspace's runs)."""
    with ws.meta.read() as conn:
        rows = conn.execute(select(tags_t.c.run_id, tags_t.c.key, tags_t.c.value)
                            .where(tags_t.c.key.in_([mc.SOURCE_TAG, mc.SOURCE_DIGEST_TAG]))).all()
        local = set(conn.execute(select(runs_t.c.id)).scalars())
    by_run: dict[str, dict[str, str]] = {}
    for rid, k, v in rows:
        by_run.setdefault(rid, {})[k] = v
    return {t[mc.SOURCE_TAG]: (rid, t.get(mc.SOURCE_DIGEST_TAG)) for rid, t in by_run.items()
            if mc.SOURCE_TAG in t}, local


def _digest(run: Any) -> str:
    d = run.data
    info = run.info
    text = json.dumps([info.status, info.end_time, info.run_name, sorted(d.params.items()),
                       sorted(d.tags.items()), sorted(d.metrics.items())], default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _import_run(client: Any, ws: Workspace, run: Any, experiment: str, known: dict, local: set[str],
                result: ImportResult, tmp: str) -> None:
    info, data = run.info, run.data
    origin = data.tags.get(mc.RUN_TAG)
    if origin and origin in local and info.run_id not in known:  # exported from here: it is here already
        result.runs[info.run_id] = origin
        result.skipped += 1
        return
    digest = _digest(run)
    rid, old_digest = known.get(info.run_id, (None, None))
    if rid is not None and old_digest == digest:
        result.runs[info.run_id] = rid
        result.unchanged += 1
        return
    points = [(m.key, m.value, m.step, m.timestamp / 1000.0)
              for k in data.metrics for m in client.get_metric_history(info.run_id, k)]
    tags = {k: v for k, v in data.tags.items() if k not in SKIP_TAGS}
    tags.update({mc.SOURCE_TAG: info.run_id, "mlflow.experiment_id": info.experiment_id,
                 mc.SOURCE_URI_TAG: result.tracking_uri, mc.SOURCE_DIGEST_TAG: digest})
    artifacts = _artifacts(client, ws, info.run_id, tmp)
    started = mc.seconds(info.start_time) or 0.0
    ended = mc.seconds(info.end_time)
    values = {"name": info.run_name, "status": mc.FROM_MLFLOW.get(info.status, "finished"), "ended": ended,
              "duration": None if ended is None else max(ended - started, 0.0)}
    with ws.meta.write() as conn:
        if rid is None:
            rid = uuid.uuid4().hex[:16]
            row = {"id": rid, "experiment_id": store_runs.experiment_id(conn, experiment, started),
                   "kind": data.tags.get("nbtrack.kind") or "mlflow", "started": started,
                   "user": info.user_id or data.tags.get("mlflow.user"),
                   "git_commit": data.tags.get("mlflow.source.git.commit"), **values}
            store_runs.insert_run(conn, row)
            result.created += 1
        else:
            store_runs.update_run(conn, rid, **values)
            conn.execute(delete(metrics).where(metrics.c.run_id == rid))  # histories rewritten whole
            conn.execute(delete(latest_metrics).where(latest_metrics.c.run_id == rid))
            result.updated += 1
        store_runs.write_params(conn, rid, {k: param_value(v) for k, v in data.params.items()})
        store_runs.write_tags(conn, rid, tags)
        store_runs.write_metrics(conn, rid, points)
        if not points:  # its latest metrics were deleted above and none written: the run's JSON says so
            pg_summary.refresh(conn, [rid], params=False)
        store_runs.write_artifacts(conn, rid, artifacts)
    result.runs[info.run_id] = rid


def _artifacts(client: Any, ws: Workspace, mlflow_id: str, tmp: str) -> list[dict[str, Any]]:
    """Every artifact file of the run, stored as objects (one download of the run's folder)."""
    if not client.list_artifacts(mlflow_id):
        return []
    folder = client.download_artifacts(mlflow_id, "", os.path.join(tmp, mlflow_id))
    out = []
    for root, _dirs, files in os.walk(folder):
        for fname in sorted(files):
            path = os.path.join(root, fname)
            name = os.path.relpath(path, folder).replace(os.sep, "/")[:255]
            with open(path, "rb") as f:
                content = f.read()
            media = mimetypes.guess_type(fname)[0] or "application/octet-stream"
            kind = "figure" if media.startswith("image/") else "file"
            out.append({"name": name, "oid": ws.objects.put(content), "kind": kind, "media_type": media,
                        "size": len(content)})
    import shutil

    shutil.rmtree(os.path.join(tmp, mlflow_id), ignore_errors=True)
    return out


def _link_parents(ws: Workspace, found: list, result: ImportResult) -> None:
    """Parents after all runs exist: ``mlflow.parentRunId`` -> the parent's nbtrack id."""
    pairs = []
    for run in found:
        parent = run.data.tags.get("mlflow.parentRunId")
        child = result.runs.get(run.info.run_id)
        if run.data.tags.get(mc.RUN_TAG) == child:  # a run of this workspace, not imported: left alone
            continue
        if parent and child and parent in result.runs:
            pairs.append((child, result.runs[parent]))
    if pairs:
        with ws.meta.write() as conn:
            for child, parent in pairs:
                store_runs.update_run(conn, child, parent_id=parent)
