"""Several processes writing to one workspace; a writer killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

import nbtrack
from nbtrack.store.schema import artifacts, latest_metrics, params, runs

WRITER = str(Path(__file__).with_name("writer.py"))


def _counts(ws):
    with ws.meta.read() as conn:
        rows = conn.execute(select(runs.c.id, runs.c.status)).all()
        n_params = dict(conn.execute(select(params.c.run_id, func.count()).group_by(params.c.run_id)).all())
        n_metrics = dict(conn.execute(
            select(latest_metrics.c.run_id, func.count()).group_by(latest_metrics.c.run_id)).all())
        n_arts = dict(conn.execute(select(artifacts.c.run_id, func.count()).group_by(artifacts.c.run_id)).all())
    return rows, n_params, n_metrics, n_arts


@pytest.mark.slow
def test_four_processes_write_1000_complete_runs(workspace):
    procs = [
        subprocess.Popen([sys.executable, WRITER, "250", f"w{i}"], stderr=subprocess.PIPE, text=True)
        for i in range(4)
    ]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    assert not any("locked" in e for e in errors), errors
    rows, n_params, n_metrics, n_arts = _counts(workspace)
    assert len(rows) == 1000
    assert {s for _, s in rows} == {"finished"}
    assert all(n_params[r] == 10 and n_metrics[r] == 10 and n_arts[r] == 1 for r, _ in rows)
    assert nbtrack.fsck().ok
    df = nbtrack.runs(filter="name == 'w3-249'")
    assert df["params.p9"].tolist() == [9 * 249]


def test_sigkill_mid_write_leaves_a_clean_usable_workspace(workspace, tmp_path):
    progress = tmp_path / "progress.txt"
    proc = subprocess.Popen([sys.executable, WRITER, "100000", "victim", "--progress", str(progress)])
    deadline = time.time() + 120
    while time.time() < deadline:
        if progress.exists() and len(progress.read_text().splitlines()) >= 30:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    report = nbtrack.fsck()
    assert report.ok, report.lines()
    rows, n_params, n_metrics, n_arts = _counts(workspace)
    statuses = {s for _, s in rows}
    assert statuses <= {"finished", "interrupted"}, statuses
    for rid, status in rows:
        if status == "finished":
            assert (n_params.get(rid), n_metrics.get(rid), n_arts.get(rid)) == (10, 10, 1)
        else:  # never half-written: an unfinished run has none of its buffered rows
            assert (n_params.get(rid), n_metrics.get(rid), n_arts.get(rid)) == (None, None, None)

    before = len(rows)
    out = subprocess.run([sys.executable, WRITER, "5", "after"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows, *_ = _counts(workspace)
    assert len(rows) == before + 5
    assert nbtrack.fsck().ok
