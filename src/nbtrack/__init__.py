"""nbtrack: make the notebook the front door of the ML lifecycle.

``%load_ext nbtrack`` then ``%%track`` on a cell; or, from any script::

    import nbtrack
    with nbtrack.track("train") as run:
        nbtrack.log_params({"C": 0.5})
        nbtrack.log_metric("acc", 0.93)
    nbtrack.runs(filter="metrics.acc > 0.9")

Heavy modules (pandas, SQLAlchemy) are imported only when first used, so
``%load_ext nbtrack`` stays fast.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"  # the one place: pyproject.toml reads it ([tool.hatch.version])

# public name -> module that defines it
_API = {
    "track": "nbtrack.capture.run",
    "log_param": "nbtrack.capture.run",
    "log_params": "nbtrack.capture.run",
    "log_metric": "nbtrack.capture.run",
    "log_metrics": "nbtrack.capture.run",
    "log_artifact": "nbtrack.capture.run",
    "set_tag": "nbtrack.capture.run",
    "set_experiment": "nbtrack.capture.run",
    "active_run": "nbtrack.context",
    "end_run": "nbtrack.capture.run",
    "flush": "nbtrack.capture.background",
    "runs": "nbtrack.query.runs",
    "count_runs": "nbtrack.query.runs",
    "get_run": "nbtrack.query.runs",
    "cell_history": "nbtrack.query.runs",
    "cells": "nbtrack.query.cells",
    "Run": "nbtrack.query.runs",
    "compare_runs": "nbtrack.query.compare",
    "get_model": "nbtrack.query.models",
    "run_pipeline": "nbtrack.pipeline.run",
    "sweep": "nbtrack.pipeline.sweep",
    "plot_sweep": "nbtrack.pipeline.sweep",
    "OptunaSearch": "nbtrack.pipeline.tuning",
    "reproduce": "nbtrack.pipeline.reproduce",
    "init": "nbtrack.workspace",
    "use_workspace": "nbtrack.workspace",
    "get_workspace": "nbtrack.workspace",
    "fsck": "nbtrack.maintenance",
    "gc": "nbtrack.maintenance",
    "backup": "nbtrack.maintenance",
    "migrate_store": "nbtrack.migrate",
    "snapshot": "nbtrack.snapshot.api",
    "load": "nbtrack.snapshot.api",
    "datasets": "nbtrack.snapshot.api",
    "dataset_versions": "nbtrack.snapshot.api",
    "dataset_version": "nbtrack.snapshot.api",
    "diff": "nbtrack.snapshot.api",
    "lineage": "nbtrack.snapshot.api",
    "DatasetVersion": "nbtrack.snapshot.datasets",
    "log_model": "nbtrack.snapshot.models",
    "load_model": "nbtrack.snapshot.models",
    "get_model_version": "nbtrack.snapshot.models",
    "ModelVersion": "nbtrack.snapshot.models",
    "register_model": "nbtrack.registry.models",
    "models": "nbtrack.registry.models",
    "model_versions": "nbtrack.registry.models",
    "set_alias": "nbtrack.registry.aliases",
    "delete_alias": "nbtrack.registry.aliases",
    "rollback": "nbtrack.registry.aliases",
    "promote": "nbtrack.registry.promote",
    "log_evaluation": "nbtrack.registry.promote",
    "events": "nbtrack.query.events",
    "verify_audit": "nbtrack.query.audit",
    "approve": "nbtrack.registry.approve",
    "revoke": "nbtrack.registry.approve",
    "pipelines": "nbtrack.registry.approve",
    "get_pipeline": "nbtrack.registry.approve",
    "serve": "nbtrack.serve.server",
    "served": "nbtrack.serve.status",
    "predict": "nbtrack.serve.batch",
    "bundle": "nbtrack.serve.bundle",
    "check_bundle": "nbtrack.serve.bundle",
    "drift": "nbtrack.monitor.drift",
    "validate": "nbtrack.monitor.validate",
    "contract": "nbtrack.monitor.validate",
    "evaluate": "nbtrack.monitor.evaluate",
    "monitoring": "nbtrack.monitor.status",
    "export_mlflow": "nbtrack.interop.mlflow_export",
    "import_mlflow": "nbtrack.interop.mlflow_import",
}

__all__ = sorted(_API) + ["load_ipython_extension", "unload_ipython_extension", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from .context import active_run
    from .capture.run import (end_run, log_artifact, log_metric, log_metrics, log_param,
                              log_params, set_experiment, set_tag, track)
    from .capture.background import flush
    from .maintenance import backup, fsck, gc
    from .migrate import migrate_store
    from .snapshot.api import dataset_version, dataset_versions, datasets, diff, lineage, load, snapshot
    from .snapshot.datasets import DatasetVersion
    from .pipeline.reproduce import reproduce
    from .pipeline.run import run_pipeline
    from .pipeline.sweep import plot_sweep, sweep
    from .pipeline.tuning import OptunaSearch
    from .query.cells import cells
    from .query.compare import compare_runs
    from .query.models import get_model
    from .query.runs import Run, cell_history, count_runs, get_run, runs
    from .workspace import get_workspace, init, use_workspace
    from .snapshot.models import ModelVersion, get_model_version, load_model, log_model
    from .registry.aliases import delete_alias, rollback, set_alias
    from .registry.approve import approve, get_pipeline, pipelines, revoke
    from .query.events import events
    from .query.audit import verify_audit
    from .registry.models import model_versions, models, register_model
    from .registry.promote import log_evaluation, promote
    from .serve.batch import predict
    from .serve.bundle import bundle, check_bundle
    from .serve.server import serve
    from .serve.status import served
    from .monitor.drift import drift
    from .monitor.evaluate import evaluate
    from .monitor.status import monitoring
    from .monitor.validate import contract, validate
    from .interop.mlflow_export import export_mlflow
    from .interop.mlflow_import import import_mlflow


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'nbtrack' has no attribute {name!r}")
    if module == "nbtrack.capture.run" and module not in sys.modules:
        # A run is coming: its environment fingerprint (git subprocesses, ~30-70 ms of waiting)
        # is computed in a thread while SQLAlchemy and the store are imported here.
        from .capture import env

        env.start_background()
    try:
        value = getattr(importlib.import_module(module), name)
    except ImportError as e:  # an optional extra (serve, monitor, ...) not installed: name it
        from .errors import missing_extra

        raise (missing_extra(e) or e) from e
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


def load_ipython_extension(ip) -> None:
    """``%load_ext nbtrack``: registers ``%%track`` and friends."""
    from .ipython.extension import load

    load(ip)


def unload_ipython_extension(ip) -> None:
    from .ipython.extension import unload

    unload(ip)
