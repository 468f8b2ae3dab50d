"""A workspace with model ``churn`` (a scikit-learn pipeline with preprocessing): version 1 and a
different version 2 (opposite answers), ``churn@production`` -> 1."""

from __future__ import annotations

import pytest

from daskcluster import cluster, team_ws  # noqa: F401  (a real Dask cluster over PostgreSQL + S3)
from servehelpers import pipeline, train_frame


@pytest.fixture
def churn(workspace):
    """``(X, v1 model, v2 model)``; v2 predicts differently from v1 on X."""
    import nbtrack

    X, y = train_frame()
    ds = nbtrack.snapshot(X, "churn-train")
    m1 = pipeline(1.0).fit(X, y)
    m2 = pipeline(1.0).fit(X, 1 - y)  # the opposite answers: a switch is visible in every response
    nbtrack.log_model(m1, "churn", X=X, dataset_version=str(ds))
    nbtrack.log_model(m2, "churn", X=X, dataset_version=str(ds))
    nbtrack.set_alias("churn", "production", 1)
    return X, m1, m2

