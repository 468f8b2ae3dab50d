"""``export_mlflow``: the workspace's runs and registered models into an MLflow tracking store.

Each nbtrack run becomes one MLflow run tagged ``nbtrack.run_id``: params, the full
metric histories (steps and timestamps), tags, status, start and end, the parent
(``mlflow.parentRunId``), artifacts (figures, files, executed notebooks, stdout,
source) and the dataset versions it read or wrote as MLflow dataset inputs with
their digests. Each model name becomes a registered model whose versions are
MLflow sklearn-flavor models with a signature, and whose aliases follow nbtrack's.

Re-exporting finds the MLflow runs by their tag and model versions by theirs:
unchanged runs are skipped (a digest tag), changed ones get only what they miss,
nothing is duplicated.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

from ..errors import NotFound
from ..workspace import Workspace, get_workspace
from . import mlflow_common as mc
from . import mlflow_models
from .workspace_rows import RunRows, read_runs, run_ids

BATCH = 200  # runs read from the workspace at a time


@dataclass
class ExportResult:
    """What an export did. ``runs`` maps nbtrack run ids to MLflow run ids."""

    tracking_uri: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0  # runs imported from this same MLflow store: left as they are there
    model_versions: int = 0
    aliases: int = 0
    runs: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        total = self.created + self.updated + self.unchanged + self.skipped
        return (f"exported {total} runs to {self.tracking_uri} ({self.created} new, {self.updated} updated, "
                f"{self.unchanged} unchanged, {self.skipped} imported from there), "
                f"{self.model_versions} new model versions, {self.aliases} aliases set")


def export_mlflow(
    tracking_uri: str,
    experiment: str | None = None,
    since: Any = None,
    *,
    registry_uri: str | None = None,
    models: bool = True,
    trust: bool | list[str] | None = None,
    progress: mc.Progress | None = None,
    workspace: Workspace | None = None,
) -> ExportResult:
    """Export runs, artifacts, dataset inputs and registered models to MLflow.

    Parameters
    ----------
    tracking_uri : str
        Where MLflow keeps runs: ``sqlite:///mlflow.db``, ``postgresql://...``, ``http://host:5000``...
    experiment : str, optional
        Only the runs of this nbtrack experiment (default: all). Each nbtrack
        experiment goes to the MLflow experiment of the same name (created if missing).
    since : date, datetime, ISO text or epoch seconds, optional
        Only runs started at or after this time (naive times are UTC).
    registry_uri : str, optional
        MLflow's model registry (default: the tracking URI).
    models : bool
        Also export every model's versions and aliases (default True).
    trust : bool or list of str, optional
        Needed to export model versions that only load with it (pickled ones, or
        skops archives with types outside the default trusted list); see
        ``nbtrack.load_model``. Versions that do not load are skipped with a warning.
    progress : callable, optional
        Wraps the iterable of runs (the CLI passes a progress bar).

    Returns
    -------
    ExportResult
        Counts, the run id mapping and warnings. Running it again updates, never duplicates.
    """
    ws = workspace or get_workspace(create=False)
    client = mc.client(tracking_uri, registry_uri)
    todo = run_ids(ws, experiment, mc.since_seconds(since))
    if experiment is not None and not todo and not _has_experiment(ws, experiment):
        raise NotFound(f"no experiment {experiment!r} in this workspace; nbtrack.runs() shows the experiments")
    result = ExportResult(tracking_uri)
    experiment_of = dict(todo)
    exp_ids = {name: _experiment_id(client, name) for name in sorted(set(experiment_of.values()))}
    known = _exported(client, list(exp_ids.values()))
    result.runs.update({rid: found.info.run_id for rid, found in known.items()})
    ids = [i for i, _ in todo]
    at = {rid: n for n, rid in enumerate(ids)}
    batch: dict[str, RunRows] = {}
    with tempfile.TemporaryDirectory(prefix="nbtrack-export-") as tmp:
        for rid in mc.each(ids, progress):
            if rid not in batch:  # read the next runs in bulk (a few queries per BATCH runs)
                batch = {r.id: r for r in read_runs(ws, ids[at[rid]:at[rid] + BATCH], experiment_of)}
            run = batch.get(rid)
            if run is not None:  # None: deleted since the list was read
                _export_run(client, ws, run, exp_ids[run.experiment], known.get(run.id), result, tmp)
        if models:
            mlflow_models.export_models(client, ws, result, exp_ids, trust, tmp)
    return result


def _has_experiment(ws: Workspace, name: str) -> bool:
    from sqlalchemy import select

    from ..store.schema import experiments

    with ws.meta.read() as conn:
        return conn.execute(select(experiments.c.id).where(experiments.c.name == name)).first() is not None


def _experiment_id(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None and found.lifecycle_stage == "active":
        return found.experiment_id
    if found is not None:  # deleted in MLflow: bring it back rather than fail on the name
        client.restore_experiment(found.experiment_id)
        return found.experiment_id
    return client.create_experiment(name, tags={mc.MODEL_TAG: "exported"})


def _exported(client: Any, exp_ids: list[str]) -> dict[str, Any]:
    """MLflow runs exported before, by nbtrack run id."""
    if not exp_ids:
        return {}
    found = {}
    for run in mc.pages(client.search_runs, experiment_ids=exp_ids, max_results=mc.PAGE,
                        filter_string=f"tags.`{mc.RUN_TAG}` LIKE '%'"):
        rid = run.data.tags.get(mc.RUN_TAG)
        if rid and rid not in found:
            found[rid] = run
    return found


# tags of an imported run that describe the store it came from, not this run in the target store
_NOT_COPIED = ("mlflow.parentRunId", mc.SOURCE_DIGEST_TAG, mc.DIGEST_TAG)


def _tags(run: RunRows, result: ExportResult) -> dict[str, str]:
    r = run.row
    out = {mc.key(k): _text(v, 8000) for k, v in run.tags.items() if k not in _NOT_COPIED}
    defaults = {"mlflow.source.type": "NOTEBOOK" if r["notebook"] else "LOCAL",
                "mlflow.source.name": r["notebook"] or "nbtrack", "mlflow.user": r["user"],
                "mlflow.source.git.commit": r["git_commit"]}
    for k, v in defaults.items():
        if v is not None:
            out.setdefault(k, _text(v, 8000))
    ours = {mc.RUN_TAG: run.id, "nbtrack.kind": r["kind"], "nbtrack.status": r["status"],
            "nbtrack.cell_key": r["cell_key"], "nbtrack.cell_version": r["cell_version"],
            "nbtrack.parent_id": r["parent_id"], "nbtrack.host": r["host"], "nbtrack.error": r["error_message"],
            "mlflow.parentRunId": result.runs.get(r["parent_id"]) if r["parent_id"] else None}
    out.update({k: _text(v, 8000) for k, v in ours.items() if v is not None})
    return out


def _text(value: Any, limit: int) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _export_run(client: Any, ws: Workspace, run: RunRows, exp_id: str, existing: Any, result: ExportResult,
                tmp: str) -> None:
    from mlflow.entities import Metric, Param, RunTag

    origin = run.tags.get(mc.SOURCE_TAG)
    if origin and existing is None and run.tags.get(mc.SOURCE_URI_TAG) == result.tracking_uri:
        result.runs[run.id] = origin  # imported from this store: it is there already
        result.skipped += 1
        return
    digest = run.digest()
    status = mc.TO_MLFLOW.get(run.row["status"], "FINISHED")
    if existing is not None and existing.data.tags.get(mc.DIGEST_TAG) == digest and existing.info.status == status:
        result.unchanged += 1
        return
    tags = _tags(run, result)
    params = {mc.key(k): _text(v, 6000) for k, v in run.params.items()}
    points = [(mc.key(k), v, s, t) for k, v, s, t in run.metrics]
    # The digest says "all of this run is there". A run that ends is set terminated last, and a
    # stored status that differs makes the next export update the run, so its digest can go in
    # with the run (one MLflow commit fewer per run); a running run gets it after everything else.
    last_tag: Any = RunTag(mc.DIGEST_TAG, digest)
    if existing is None:
        if status != "RUNNING":
            tags, last_tag = {**tags, mc.DIGEST_TAG: digest}, None
        created = client.create_run(exp_id, start_time=mc.ms(run.row["started"]), tags=tags,
                                    run_name=run.row["name"] or None)
        mlflow_id, have_params, have_artifacts = created.info.run_id, {}, set()
        result.created += 1
    else:
        mlflow_id = existing.info.run_id
        have_params = existing.data.params
        have_artifacts = _artifact_files(client, mlflow_id)
        points = _missing_points(client, mlflow_id, points, existing.data.metrics)
        result.updated += 1
    result.runs[run.id] = mlflow_id
    for k, v in params.items():
        if k in have_params and have_params[k] != v:
            result.warnings.append(f"run {run.id}: param {k!r} is {v!r} here and {have_params[k]!r} in MLflow, "
                                   "where params cannot change; left as it is there")
    _log_datasets(client, ws, mlflow_id, run)
    _log_artifacts(client, ws, mlflow_id, run, have_artifacts, tmp)
    new_params = [Param(k, v) for k, v in params.items() if k not in have_params]
    metrics = [Metric(k, float("nan") if v is None else v, round(t * 1000), s) for k, v, s, t in points]
    more_tags = [RunTag(k, v) for k, v in tags.items()] if existing is not None else []
    for batch in _batches(new_params, more_tags, metrics, last_tag):
        client.log_batch(mlflow_id, **batch)
    if status == "RUNNING":
        client.update_run(mlflow_id, status=status)
    else:
        client.set_terminated(mlflow_id, status, mc.ms(run.row["ended"] or run.row["started"]))


def _batches(params: list, tags: list, metrics: list, last_tag: Any) -> list[dict[str, list]]:
    """``log_batch`` calls within MLflow's limits (100 params, 100 tags, 1000 items); ``last_tag``
    (if any) goes in the last one."""
    out: list[dict[str, list]] = []
    while params or tags or metrics:
        p, t = params[:100], tags[:100]
        params, tags = params[100:], tags[100:]
        m = metrics[: 1000 - len(p) - len(t)]
        metrics = metrics[len(m):]
        out.append({"params": p, "tags": t, "metrics": m})
    if last_tag is None:
        return out
    if out and len(out[-1]["tags"]) < 100 and sum(map(len, out[-1].values())) < 1000:
        out[-1]["tags"] = out[-1]["tags"] + [last_tag]
    else:
        out.append({"params": [], "tags": [last_tag], "metrics": []})
    return out


def _missing_points(client: Any, mlflow_id: str, points: list, last: dict) -> list:
    """The metric points MLflow does not have yet (compared per key on step, time and value)."""
    keys = {k for k, *_ in points}
    have: set = set()
    for k in keys & set(last):
        have.update((k, m.step, m.timestamp, _same(m.value)) for m in client.get_metric_history(mlflow_id, k))
    return [p for p in points if (p[0], p[2], mc.ms(p[3]), _same(p[1])) not in have]


def _same(value: float | None) -> Any:
    return "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _artifact_files(client: Any, mlflow_id: str, path: str | None = None) -> set[str]:
    out: set[str] = set()
    for info in client.list_artifacts(mlflow_id, path):
        if info.is_dir:
            out |= _artifact_files(client, mlflow_id, info.path)
        else:
            out.add(info.path)
    return out


def _log_artifacts(client: Any, ws: Workspace, mlflow_id: str, run: RunRows, have: set[str], tmp: str) -> None:
    """Artifacts, stdout and source as files, uploaded in one call (only those MLflow lacks)."""
    files = {mc.artifact_path(a["name"]): a["oid"] for a in run.artifacts}
    if run.row["stdout_oid"]:
        files.setdefault("stdout.txt", run.row["stdout_oid"])
    if run.row["source_oid"]:
        files.setdefault("source.py", run.row["source_oid"])
    files = {p: oid for p, oid in files.items() if p not in have}
    if not files:
        return
    folder = os.path.join(tmp, mlflow_id)
    for path, oid in files.items():
        target = os.path.join(folder, *path.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(ws.objects.get(oid))
    client.log_artifacts(mlflow_id, folder)
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


def _schema(ws: Workspace, manifest_oid: str) -> str | None:
    """The columns of a dataset version as MLflow's ``mlflow_colspec`` JSON."""
    memo: dict = ws.memo.setdefault("mlflow_schemas", {})
    if manifest_oid not in memo:
        try:
            cols = json.loads(ws.objects.get(manifest_oid)).get("columns") or []
        except Exception:  # an unreadable manifest: the input is still logged, without columns
            cols = []
        memo[manifest_oid] = json.dumps({"mlflow_colspec": [
            {"type": mc.colspec_type(c.get("dtype")), "name": str(c.get("name"))} for c in cols]}) if cols else None
    return memo[manifest_oid]


def _log_datasets(client: Any, ws: Workspace, mlflow_id: str, run: RunRows) -> None:
    """Dataset versions the run read (context ``input``) or wrote (``output``), with their digests."""
    if not run.datasets:
        return
    from mlflow.entities import Dataset, DatasetInput, InputTag

    items = []
    for d in run.datasets:
        profile = {"num_rows": d["n_rows"], "num_cols": d["n_cols"], "nbtrack_fingerprint": d["fingerprint"],
                   "variable": d["variable"]}
        ds = Dataset(name=d["name"], digest=d["fingerprint"][:32], source_type="nbtrack",
                     source=json.dumps({"uri": f"nbtrack://{d['name']}@{d['version']}"}),
                     schema=_schema(ws, d["manifest_oid"]), profile=json.dumps(profile))
        items.append(DatasetInput(ds, [InputTag("mlflow.data.context", d["direction"])]))
    client.log_inputs(mlflow_id, datasets=items)
