"""capture/writer.py: run writes wait at most SHORT_WAIT_S for a locked SQLite database, then are
queued and written in order by a background thread once the lock clears."""

from __future__ import annotations

import sqlite3
import time

import nbtrack
from nbtrack.capture import writer


def test_a_locked_database_queues_run_writes_in_order(workspace, tmp_path):
    db = sqlite3.connect(tmp_path / ".nbtrack" / "meta.db", isolation_level=None, timeout=60)
    with nbtrack.track("warm"):
        pass
    db.execute("BEGIN EXCLUSIVE")
    t0 = time.monotonic()
    with nbtrack.track("first") as first:
        nbtrack.log_metric("acc", 0.5)
    with nbtrack.track("second") as second:
        nbtrack.log_param("lr", 0.1)
    assert time.monotonic() - t0 < 1.5  # one short wait, then everything queues behind it
    assert first.deferred and second.deferred and writer.pending() >= 4
    assert list(nbtrack.runs()["name"]) == ["warm"]  # readers are not blocked, nothing half-written
    db.execute("COMMIT")
    assert writer.flush(10) and writer.pending() == 0
    df = nbtrack.runs(order_by="started")
    assert list(df["name"]) == ["warm", "first", "second"] and set(df["status"]) == {"finished"}
    assert nbtrack.get_run(first.id).metrics == {"acc": 0.5}
    assert nbtrack.get_run(second.id).params == {"lr": 0.1}


def test_a_pipeline_run_is_not_deferred(workspace):
    from nbtrack.capture.run import ActiveRun

    assert ActiveRun("p", "pipeline").defer is False  # its row must exist before it goes on


def test_writes_left_waiting_by_a_process_that_died_are_applied_by_the_next(workspace, tmp_path):
    import os
    import subprocess
    import sys

    db = sqlite3.connect(tmp_path / ".nbtrack" / "meta.db", isolation_level=None, timeout=60)
    db.execute("BEGIN EXCLUSIVE")
    code = ("import nbtrack\nwith nbtrack.track('lost'):\n    nbtrack.log_param('lr', 0.1)\n"
            "    nbtrack.log_metric('acc', 0.5)\nprint('done', flush=True)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "NBTRACK_URI": str(tmp_path / ".nbtrack")})
    assert proc.stdout.readline() == "done\n"  # its run waits for the lock, kept in pending/
    pending = tmp_path / ".nbtrack" / "pending"
    assert len(list(pending.glob("*.json"))) == 2  # the start and the end
    proc.kill()  # a kernel restarted while another process held the lock
    proc.wait()
    db.execute("COMMIT")
    with nbtrack.track("next"):
        pass
    df = nbtrack.runs(order_by="started")
    assert list(zip(df["name"], df["status"])) == [("lost", "finished"), ("next", "finished")]
    lost = nbtrack.get_run(df.id.iloc[0])
    assert lost.params == {"lr": 0.1} and lost.metrics == {"acc": 0.5}
    assert not list(pending.glob("*.json"))
