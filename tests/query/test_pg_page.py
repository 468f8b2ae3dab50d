"""PostgreSQL: a page of runs() in one statement (query/pg_page.py) gives the general path's table."""

from __future__ import annotations

import pandas as pd
import pytest

import nbtrack
from nbtrack.query import pg_page

pytestmark = pytest.mark.postgres

CALLS = [
    {"limit": 5},
    {"limit": 100},
    {"filter": "metrics.acc > 0.3 and params.model == 'rf'", "order_by": "metrics.acc desc", "limit": 4},
    {"filter": "metrics.acc > 0.3", "order_by": ["params.depth", "-metrics.acc"], "limit": 7, "offset": 2},
    {"experiment": "other", "limit": 10},
    {"experiment": ["other", "default"], "limit": 3, "model_params": True},
    {"name": ["r1", "r3", "missing"], "limit": 10},
    {"filter": "params.model == 'nothing'", "limit": 10},  # an empty page
    {"order_by": "metrics.loss", "limit": 50, "status": "finished"},
    {"filter": "params.flag == True", "limit": 20},
]


def _populate():
    for i in range(12):
        nbtrack.set_experiment("other" if i % 4 == 3 else None)
        params = {"model": ["rf", "svm", "lr"][i % 3], "depth": i % 5, "lr": 0.1 * i,
                  "flag": i % 2 == 0, "nothing": None, "cfg": {"a": [i, "x"]}}
        if i == 2:
            params["big"] = 2**70  # beyond int64: a Python int
        if i == 5:
            params = {}  # a run without params
        if i % 3 == 1:
            params["model.rf.n_estimators"] = 10 * i  # a model's hyper-parameter (hidden by default)
        with nbtrack.track(f"r{i}", params=params) as run:
            if i != 7:  # a run without metrics
                run.log_metrics({"acc": i / 12, "loss": float("nan") if i == 4 else 1 - i / 12})
            if i % 2:
                run.log_metric("only_odd", i)
    nbtrack.set_experiment(None)


def test_same_table_as_the_general_path(pg_workspace, monkeypatch):
    _populate()
    fast = [nbtrack.runs(**kw) for kw in CALLS]
    fast_again = [nbtrack.runs(**kw) for kw in CALLS]  # from the statement cache
    assert len(pg_page._cache) >= len(CALLS)
    monkeypatch.setattr(pg_page, "cache_key", lambda *a, **k: None)
    general = [nbtrack.runs(**kw) for kw in CALLS]
    for kw, a, b, c in zip(CALLS, fast, fast_again, general):
        pd.testing.assert_frame_equal(a, c, obj=str(kw))
        pd.testing.assert_frame_equal(b, c, obj=str(kw))
    assert len(general[1]) == 12 and "params.model.rf.n_estimators" not in general[1]
    assert "params.model.rf.n_estimators" in general[5] and general[2]["metrics.acc"].is_monotonic_decreasing
    assert general[7].empty


def test_json_params_are_not_shared_between_cells(pg_workspace):
    for i in range(2):
        with nbtrack.track(f"j{i}", params={"cfg": {"a": 1}}):
            pass
    page = nbtrack.runs(limit=10)
    page["params.cfg"].iloc[0]["a"] = 99
    assert page["params.cfg"].iloc[1] == {"a": 1}


def test_cache_keys():
    assert pg_page.cache_key(None, None, None, 0, False, {}) is None  # not a page: the general path
    assert pg_page.cache_key(None, None, 5000, 0, False, {}) is None
    assert pg_page.cache_key(None, None, 10, 0, False, {"ids": [1]}) is None  # the general path says why
    a = pg_page.cache_key("metrics.a > 1", ["x", "y"], 10, 0, False, {"name": ["a", "b"]})
    assert a == pg_page.cache_key("metrics.a > 1", ("x", "y"), 10, None, False, {"name": ("a", "b")})
    assert a != pg_page.cache_key("metrics.a > 2", ["x", "y"], 10, 0, False, {"name": ["a", "b"]})


def test_a_lost_connection_is_a_store_error_then_it_reconnects(pg_workspace):
    from nbtrack.errors import StoreUnavailable

    with nbtrack.track("a"):
        pass
    assert len(nbtrack.runs(limit=5)) == 1
    with pg_workspace.meta.engine.connect() as conn:
        conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    try:
        nbtrack.runs(limit=5)
    except StoreUnavailable as e:
        assert "terminat" in str(e)
    assert len(nbtrack.runs(limit=5)) == 1
