"""PostgreSQL: each run's params and latest metrics JSON on its row (migration 0009,
store/pg_summary.py) is what its rows say, whichever writer wrote them; fsck finds and repairs a
stale one."""

from __future__ import annotations

import pytest

import nbtrack
from nbtrack.store import pg_direct, pg_summary, runs as store_runs

pytestmark = pytest.mark.postgres


def _stale(ws) -> list[str]:
    with ws.meta.read() as conn:
        return pg_summary.stale(conn, limit=None)


def _summary(ws, run_id: str) -> tuple:
    with ws.meta.read() as conn:
        return conn.exec_driver_sql("SELECT summary_params, summary_ptypes, summary_metrics FROM runs "
                                    "WHERE id = %(id)s", {"id": run_id}).one()


def test_every_writer_keeps_each_run_s_json_exact(pg_workspace):
    ws = pg_workspace
    ids = {}
    for i in range(3):  # the first run of the process takes the general path, the others one statement each
        with nbtrack.track(f"plain{i}", params={"model": "rf", "depth": i, "lr": 0.1, "on": True,
                                                 "cfg": {"a": [1, 2]}, "none": None}) as run:
            run.log_metrics({"acc": i / 10, "nan": float("nan"), "inf": float("inf")})
        ids[f"plain{i}"] = run.id
    with nbtrack.track("steps", params={"model": "svm"}) as run:
        run.log_metric("loss", 0.9, step=5)
        run.log_metric("loss", 0.1, step=2)  # an older step: not the latest value
        for step in range(3):
            run.log_metric("acc", 0.5 + step / 10, step=step)
    ids["steps"] = run.id
    running = nbtrack.track("running", params={"model": "rf"})
    run = running.__enter__()
    try:
        run.log_metric("acc", 0.3, step=0)
        run.flush()  # a running run's rows, written while it runs
        assert _stale(ws) == []
        assert _summary(ws, run.id) == ({"model": "rf"}, {"model": "str"}, {"acc": "0.3"})
        run.log_param("depth", 7)
        run.log_param("model", "lr")  # a param written again
        run.log_metric("acc", 0.2, step=0)  # same step, newer: replaces
        run.log_metric("acc", 0.1, step=-1)  # older step: does not
        run.flush()
        assert _stale(ws) == []
        assert _summary(ws, run.id) == ({"model": "lr", "depth": "7"}, {"model": "str", "depth": "int"}, {"acc": "0.2"})
        run.set_tag("t", "x")
        run.flush()  # tags only: the JSON stays
        assert _summary(ws, run.id) == ({"model": "lr", "depth": "7"}, {"model": "str", "depth": "int"}, {"acc": "0.2"})
    finally:
        running.__exit__(None, None, None)
    ids["running"] = run.id
    with nbtrack.track("empty"):
        pass
    ids["empty"] = run_empty = nbtrack.runs(name="empty", limit=1)["id"][0]
    assert any(k[0] in ("flush", "whole") for k in pg_direct._sql), "the one-statement path was not taken"
    # the general path's writers (MetaStore.write + store.runs), as a replay or an import writes
    with ws.meta.write() as conn:
        store_runs.write_params(conn, run_empty, {"added": 1.5})
        store_runs.write_metrics(conn, run_empty, [("m", 1.0, 0, 1.0), ("m", 3.0, 2, 0.5), ("m", 2.0, 1, 9.0)])
    assert _stale(ws) == []
    assert _summary(ws, ids["steps"]) == ({"model": "svm"}, {"model": "str"}, {"acc": "0.7", "loss": "0.9"})
    assert _summary(ws, run_empty) == ({"added": "1.5"}, {"added": "float"}, {"m": "3"})
    p, t, m = _summary(ws, ids["plain2"])
    assert (p["depth"], t["depth"], p["on"], t["on"]) == ("2", "int", "True", "bool")
    assert set(p) == set(t) == {"model", "depth", "lr", "on", "cfg", "none"}
    assert m["acc"] == "0.2" and set(m) == {"acc", "nan", "inf"}
    # a page (the JSON) and the general path (the rows) give the same table
    page = nbtrack.runs(order_by="name", limit=50)
    assert page.shape[0] == 6
    whole = nbtrack.runs(order_by="name")
    import pandas as pd

    pd.testing.assert_frame_equal(page, whole)


def test_fsck_finds_a_stale_json_and_repairs_it(pg_workspace):
    with nbtrack.track("a", params={"model": "rf"}) as run:
        run.log_metric("acc", 0.5)
    with nbtrack.track("b", params={"model": "svm"}) as other:
        other.log_metric("acc", 0.6)
    assert nbtrack.fsck().ok
    with pg_workspace.meta.write() as conn:  # as a writer that forgot the JSON would leave it
        conn.exec_driver_sql("UPDATE runs SET summary_metrics = '{\"acc\": \"0.4\"}' WHERE id = %(id)s", {"id": run.id})
        conn.exec_driver_sql("UPDATE runs SET summary_params = NULL WHERE id = %(id)s", {"id": other.id})
    rep = nbtrack.fsck()
    assert not rep.ok and sorted(rep.stale_summaries) == sorted([run.id, other.id])
    assert any(line.startswith("STALE params/metrics summary of 2 run(s)") for line in rep.lines()), rep.lines()
    rep = nbtrack.fsck(repair=True)
    assert rep.ok and rep.summaries_rebuilt == 2, rep.lines()
    assert _summary(pg_workspace, run.id) == ({"model": "rf"}, {"model": "str"}, {"acc": "0.5"})
    assert nbtrack.fsck().ok
