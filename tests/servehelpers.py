"""Helpers for the serving tests: a training frame and a scikit-learn pipeline with preprocessing."""

from __future__ import annotations

import socket

import numpy as np
import pandas as pd


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




def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
