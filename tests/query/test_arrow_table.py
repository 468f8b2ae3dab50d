"""``runs()`` of a large SQLite workspace read through Arrow (a forked child with the ADBC driver):
the same DataFrame as the sqlite3 path, committed data seen while writers write, nothing written
by the reader, a fallback to sqlite3 for anything unexpected."""

from __future__ import annotations

import math
import os
import random
import sqlite3
import subprocess
import sys
import threading

import pandas as pd
import pytest

import nbtrack
from nbtrack.query import arrow_fetch, arrow_table

pytest.importorskip("adbc_driver_sqlite")
pytestmark = pytest.mark.skipif(not arrow_fetch.available(), reason="the Arrow path needs Linux and the driver")

VALUES = [None, True, False, 0, -7, 2**70, -(2**63), 2**63 - 1, 3.5, float("inf"), float("-inf"), float("nan"),
          1e-300, 0.30000000000000004, -0.0, "", "a,b", 'q"uote', "new\nline", "ünï", "1", "True", "null",
          [1, 2], {"a": [None, 1.5]}, [], {"k": "v"}, 7, 12]


def same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Equal to the dtype and to the Python type of every value (NaN where NaN, None where None)."""
    assert list(a.columns) == list(b.columns)
    assert list(a.dtypes) == list(b.dtypes), (a.dtypes, b.dtypes)
    for col in a.columns:
        for x, y in zip(a[col].tolist(), b[col].tolist(), strict=True):
            if isinstance(x, float) and math.isnan(x):
                assert isinstance(y, float) and math.isnan(y), col
            else:
                assert x == y and type(x) is type(y), (col, x, y)
    pd.testing.assert_frame_equal(a, b)


@pytest.fixture
def both(monkeypatch):
    """``both(**kw)``: runs(**kw) through Arrow (checked to be taken) and through sqlite3."""
    taken = []
    read = arrow_table.read

    def spy(*a, **kw):
        df = read(*a, **kw)
        taken.append(df is not None)
        return df

    monkeypatch.setattr(arrow_table, "read", spy)

    def run(expect_arrow: bool = True, **kw):
        monkeypatch.setattr(arrow_table, "ARROW_MIN", 0)
        taken.clear()
        fast = nbtrack.runs(**kw)
        assert taken == [expect_arrow], (kw, taken, arrow_fetch.last_error)
        monkeypatch.setattr(arrow_table, "ARROW_MIN", 10**12)
        slow = nbtrack.runs(**kw)
        return fast, slow

    return run


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_frame_as_sqlite3_on_awkward_data(workspace, both, seed):
    rnd = random.Random(seed)
    keys = ["a", "b", "model.clf.C", "mixed"]
    for i in range(60):
        ps = {k: rnd.choice(VALUES) for k in keys if rnd.random() < 0.7}
        ps["n"] = i % 5  # an int column, every run
        if i % 4:
            ps["sometimes"] = i  # ints with missing: float64
        ps["f"] = rnd.choice([0.1, 1e300, float("nan"), -2.5, 7.0])
        ps["flag"] = i % 3 == 0
        ps["s"] = rnd.choice(["rf", "svm", "ünï"])
        if i % 2:
            ps["s_some"] = f"v{i}"
        if i % 7 == 0:
            ps = {}  # a run with no params at all
        with nbtrack.track(f"r{i}" if i % 9 else None, params=ps) as run:
            for m in ("acc", "loss", "z"):
                if rnd.random() < 0.6:
                    run.log_metric(m, rnd.choice([0.1, 0.30000000000000004, 1e300, -2.5, float("nan"), 7, -0.0]))
            if i % 10 == 3:
                with nbtrack.track("child", params={"n": 1}):
                    pass
    for kw in [{}, {"limit": 0}, {"model_params": True}, {"experiment": "default"}, {"limit": 50, "offset": 3},
               {"filter": "metrics.acc > 0", "order_by": "metrics.acc desc"},
               {"filter": "params.n >= 2", "order_by": "name", "model_params": True},
               {"filter": "params.s == 'ünï'"}, {"status": ["finished", "failed"]}]:
        fast, slow = both(**kw)
        same(fast, slow)
    fast, slow = both(False, filter="params.n > 100")  # nothing matches: read by sqlite3
    assert fast.empty and slow.empty and list(fast.columns) == list(slow.columns)


def test_big_ints_json_and_none_only_columns(workspace, both):
    for i in range(5):
        with nbtrack.track(f"r{i}", params={"big": 2**80 + i, "j": {"x": [i]}, "nothing": None, "lr": 10 ** -i,
                                            "i64": 2**63 - 1 - i}):
            pass
    fast, slow = both(order_by="name")
    same(fast, slow)
    assert fast["params.big"].tolist() == [2**80 + i for i in range(5)]
    assert str(fast["params.i64"].dtype) == "int64" and fast["params.nothing"].tolist() == [None] * 5


def test_unexpected_types_fall_back_to_sqlite3(workspace, both, monkeypatch):
    """A BLOB in a text column, text in a REAL column: SQLite stores them, Arrow would type the
    column differently; the table is read with sqlite3 instead."""
    for i in range(3):
        with nbtrack.track(f"r{i}", params={"p": f"s{i}"}) as run:
            run.log_metric("m", 0.5)
    path = nbtrack.get_workspace().meta.url.split(":///", 1)[1]
    db = sqlite3.connect(path)
    db.execute("UPDATE params SET value = ? WHERE value = 's1'", (b"\x00\x01",))
    db.commit()
    fast, slow = both(expect_arrow=False)
    same(fast, slow)
    db.execute("UPDATE params SET value = 's1' WHERE typeof(value) = 'blob'")
    db.execute("UPDATE latest_metrics SET value = 'text' WHERE key = 'm'")  # stays text in a REAL column
    db.commit()
    db.close()
    monkeypatch.setattr(arrow_table, "ARROW_MIN", 0)
    with pytest.raises(ValueError, match="could not convert string to float"):  # as sqlite3 reads it
        nbtrack.runs()


def test_reader_writes_nothing(workspace, monkeypatch):
    """The child opens the file read-only: no checkpoint, no journal-mode change, no schema."""
    for i in range(20):
        with nbtrack.track(f"r{i}", params={"i": i}):
            pass
    path = nbtrack.get_workspace().meta.url.split(":///", 1)[1]
    before = (os.stat(path).st_mtime_ns, os.path.getsize(path), os.path.getsize(path + "-wal"))
    assert before[2] > 0  # committed pages still in the WAL: a checkpoint would move them
    def open_here() -> list[str]:  # this process's descriptors of the database files
        fds = (os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd") if fd.isdigit()
               and os.path.exists(f"/proc/self/fd/{fd}"))
        return sorted(f for f in fds if f.startswith(os.path.realpath(path)))

    nbtrack.runs()  # sqlite3 (the workspace is small): this process's own connections are open
    mine = open_here()
    monkeypatch.setattr(arrow_table, "ARROW_MIN", 0)
    tables = arrow_fetch.fetch(path, [("SELECT count(*) FROM runs", [])])
    assert tables is not None and tables[0].column(0).to_pylist() == [20]
    assert len(nbtrack.runs()) == 20
    assert open_here() == mine  # the driver's SQLite never opened the database in this process
    assert (os.stat(path).st_mtime_ns, os.path.getsize(path), os.path.getsize(path + "-wal")) == before
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    bad = arrow_fetch.fetch(path, [("SELECT * FROM no_such_table", [])])
    assert bad is None  # an error in the child: None, the caller reads with sqlite3
    assert arrow_fetch.fetch(path, [("INSERT INTO experiments(name, created) VALUES ('x', 0)", [])]) is None
    assert sqlite3.connect(path).execute("SELECT count(*) FROM experiments WHERE name = 'x'").fetchone() == (0,)


WRITER = r"""
import sys, nbtrack
nbtrack.use_workspace(sys.argv[1])
for i in range(int(sys.argv[2])):
    with nbtrack.track(f"w{i}", params={"i": i, "tag": "w"}) as run:
        run.log_metric("m", float(i))
