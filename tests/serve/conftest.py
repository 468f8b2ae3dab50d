"""A workspace with a registered model ``churn`` (a scikit-learn pipeline with preprocessing):
version 1 and a different version 2, ``churn@production`` -> 1."""

from __future__ import annotations

import socket

import numpy as np
import pandas as pd
import pytest


def train_frame(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "age": rng.integers(18, 80, n).astype("int64"),
        "income": rng.normal(50, 12, n).round(2),
        "plan": pd.Categorical(rng.choice(["basic", "plus", "pro"], n)),
    })
    y = pd.Series(((X["age"] > 45) ^ (X["plan"] == "pro")).astype(int), name="churned")
    return X, y


def pipeline(C: float = 1.0):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = make_column_transformer((StandardScaler(), ["age", "income"]),
                                  (OneHotEncoder(handle_unknown="ignore"), ["plan"]))
    return make_pipeline(pre, LogisticRegression(C=C, max_iter=500))


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
