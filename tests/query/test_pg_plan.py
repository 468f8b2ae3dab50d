"""PostgreSQL: the plan of a filter + order top-100 page (query/pg_page.py), and the page against
the general path on awkward data (ties, NULL metrics, missing params, runs still running)."""

from __future__ import annotations

import time
import uuid

import pandas as pd
import pytest
import sqlalchemy as sa

import nbtrack
from nbtrack.query import pg_page
from nbtrack.store import pg_summary
from nbtrack.store.runs import encode_param
from nbtrack.store.schema import experiments, latest_metrics, params, runs

pytestmark = pytest.mark.postgres

FILTER = "metrics.acc > 0.5 and params.model == 'rf'"


def _bulk(engine, experiment: str, n: int, values) -> None:
    """``n`` finished runs copied from a template run, with the params and latest metrics
    ``values(i)`` gives: ({param: value}, {metric: value})."""
    with engine.begin() as conn:
        template = dict(conn.execute(sa.select(runs).limit(1)).mappings().one())
        exp = conn.execute(sa.select(experiments.c.id).where(experiments.c.name == experiment)).scalar()
    now = time.time()
    rrows, prows, lrows = [], [], []
    for i in range(n):
        rid = uuid.uuid4().hex
        rrows.append({**template, "id": rid, "experiment_id": exp, "name": f"{experiment}{i}",
                      "started": now + i * 1e-3})
        ps, ms = values(i)
        for k, v in ps.items():
            text, num, vtype = encode_param(v)
            prows.append({"run_id": rid, "key": k, "value": text, "num": num, "vtype": vtype})
        lrows += [{"run_id": rid, "key": k, "value": v, "step": 0, "ts": now} for k, v in ms.items()]
    with engine.begin() as conn:
        conn.execute(sa.insert(runs), rrows)
        conn.execute(sa.insert(params), prows)
        conn.execute(sa.insert(latest_metrics), lrows)
        pg_summary.refresh(conn, [r["id"] for r in rrows])  # each run's JSON, as nbtrack's writers keep it


def _plan(conn, sql: str) -> str:
    return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))


@pytest.mark.slow
def test_a_top_page_walks_the_order_index_when_other_keys_skew_the_estimates(pg_workspace):
    """The benchmark's 10k stage: ``acc`` and ``loss`` drawn for 100k runs (every loss < 0.1), and
    a sweep's unrelated ``param_*``/``metric_*`` in the same tables. Estimated as if key and value
    were independent, 'rf' looked 2.3x rarer than it is and the planner hash-joined every match and
    sorted them all (52 ms instead of 12). The (key, value) statistics of migration 0006 fix the
    estimate: the page walks the ``acc`` index from the top and stops at 100."""
    for experiment in ("logging", "search"):
        nbtrack.set_experiment(experiment)
        with nbtrack.track("template"):
            pass
    nbtrack.set_experiment(None)
    engine = pg_workspace.meta.engine
    _bulk(engine, "logging", 320, lambda i: ({f"param_{j}": j * 0.5 for j in range(10)},
                                            {f"metric_{j}": j / 10 for j in range(10)}))
    _bulk(engine, "search", 10_000, lambda i: ({"model": ("rf", "svm", "lr")[i % 3], "depth": i % 10},
                                              {"acc": (i * 7919 % 100_000) / 100_000, "loss": i / 100_000}))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")  # as autovacuum leaves it: index-only scans see all rows visible
    pg_page._cache.clear()
    page = nbtrack.runs(filter=FILTER, order_by="metrics.acc desc", limit=100, experiment="search")
    assert len(page) == 100 and page["metrics.acc"].is_monotonic_decreasing
    assert set(page["params.model"]) == {"rf"}
    (sql,) = pg_page._cache.values()
    with engine.connect() as conn:
        plan = _plan(conn, sql)
        assert "Hash Join" not in plan and "Sort Key" in plan, plan
        # migration 0007: the walk is read from the index alone
        assert "Index Only Scan Backward using ix_latest_metrics_key_value" in plan, plan
        # migration 0009: each run's params and metrics come from its row (no scan of either table per run)
        assert "latest_metrics_pkey" not in plan and plan.count("params_pkey") == 1, plan
        # without the statistics, the same data gets the hash join: they are what fixes it
        conn.exec_driver_sql("DROP STATISTICS st_params_key_value")
        conn.exec_driver_sql("ANALYZE params")
        assert "Hash Join" in _plan(conn, sql)
        conn.rollback()


def test_awkward_pages_are_the_general_path_s_table(pg_workspace, monkeypatch):
    """Ties on the order metric (broken by start time), NULL and NaN metrics, runs without the
    filtered param or any param, a run still running: the page is the general path's table."""
    for i in range(9):
        ps = {"model": "rf" if i % 2 else "svm", "depth": i}
        if i == 3:
            ps = {}
        elif i == 5:
            ps = {"depth": 5}  # no model
        with nbtrack.track(f"r{i}", params=ps) as run:
            acc = 0.75 if i in (1, 2, 7, 8) else i / 10  # ties
            run.log_metrics({"acc": acc, "loss": float("nan") if i == 6 else i})  # NaN: stored as NULL
            if i == 4:
                run.log_metric("acc", float("nan"))
    running = nbtrack.track("running", params={"model": "rf"})
    run = running.__enter__()
    try:
        run.log_metric("acc", 0.75)
        run.flush()  # a running run's params and metrics, written (as a long cell's are)
        calls = [
            {"filter": FILTER, "order_by": "metrics.acc desc", "limit": 100},
            {"filter": "metrics.acc >= 0.75", "order_by": ["metrics.acc", "-name"], "limit": 3},
            {"order_by": "metrics.loss desc", "limit": 20},
            {"order_by": "-params.model", "limit": 20},
            {"filter": "params.model is None or metrics.loss is None", "limit": 20},
            {"filter": "status == 'running'", "limit": 5},
        ]
        pg_page._cache.clear()
        fast = [nbtrack.runs(**kw) for kw in calls]
        with monkeypatch.context() as m:
            m.setattr(pg_page, "cache_key", lambda *a, **k: None)
            general = [nbtrack.runs(**kw) for kw in calls]
        for kw, a, b in zip(calls, fast, general):
            pd.testing.assert_frame_equal(a, b, obj=str(kw))
        assert len(pg_page._cache) == len(calls)
        assert fast[0]["name"].tolist()[:3] == ["running", "r7", "r1"]  # ties: newest first
        assert fast[5]["name"].tolist() == ["running"]
        assert fast[4]["name"].tolist() == ["running", "r6", "r5", "r3"]  # no loss, NaN loss, no model
    finally:
        running.__exit__(None, None, None)
