"""Helpers for registry tests: trained runs with metrics, dataset version rows."""

from __future__ import annotations

import time

from sqlalchemy import insert

import nbtrack
from nbtrack.store.schema import dataset_versions, datasets


def frame(seed: int = 0, n: int = 150):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    y = (X["a"] + 0.3 * rng.normal(size=n) > 0).astype(int)
    return X, y


def trained_run(C: float, auc: float, seed: int = 0, name: str = "clf"):
    """A run that fits a model (candidate ``name``) and logs ``auc``; returns (run id, model)."""
    from sklearn.linear_model import LogisticRegression

    X, y = frame(seed)
    with nbtrack.track("train") as run:
        model = LogisticRegression(C=C).fit(X, y)
        nbtrack.log_model(model, name)
        nbtrack.log_metric("auc", auc)
    return run.id, model


def dataset_version(ws, name: str, version: int = 1) -> int:
    """A bare dataset_versions row (the data snapshot stage normally writes these)."""
    with ws.meta.write() as conn:
        from sqlalchemy import select

        did = conn.execute(select(datasets.c.id).where(datasets.c.name == name)).scalar()
        if did is None:
            did = conn.execute(insert(datasets).values(name=name, created=time.time())).inserted_primary_key[0]
        return conn.execute(insert(dataset_versions).values(
            dataset_id=did, version=version, manifest_oid="0" * 64, fingerprint=f"{name}{version}",
            created=time.time())).inserted_primary_key[0]


def move_alias_at_barrier(barrier, results, version: int, user: str) -> None:
    """Child process of the race test: wait for the other, then compare-and-set 1 -> version."""
    import os

    from nbtrack import workspace
    from nbtrack.errors import Conflict
    from nbtrack.registry.aliases import set_alias

    os.environ["NBTRACK_USER"] = user
    workspace.reset_cache()
    barrier.wait(timeout=60)
    try:
        change = set_alias("churn", "production", version, expected=1, reason=f"{user} deploys {version}")
        results.put((user, "ok", change.version))
    except Conflict as e:
        results.put((user, "conflict", str(e)))


def promote_at_barrier(barrier, results, version: int, user: str) -> None:
    """Child process of the promotion race: wait for the other, then a gated promotion."""
    import os

    from nbtrack import workspace
    from nbtrack.errors import Conflict
    from nbtrack.registry.promote import promote

    os.environ["NBTRACK_USER"] = user
    workspace.reset_cache()
    barrier.wait(timeout=60)
    try:
        res = promote("churn", version, to="production", gate="metrics.auc >= 0.5", reason=user)
        results.put((user, "ok" if res.accepted else "refused", version))
    except Conflict as e:
        results.put((user, "conflict", str(e)))


def log_models_at_barrier(barrier, results, seed: int, n: int) -> None:
    """Child process of the version-numbering race: log ``n`` different models under one name."""
    from sklearn.linear_model import LogisticRegression

    import nbtrack
    from nbtrack import workspace

    workspace.reset_cache()
    X, y = frame(seed)
    fitted = [LogisticRegression(C=0.5 + seed * 100 + i).fit(X, y) for i in range(n)]
    barrier.wait(timeout=60)
    try:
        results.put([nbtrack.log_model(m, "m").version for m in fitted])
    except Exception as e:  # report, do not hang the parent
        results.put(f"{type(e).__name__}: {e}")