"""


def test_reads_committed_data_while_writers_write(workspace, monkeypatch):
    """A writer process and a writer thread of this process commit runs while the Arrow path reads:
    every table is one consistent snapshot (each run with its params and metric), never loses a
    run committed before the read began, this process's own sqlite3 connections keep working, and
    the database stays intact."""
    monkeypatch.setattr(arrow_table, "ARROW_MIN", 0)
    with nbtrack.track("seed", params={"i": -1, "tag": "w"}) as run:
        run.log_metric("m", -1.0)
    ws = nbtrack.get_workspace()
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(ws.root), "150"])
    stop = threading.Event()
    mine: list[str] = []

    def write_here():
        i = 0
        while not stop.is_set() and i < 300:
            with nbtrack.track(f"t{i}", params={"i": i, "tag": "w"}) as r:
                r.log_metric("m", float(i))
            mine.append(r.id)
            i += 1

    t = threading.Thread(target=write_here)
    t.start()
    seen = 0
    try:
        reads = 0
        while proc.poll() is None or reads < 3:
            committed = set(mine)
            df = nbtrack.runs(limit=0)
            reads += 1
            assert len(df) >= seen
            seen = len(df)
            assert committed <= set(df["id"]), "a run committed before the read is missing"
            done = df[df["status"] == "finished"]  # a running run may not have its params yet
            assert len(done) >= len(df) - 2 and set(committed) <= set(done["id"])
            assert done["params.i"].notna().all() and done["metrics.m"].notna().all()
            assert (done["params.tag"] == "w").all()
            assert df["id"].is_unique
    finally:
        stop.set()
        t.join()
        proc.wait(timeout=120)
    assert proc.returncode == 0
    df = nbtrack.runs(limit=0)
    assert len(df) == 1 + 150 + len(mine) and set(mine) <= set(df["id"])
    path = ws.meta.url.split(":///", 1)[1]
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_small_workspace_never_imports_the_driver(workspace, tmp_path):
    """The cold path: a small table is read with sqlite3 and the driver is not even imported."""
    code = ("import sys, nbtrack\n"
            "with nbtrack.track('a', params={'x': 1}):\n    pass\n"
            "df = nbtrack.runs(limit=0)\n"
            "assert len(df) == 1, df\n"
            "assert 'adbc_driver_sqlite' not in sys.modules and 'adbc_driver_manager' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path,
                   env={**os.environ, "NBTRACK_URI": str(tmp_path / "other" / ".nbtrack")})


def test_switch_off(monkeypatch):
    monkeypatch.setenv("NBTRACK_ARROW_READ", "0")
    assert not arrow_fetch.available()


def test_in_a_kernel(tmp_path):
    """Inside a real IPython kernel (zmq threads, a tracked cell's writer): the forked reader gives
    the sqlite3 path's table and the kernel keeps running cells."""
    from nbhelpers import Kernel

    k = Kernel(tmp_path)
    try:
        _, out, err, ename = k.run(
            "import nbtrack, pandas as pd\n"
            "from nbtrack.query import arrow_table, arrow_fetch\n"
            "for i in range(30):\n"
            "    with nbtrack.track(f'r{i}', params={'i': i, 's': str(i), 'f': i / 3}) as r:\n"
            "        r.log_metric('m', i / 7)\n"
            "arrow_table.ARROW_MIN = 0\n"
            "fast = nbtrack.runs()\n"
            "arrow_table.ARROW_MIN = 10**12\n"
            "slow = nbtrack.runs()\n"
            "pd.testing.assert_frame_equal(fast, slow)\n"
            "print('rows', len(fast), repr(arrow_fetch.last_error), arrow_fetch.available())\n")
        assert ename is None, err
        assert "rows 30 '' True" in out
        _, out, _, ename = k.run("print(1 + 1)")
        assert ename is None and out.strip() == "2"
    finally:
        k.close()
