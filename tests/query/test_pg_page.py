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
    # values written into the statement as literals: quotes, backslashes, % and _ (LIKE), negative
    # numbers (a cast must not bind to the number alone), a float that is not a SQL numeric
    {"filter": "name == 'q\\'uo\\\\te%_'", "limit": 5},
    {"filter": "'uo\\\\te%' in name or 'R1' in name", "order_by": "name", "limit": 20},
    {"filter": "params.depth > -1.5 and metrics.acc >= -0.0 and params.lr != -7", "order_by": "-params.lr", "limit": 9},
    {"filter": "metrics.acc < 1e300 and params.lr < 0.30000000000000004", "limit": 12},
    {"filter": "params.model in ['rf', 'lr'] and cell_version is None", "limit": 30, "offset": 1},
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
        with nbtrack.track("q'uo\\te%_" if i == 9 else f"r{i}", params=params) as run:
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
    assert general[10]["name"].tolist() == ["q'uo\\te%_"] and len(general[11]) == 4  # r1, r10, r11 and the quoted one
    assert len(general[12]) == 9  # negative numbers
    assert len(general[13]) == 3  # lr 0, 0.1, 0.2: 0.1 * 3 == 0.30000000000000004 is not below it (exact floats)


def test_whole_second_start_times_and_one_value_per_column(pg_workspace, monkeypatch):
    """Start times that are all whole seconds (pandas gives them another resolution), texts mixed with
    None, ints beyond 64 bits, one-type columns: the same table as the general path."""
    _populate()
    with pg_workspace.meta.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE runs SET started = floor(started) "
                             "+ (SELECT count(*) FROM runs r WHERE r.started < runs.started)")
        conn.exec_driver_sql("UPDATE runs SET name = NULL WHERE name = 'r2'")
    calls = [{"limit": 20}, {"filter": "params.model == 'rf'", "limit": 20, "model_params": True}]
    fast = [nbtrack.runs(**kw) for kw in calls]
    monkeypatch.setattr(pg_page, "cache_key", lambda *a, **k: None)
    for kw, a in zip(calls, fast):
        pd.testing.assert_frame_equal(a, nbtrack.runs(**kw), obj=str(kw))
    assert fast[0]["name"].isna().sum() == 1 and fast[0]["started"].dt.microsecond.eq(0).all()


def test_the_statement_has_no_parameters_and_is_planned_with_the_values(pg_workspace):
    """The page's SQL carries its values: prepared once per connection, planned for them (a generic
    plan for unknown values joined and sorted every matching run at 10k runs)."""
    _populate()
    pg_page._cache.clear()
    for _ in range(6):  # every pooled connection (at most 5 idle ones, taken in turn) has run it
        nbtrack.runs(filter="metrics.acc > 0.5 and params.model == 'rf'", order_by="metrics.acc desc", limit=3,
                     experiment="default")
    (sql,) = pg_page._cache.values()
    assert "%(" not in sql and "'rf'" in sql and "'0.5'::float8" in sql and "'default'" in sql
    with pg_workspace.meta.read() as conn:
        driver = conn.connection.driver_connection
        plans = driver.execute("SELECT generic_plans + custom_plans FROM pg_prepared_statements "
                               "WHERE statement LIKE '%summary_params%'").fetchall()
    assert plans and plans[0][0] >= 1


def test_inline_quotes_every_value(pg_workspace):
    """Each value comes back from the server unchanged: the driver's quoting, in parentheses."""
    values = ["a'b", "back\\slash", "%_", "", "é ✓", "x'); SELECT 1; --", 0.1, -0.5, 1e300, -0.0, float("nan"),
              float("inf"), float("-inf"), 7, -7, 2**70, True, False, None]
    with pg_workspace.meta.read() as conn:
        driver = conn.connection.driver_connection
        for v in values:
            sql = pg_page.inline("SELECT %(v)s, 5 %% 3, (%(v)s)::text", {"v": v}, driver)
            got, mod, _ = driver.execute(sql).fetchone()
            assert mod == 2
            if isinstance(v, float) and v != v:
                assert got != got
            elif isinstance(v, float):
                assert float(got) == v and type(got) is float, (v, got)
            else:
                big = type(v) is int and abs(v) >= 2**63  # numeric, as when bound: a Decimal
                assert got == v and (type(got) is type(v) or big), (v, got)
    assert pg_page.inline("SELECT (%(v)s)::VARCHAR", {"v": -7}, driver) == "SELECT (( -7))::VARCHAR"


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
        conn.exec_driver_sql("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    try:
        nbtrack.runs(limit=5)
    except StoreUnavailable as e:
        assert "terminat" in str(e)
    assert len(nbtrack.runs(limit=5)) == 1
