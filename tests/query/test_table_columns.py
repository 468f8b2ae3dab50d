"""``runs()`` builds its params/metrics columns column-wise: the same table as the row-by-row build."""

from __future__ import annotations

import math
import random

import pandas as pd
import pytest

import nbtrack
from nbtrack.store.runs import decode_param
from nbtrack.store.schema import latest_metrics, params

VALUES = [None, True, False, 0, -7, 2**70, 3.5, float("inf"), float("-inf"), float("nan"), 1e-300, "", "a,b",
          'q"uote', "new\nline", "ünï", [1, 2], {"a": [None, 1.5]}, [], {"k": "v"}]


def rowwise(ws, df: pd.DataFrame, model_params: bool) -> pd.DataFrame:
    """The table as runs() built it before (one dict per run, one Python value at a time)."""
    ids = df["id"].tolist()
    ps: dict = {}
    ms: dict = {}
    with ws.meta.read() as conn:
        for rid, key, value, vtype in conn.execute(
                params.select().with_only_columns(params.c.run_id, params.c.key, params.c.value, params.c.vtype)):
            ps.setdefault(rid, {})[key] = decode_param(value, vtype)
        for rid, key, value in conn.execute(latest_metrics.select().with_only_columns(
                latest_metrics.c.run_id, latest_metrics.c.key, latest_metrics.c.value)):
            ms.setdefault(rid, {})[key] = value
    extra = {}
    for key in sorted({k for i in ids for k in ps.get(i, {})}):
        if key.startswith("model.") and not model_params:
            continue
        extra[f"params.{key}"] = [ps.get(i, {}).get(key) for i in ids]
    for key in sorted({k for i in ids for k in ms.get(i, {})}):
        extra[f"metrics.{key}"] = pd.array([ms.get(i, {}).get(key) for i in ids], dtype="float64")
    base = df[[c for c in df.columns if not c.startswith(("params.", "metrics."))]]
    return pd.concat([base, pd.DataFrame(extra, index=df.index)], axis=1) if extra else base


def same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert list(a.dtypes) == list(b.dtypes), (a.dtypes, b.dtypes)
    for col in a.columns:
        for x, y in zip(a[col].tolist(), b[col].tolist(), strict=True):
            if isinstance(x, float) and math.isnan(x):
                assert isinstance(y, float) and math.isnan(y), col
            else:
                assert x == y and type(x) is type(y), (col, x, y)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_columns_equal_rowwise_build(workspace, seed, monkeypatch):
    _check_against_rowwise(seed, monkeypatch)


def test_columns_equal_rowwise_build_on_postgres(pg_workspace, monkeypatch):
    _check_against_rowwise(0, monkeypatch)


def _check_against_rowwise(seed, monkeypatch):
    from nbtrack.query import table

    monkeypatch.setattr(table, "SMALL", 5)  # exercise the subquery path with few runs
    rnd = random.Random(seed)
    keys = ["a", "b", "c", "model.clf.C", "n"]
    for i in range(40):
        ps = {k: rnd.choice(VALUES) for k in keys if rnd.random() < 0.7}
        if rnd.random() < 0.5:
            ps["n"] = rnd.randrange(-5, 5)  # a key that is often a plain int column
        with nbtrack.track(f"r{i}", params=ps, experiment=rnd.choice(["e1", "e2"])) as run:
            for m in ("acc", "loss", "z"):
                if rnd.random() < 0.6:
                    run.log_metric(m, rnd.choice([0.1, 0.30000000000000004, 1e300, -2.5, float("nan"), 7]))
    ws = nbtrack.get_workspace()
    for kw in [{}, {"limit": 0}, {"model_params": True}, {"experiment": "e1"}, {"limit": 7, "offset": 3},
               {"filter": "metrics.acc > 0", "order_by": "metrics.acc desc"}, {"limit": 3},
               {"filter": "params.n >= 0", "order_by": "name", "model_params": True},
               {"ids": ["nope"]}]:
        df = nbtrack.runs(**kw)
        same(df, rowwise(ws, df, kw.get("model_params", False)))


def test_int_column_keeps_int_dtype_and_big_ints_exact(workspace):
    for i in range(3):
        with nbtrack.track(f"r{i}", params={"depth": i, "big": 2**80 + i, "flag": i == 1, "f": 0.1 * i}):
            pass
    df = nbtrack.runs(order_by="name")
    assert str(df["params.depth"].dtype) == "int64" and df["params.depth"].tolist() == [0, 1, 2]
    assert df["params.big"].tolist() == [2**80, 2**80 + 1, 2**80 + 2]
    assert df["params.flag"].tolist() == [False, True, False]
    assert df["params.f"].tolist() == [0.0, 0.1, 0.2]
