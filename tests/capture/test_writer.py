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
