"""PostgreSQL: a run's start and end as one prepared statement each (store/pg_direct.py)."""

from __future__ import annotations

import math

import pytest

import nbtrack
from nbtrack.errors import StoreUnavailable
from nbtrack.store import pg_direct

pytestmark = pytest.mark.postgres

AWKWARD = {
    "quote": 'say "hi"', "backslash": "C:\\tmp\\x", "both": '\\"', "comma": "a,b", "braces": "{x}",
    "null_word": "NULL", "spaces": "  padded  ", "empty": "", "unicode": "héllo ✓ 日本",
    "none": None, "true": True, "false": False, "int": 42, "big": 2**80, "huge": 2**1279, "neg": -7,
    "float": 0.1, "tiny": 5e-324, "nan": float("nan"), "inf": float("inf"), "list": [1, "a"],
    "dict": {"b": 1, "a": [2]}, "newline": "a\nb\tc",
}


def test_awkward_values_round_trip(pg_workspace):
    with nbtrack.track("warm"):  # the first write of a process takes the general path
        pass
    calls = []
    orig = pg_direct._Writer._send
    pg_direct._Writer._send = lambda w, sql, args: (calls.append(sql.split(" ", 1)[0]), orig(w, sql, args))[1]
    try:
        with nbtrack.track("awkward", params=AWKWARD, tags={"t\"q": 'v\\"', "n": "NULL"}) as run:
            for step in range(5):
                run.log_metric("loss", 1 / (step + 1), step=step)
            run.log_metric("loss", 9.0, step=2)  # an older step logged later: not the latest
            run.log_metric("bad", float("nan"))
            run.log_metric("ts_tie", 1.0, step=0)
            run.log_artifact(b"one", name='a "b".bin')
            run.log_artifact(b"two", name='a "b".bin')  # the same name twice in one flush: the last wins
    finally:
        pg_direct._Writer._send = orig
    assert calls == ["WITH"]  # a run ending within DEFER_S: start and end as one statement
    got = nbtrack.get_run(run.id)
    want = dict(AWKWARD)
    want["nan"], want["inf"] = got.params["nan"], got.params["inf"]
    assert math.isnan(got.params["nan"]) and got.params["inf"] == math.inf
    assert got.params == want
    assert got.tags["t\"q"] == 'v\\"' and got.tags["n"] == "NULL"
    assert got.status == "finished" and got.ended is not None
    assert got.metrics["loss"] == 1 / 5  # step 4, not the 9.0 logged later at step 2
    assert got.metrics["bad"] is None or math.isnan(got.metrics["bad"])  # NaN is stored as NULL
    history = got.metric_history("loss").sort_values(["step", "timestamp"])
    assert history["value"].tolist() == [1.0, 1 / 2, 1 / 3, 9.0, 1 / 4, 1 / 5]
    assert got.artifact('a "b".bin') == b"two"
    # numeric params are filterable exactly as on the general path (the `num` column)
    assert nbtrack.runs(filter="params.int == 42")["id"].tolist() == [run.id]
    assert nbtrack.runs(filter="params.float == 0.1")["id"].tolist() == [run.id]
    assert nbtrack.runs(filter="params.true == 1")["id"].tolist() == [run.id]


def test_same_rows_as_the_general_path(pg_workspace, monkeypatch):
    """A run written by pg_direct and one written by the general path hold identical rows."""
    with nbtrack.track("warm"):
        pass
    body = {"params": {"a": 1, "b": "x", "c": 0.25, "d": None}, "tags": {"k": "v"}}

    def log(name):
        with nbtrack.track(name, params=body["params"], tags=body["tags"]) as run:
            run.log_metrics({"m": 0.5, "n": 2})
            run.log_metric("m", 0.75)
            run.log_artifact(b"data", name="f.bin")
        return run.id

    fast = log("fast")
    monkeypatch.setattr(pg_direct, "usable", lambda meta: False)
    slow = log("slow")
    ws = pg_workspace
    with ws.meta.read() as conn:
        for table, cols in (("params", "key, value, num, vtype"), ("tags", "key, value"),
                            ("metrics", "key, value, step"), ("latest_metrics", "key, value, step"),
                            ("artifacts", "name, oid, kind, media_type, size")):
            rows = {rid: conn.exec_driver_sql(f"SELECT {cols} FROM {table} WHERE run_id = %(r)s ORDER BY 1, 2",
                                              {"r": rid}).all() for rid in (fast, slow)}
            assert rows[fast] == rows[slow], table
        runs = {rid: conn.exec_driver_sql(
            "SELECT experiment_id, kind, status, parent_id, env_oid, host, pid, \"user\", "
            "ended IS NOT NULL, duration IS NOT NULL FROM runs WHERE id = %(r)s", {"r": rid}).one()
            for rid in (fast, slow)}
    assert runs[fast] == runs[slow]


