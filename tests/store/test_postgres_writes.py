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
