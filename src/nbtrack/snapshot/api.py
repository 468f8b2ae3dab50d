"""The public snapshot API: ``snapshot``, ``load``, ``datasets``, ``dataset_versions``, ``diff``, ``lineage``.

``snapshot(obj, name)`` dispatches on the object: pandas DataFrames and Series
become dataset versions (:mod:`.datasets`), anything else a model version
(:func:`nbtrack.snapshot.models.log_model`).
"""

from __future__ import annotations

import sys
from typing import Any

from ..context import active_run
from ..store.lineage import link
from ..workspace import Workspace
from .contracts import as_contract
from .datasets import DatasetVersion, get_version, list_datasets, list_versions, snapshot_frame
from .datasets import load as _load
from .diff import diff as _diff
from .models import log_model


def _is_frame(obj: Any) -> bool:
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(obj, (pd.DataFrame, pd.Series))


def snapshot(obj: Any, name: str, run: Any = None, workspace: Workspace | None = None, expect: Any = None) -> Any:
    """Store ``obj`` as the next version of ``name`` and return that version.

    Parameters
    ----------
    obj : pandas.DataFrame, pandas.Series or a model
        Frames become dataset versions (chunked, deduplicated parquet); other
        objects (fitted estimators...) become model versions.
    name : str
        Dataset or model name; versions are ``name@1``, ``name@2``, ...
    run : ActiveRun or str, optional
        The run that produced it (default: the active run, if any); the version
        is linked to it as an output.
    expect : Contract, pandera.DataFrameSchema or str, optional
        A data contract (or a stored contract's name) the frame must pass; if it
        fails, nothing is stored and :class:`~nbtrack.errors.ContractViolation`
        names each failing column and check.

    Returns
    -------
    DatasetVersion or ModelVersion
        For data: a new version only when the content changed, else the latest.

    Examples
    --------
    >>> v = nbtrack.snapshot(df, "customers")   # doctest: +SKIP
    >>> str(v)                                  # doctest: +SKIP
    'customers@1'
    """
    if expect is not None and _is_frame(obj):
        frame = obj.to_frame() if not hasattr(obj, "columns") else obj
        as_contract(expect, workspace).check(frame)
    if not _is_frame(obj):
        return log_model(obj, name, run=run, workspace=workspace)
    run = run if run is not None else active_run()
    run_id = run if isinstance(run, str) else getattr(run, "id", None)
    ws = workspace or getattr(run, "ws", None)
    version = snapshot_frame(obj, name, run_id=run_id, workspace=ws)
    if run_id is not None and version.workspace is not None:
        with version.workspace.meta.write() as conn:
            link(conn, run_id, "output", version.id, None)
    return version


def load(ref: str | DatasetVersion, workspace: Workspace | None = None) -> Any:
    """Load a dataset version: ``load("customers@3")``, ``load("customers")`` (latest).

    Inside ``nbtrack run`` a bare name resolves to the pipeline's pinned version.
    Inside a run (a ``%%track`` cell, ``with nbtrack.track():``) the version is
    recorded as one of the run's inputs; ``df = nbtrack.load("customers")`` in a
    tracked cell links ``customers@N`` under the variable ``df`` rather than
    snapshotting ``df`` again (unless the cell changes it).

    Parameters
    ----------
    ref : str or DatasetVersion
        ``"name@N"``, ``"name"`` or ``"name@latest"``.

    Returns
    -------
    pandas.DataFrame or pandas.Series
        Exactly what was snapshotted: values, dtypes, index and column names.
    """
    return _load(ref, workspace)


def datasets(workspace: Workspace | None = None):
    """All datasets: name, versions, latest version, its rows/columns/bytes, last update.

    Returns
    -------
    pandas.DataFrame
    """
    return list_datasets(workspace)


def dataset_versions(name: str, workspace: Workspace | None = None):
    """The versions of one dataset, oldest first.

    Returns
    -------
    pandas.DataFrame
        ``version, ref, n_rows, n_cols, nbytes, chunks, new_chunks, run_id, created, id``;
        ``new_chunks`` counts chunks no earlier version had (what the version cost).
    """
    return list_versions(name, workspace)


def dataset_version(ref: str, workspace: Workspace | None = None) -> DatasetVersion:
    """The :class:`DatasetVersion` named by ``ref`` (without loading its data)."""
    return get_version(ref, workspace)


def diff(a: str | DatasetVersion, b: str | DatasetVersion, workspace: Workspace | None = None):
    """Compare two dataset versions: schema, rows added/removed/changed (by index), per column.

    See :func:`nbtrack.snapshot.diff.diff`.
    """
    return _diff(a, b, workspace)


def lineage(target: Any, depth: int = 10, workspace: Workspace | None = None):
    """The lineage graph around a run or a version. See :func:`nbtrack.query.lineage.lineage`."""
    from ..query.lineage import lineage as _lineage

    return _lineage(target, depth=depth, workspace=workspace)