def test_cell_versions_count_up(pg_workspace):
    from nbtrack.capture.run import ActiveRun

    with nbtrack.track("warm"):
        pass
    versions = []
    for _ in range(3):
        run = ActiveRun("cell", "cell", cell_key="nb.ipynb::c1").start()
        run.end()
        versions.append(nbtrack.get_run(run.id).cell_version)
    assert versions == [1, 2, 3]


def test_a_lost_server_is_a_store_error_and_the_next_write_reconnects(pg_workspace):
    with nbtrack.track("warm"):
        pass
    ws = pg_workspace
    with ws.meta.read_engine.connect() as conn:
        conn.exec_driver_sql("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    row = {"id": "deadbeef00000001", "name": "x", "kind": "script", "status": "running", "started": 1.0,
           "host": "h", "pid": 1}
    memo = dict(ws.memo)
    try:  # the connection was killed: one failure at most (as StoreUnavailable), then it works
        pg_direct.write_start(ws.meta, {"row": row, "experiment": "default"}, memo)
        pg_direct.settle(ws.meta)
    except StoreUnavailable:
        pg_direct.write_start(ws.meta, {"row": row, "experiment": "default"}, memo)
    with nbtrack.track("after") as run:
        run.log_metric("m", 1.0)
    assert nbtrack.get_run(run.id).metrics == {"m": 1.0}
    assert nbtrack.get_run("deadbeef00000001").name == "x"


def test_array_literals():
    assert pg_direct._texts(["a", None, 'q"', "b\\s", "NULL"]) == '{"a",NULL,"q\\"","b\\\\s","NULL"}'
    assert pg_direct._nums([0.1, None, 1]) == "{0.1,NULL,1.0}"
    assert pg_direct._ints([3, None]) == "{3,NULL}"
    assert pg_direct._num("2" * 5000, "int") is None  # more digits than int() parses: no number
    assert pg_direct._num("True", "bool") == 1.0 and pg_direct._num("nan", "float") is None


def _kill_other_backends(ws):
    with ws.meta.read_engine.connect() as conn:
        conn.exec_driver_sql("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()")


def test_a_start_is_visible_at_once_and_read_back_in_this_process(pg_workspace):
    """The start is sent without waiting for its reply: other readers see the running run at once,
    and this process reads it back (its reply is read before any other statement)."""
    import time

    import psycopg

    with nbtrack.track("warm"):
        pass
    url = pg_workspace.meta.url.replace("+psycopg", "")
    with psycopg.connect(url, autocommit=True) as other, nbtrack.track("live", params={"p": 1}) as run:
        deadline = time.monotonic() + 2.0
        while other.execute("SELECT status FROM runs WHERE id = %s", (run.id,)).fetchone() is None:
            assert time.monotonic() < deadline, "the running run is not visible to another connection"
            time.sleep(0.001)
        assert nbtrack.get_run(run.id).status == "running"
        run.log_metric("m", 1.0)
    assert other.closed
    got = nbtrack.get_run(run.id)
    assert got.status == "finished" and got.params == {"p": 1} and got.metrics == {"m": 1.0}


def test_a_start_lost_with_its_connection_is_written_again(pg_workspace):
    """The start's reply is read at the end: a start sent on a connection the server had closed
    (the send may still succeed) is sent once more on a new one, so the run is complete."""
    with nbtrack.track("warm"):
        pass
    for i in range(3):
        _kill_other_backends(pg_workspace)  # the writer's idle connection dies before the start
        with nbtrack.track("lost", params={"i": i}) as run:
            run.log_metric("m", 2.0)
        got = nbtrack.get_run(run.id)
        assert got.status == "finished" and got.params == {"i": i} and got.metrics == {"m": 2.0}
    assert len(nbtrack.runs(filter="name == 'lost'")) == 3


