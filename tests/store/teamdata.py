"""A workspace with one of everything in it, made with the public API (upgrade and migration tests).

``fill(folder)`` records runs with params, metric histories, tags and artifacts, a child run,
dataset versions (with chunks and lineage), model versions, aliases moved twice, an
evaluation, an approved pipeline, a data contract, a monitoring rule and the audit events all
of that writes. ``table_rows(conn)`` reads every table back, ordered by primary key, for
comparisons.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import nbformat
import sqlalchemy as sa

TABLES_IN_ORDER = (  # parents before children
    "experiments", "runs", "params", "metrics", "latest_metrics", "tags", "artifacts", "events",
    "datasets", "dataset_versions", "dataset_chunks", "models", "model_versions", "aliases",
    "evaluations", "lineage", "pipelines", "pipeline_versions", "contracts", "monitor_rules",
)


def _notebook(path: Path) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import nbtrack"),
                nbformat.v4.new_code_cell("C = 1.0\nepochs = 3", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("%%track\nprint(C)")]
    nbformat.write(nb, path)
    return str(path)


def fill(folder: Path) -> None:
    """Fill the workspace ``NBTRACK_URI`` points at (the caller has set it up)."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import nbtrack
    from nbtrack.monitor.rules import Rule, add_rule

    rng = np.random.default_rng(7)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300),
                      "city": pd.Categorical(rng.choice(["x", "y", "z"], size=300))})
    y = (X["a"] > 0).astype(int)
    nbtrack.set_experiment("churn")
    nbtrack.snapshot(X, "features")
    for i, C in enumerate((0.1, 1.0, 10.0)):
        with nbtrack.track(f"train-{i}", params={"C": C, "solver": "lbfgs", "seed": i, "flag": i % 2 == 0}) as run:
            Xn = nbtrack.load("features@1")
            model = LogisticRegression(C=C).fit(Xn[["a", "b"]], y)
            for step in range(3):
                nbtrack.log_metric("loss", 1.0 / (step + 1 + i), step=step)
            nbtrack.log_metrics({"auc": 0.8 + i / 100, "acc": 0.7 + i / 50})
            nbtrack.set_tag("team", "risk")
            nbtrack.log_artifact(f"notes of run {i}\n", name="notes.txt")
            nbtrack.log_model(model, "clf", X=Xn[["a", "b"]])
            with nbtrack.track(f"eval-{i}"):
                nbtrack.log_metric("val_auc", 0.79 + i / 100)
        nbtrack.register_model("churn", run=run.id)
    X2 = X.copy()
    X2.loc[:10, "a"] = 5.0
    nbtrack.snapshot(X2, "features")
    nbtrack.set_alias("churn", "staging", 1)
    nbtrack.set_alias("churn", "production", 2, reason="best auc")
    nbtrack.set_alias("churn", "production", 3, reason="newer")
    nbtrack.log_evaluation("churn@3", "features@2", "auc", 0.82)
    nbtrack.approve(_notebook(folder / "train.ipynb"), "train", reason="reviewed")
    nbtrack.contract("features@1")
    add_rule(Rule(model="churn@production", thresholds={"psi": 0.2}))
    with nbtrack.track("failed") as run:
        run.log_param("why", "x" * 300)
    assert os.environ.get("NBTRACK_URI")


# PostgreSQL-only columns derived from other rows (migration 0009: each run's params/metrics JSON,
# checked against its rows by pg_summary.stale): not data of their own, left out of the comparisons
DERIVED = ("summary_params", "summary_ptypes", "summary_metrics")


def table_rows(conn: sa.engine.Connection, tables=TABLES_IN_ORDER, skip_columns=()) -> dict[str, list[dict]]:
    """Every row of every table present, ordered by primary key (columns in ``skip_columns`` and the
    derived columns of :data:`DERIVED` left out)."""
    skip_columns = (*skip_columns, *DERIVED)
    md = sa.MetaData()
    md.reflect(conn, only=[t for t in tables if sa.inspect(conn).has_table(t)])
    out = {}
    for name in tables:
        if name not in md.tables:
            continue
        t = md.tables[name]
        order = list(t.primary_key.columns) or list(t.columns)
        out[name] = [{k: v for k, v in r.items() if k not in skip_columns}
                     for r in conn.execute(sa.select(t).order_by(*order)).mappings()]
    return out


@contextlib.contextmanager
def new_pg_database(pg_url: str, prefix: str = "nbtrack_t"):
    """A new, empty PostgreSQL database on the test server (dropped afterwards): its URL."""
    import uuid

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield pg_url.rsplit("/", 1)[0] + "/" + name
    finally:
        from nbtrack import workspace as ws_mod

        ws_mod.reset_cache()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def same_rows(a: dict[str, list[dict]], b: dict[str, list[dict]]) -> bool:
    """Equal tables, whatever order each database sorts strings in."""
    def norm(rows):
        return sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)

    return a.keys() == b.keys() and all(norm(a[t]) == norm(b[t]) for t in a)
