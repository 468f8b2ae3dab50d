"""The PostgreSQL write path: a run's rows go as multi-row statements in one pipelined round trip."""

from __future__ import annotations

import pytest

import nbtrack
from nbtrack.store import runs as store_runs

pytestmark = pytest.mark.postgres


def test_large_and_repeated_writes_in_one_flush(pg_workspace, monkeypatch):
    monkeypatch.setattr(store_runs, "PG_PARAMS", 50)  # statements of 10 rows: chunking is exercised
    with nbtrack.track("many", params={f"p{i}": i for i in range(37)}) as run:
        for step in range(123):
            run.log_metric("loss", 1 / (step + 1), step=step)
            run.log_metric("acc", step / 123, step=step)
        run.log_artifact("first", name="a.txt")
        run.log_artifact("second", name="a.txt")  # the same name twice in one flush: the last wins
        run.set_tag("t", "x")
        run.set_tag("t", "y")
    got = nbtrack.get_run(run.id)
    assert got.params == {f"p{i}": i for i in range(37)}
    assert len(got.metric_history("loss")) == 123 and got.metrics["loss"] == 1 / 123
    assert got.metrics["acc"] == 122 / 123
    assert got.artifact("a.txt") == b"second" and got.tags["t"] == "y"


def test_multi_row_statement_shape():
    sql = "INSERT INTO t (a, b) VALUES (%(a)s::VARCHAR, %(b)s) ON CONFLICT (a) DO UPDATE SET b = excluded.b"
    multi, names = store_runs._multi_values(sql, 3)
    assert names == ["a", "b"] and multi.count("(%s::VARCHAR, %s)") == 3
    assert store_runs._multi_values("UPDATE t SET a = %(a)s WHERE b = %(b)s", 2) is None


def test_runs_table_on_postgres_small_and_large_pages(pg_workspace):
    """The page, then its params and metrics in one pipelined round trip: an IN list up to
    SMALL runs, a subquery beyond; missing values stay missing."""
    from nbtrack.query import table

    n = table.SMALL + 20
    for i in range(n):
        with nbtrack.track(f"r{i}", params={"i": i, "kind": "even" if i % 2 == 0 else "odd"}) as run:
            if i % 3:
                run.log_metric("m", i / n)
    big = nbtrack.runs(limit=n, order_by="params.i")
    assert big["params.i"].tolist() == list(range(n))
    assert big["metrics.m"].isna().tolist() == [i % 3 == 0 for i in range(n)]
    page = nbtrack.runs(filter="metrics.m > 0.5 and params.kind == 'odd'", order_by="metrics.m desc", limit=10)
    want = sorted((i for i in range(n) if i % 3 and i % 2 and i / n > 0.5), reverse=True)[:10]
    assert page["params.i"].tolist() == want and page["metrics.m"].tolist() == [i / n for i in want]


def test_an_empty_page_on_postgres(pg_workspace):
    with nbtrack.track("only"):
        nbtrack.log_metric("m", 0.1)
    assert nbtrack.runs(filter="metrics.m > 0.5", limit=10).empty
    assert nbtrack.runs(filter="metrics.m < 0.5", limit=10)["metrics.m"].tolist() == [0.1]