def test_start_and_end_in_different_threads(pg_workspace):
    """A run started in one thread (its start's reply unread there) and ended in another: the end
    reads that reply first, so the run's rows never overtake its start."""
    import threading

    from nbtrack.capture.run import ActiveRun

    with nbtrack.track("warm"):
        pass
    runs = []
    for i in range(20):
        t = threading.Thread(target=lambda i=i: runs.append(ActiveRun(f"t{i}", "script").start()))
        t.start()
        t.join()
    for run in runs:
        run.log_params({"a": 1})
        run.log_metric("m", 0.5)
        run.end()
    for run in runs:
        got = nbtrack.get_run(run.id)
        assert got.status == "finished" and got.params == {"a": 1} and got.metrics == {"m": 0.5}


def test_a_nul_byte_is_refused_not_cut(pg_workspace, capsys):
    """libpq would cut a text parameter at a NUL byte: refused (PostgreSQL text cannot hold one),
    as a store error the run survives, never stored shortened."""
    with nbtrack.track("warm"):
        pass
    with nbtrack.track("nul", params={"p": "a\x00b"}) as run:
        run.log_metric("m", 1.0)
    assert "cannot contain NUL" in capsys.readouterr().err
    assert nbtrack.get_run(run.id).params == {}  # nothing of the end was written
    with nbtrack.track("nul\x00name"):
        pass
    assert "cannot contain NUL" in capsys.readouterr().err
    assert len(nbtrack.runs(filter="name == 'nul'")) == 1


def test_a_start_lost_by_the_server_is_written_again_at_the_end(pg_workspace):
    """The start commits without waiting for its WAL flush: a server crash right after it loses the
    row (here: deleted behind the run's back). The end notices (a foreign key violation, or no row
    updated) and writes the start again, then itself: the run is complete."""
    with nbtrack.track("warm"):
        pass
    ws = pg_workspace
    for body in (True, False):
        with nbtrack.track("lost", params={"body": body} if body else None) as run:
            pg_direct.settle(ws.meta)
            with ws.meta.read_engine.connect() as conn:
                assert conn.exec_driver_sql("DELETE FROM runs WHERE id = %(r)s", {"r": run.id}).rowcount == 1
            if body:
                run.log_metric("m", 3.0)
        got = nbtrack.get_run(run.id)
        assert got.status == "finished" and got.ended is not None and got.name == "lost"
        assert got.params == ({"body": True} if body else {}) and got.metrics == ({"m": 3.0} if body else {})
        assert run.id not in pg_direct._started  # forgotten once its end is written


def test_a_longer_run_is_sent_at_its_start_and_its_end(pg_workspace):
    """A run lasting longer than DEFER_S: its start is sent (by the scheduler thread, with no
    nbtrack call from the run) and visible while the run is going; the end is one statement."""
    import time

    import psycopg

    with nbtrack.track("warm"):
        pass
    calls = []
    orig = pg_direct._Writer._send
    pg_direct._Writer._send = lambda w, sql, args: (calls.append(sql.split(" ", 1)[0]), orig(w, sql, args))[1]
    url = pg_workspace.meta.url.replace("+psycopg", "")
    try:
        with psycopg.connect(url, autocommit=True) as other, nbtrack.track("slow", params={"a": 1}) as run:
            time.sleep(0.2)  # no nbtrack call: the start is sent within DEFER_S all the same
            assert other.execute("SELECT status FROM runs WHERE id = %s", (run.id,)).fetchone() == ("running",)
            run.log_metric("m", 1.0)
    finally:
        pg_direct._Writer._send = orig
    assert calls == ["INSERT", "WITH"]
    got = nbtrack.get_run(run.id)
    assert got.status == "finished" and got.params == {"a": 1} and got.metrics == {"m": 1.0}


def test_a_cell_run_written_whole_counts_its_version(pg_workspace):
    from nbtrack.capture.run import ActiveRun

    with nbtrack.track("warm"):
        pass
    versions = []
    for i in range(3):
        run = ActiveRun("cell", "cell", cell_key="nb.ipynb::c2").start()
        if i == 1:
            pg_direct.settle(pg_workspace.meta)  # this one's start sent on its own
        run.log_metric("m", float(i))
        run.end()
        versions.append(nbtrack.get_run(run.id).cell_version)
    assert versions == [1, 2, 3]
