"""One sweep per study: a second process is refused while the first runs; a killed holder blocks nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import nbtrack
from nbtrack.cli import cli
from nbtrack.errors import InvalidInput
from nbtrack.pipeline import study as study_mod
from nbtrack.pipeline.study_lock import StudyLock

optuna = pytest.importorskip("optuna")
sys.path.insert(0, str(Path(__file__).parent))
import tuning_notebook  # noqa: E402

HOLD = """
import json, sys, time
from nbtrack.pipeline.study_lock import StudyLock
lock = StudyLock(sys.argv[1], json.loads(sys.argv[2]), sys.argv[3])
lock.acquire(lambda: "the holder")
print("held", flush=True)
time.sleep(600)
"""


def _holder(url: str, kwargs: dict, name: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, url, json.dumps(kwargs), name],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    assert line.strip() == "held", proc.stderr.read() if proc.stderr else ""
    return proc


def _lock_outlives_nothing(ws) -> None:
    url, kwargs = study_mod.storage_url(ws)
    proc = _holder(url, kwargs, "s1")
    try:
        with pytest.raises(InvalidInput, match="study 's1' is being run by the holder") as e:
            StudyLock(url, kwargs, "s1").acquire(lambda: "the holder")
        assert "\n" not in str(e.value) and "--study" in str(e.value)
        with StudyLock(url, kwargs, "s2") as other:  # another study is free
            other.acquire()
            with pytest.raises(InvalidInput, match="study 's2' is being run by"):  # ... but once per process too
                StudyLock(url, kwargs, "s2").acquire()
        with StudyLock(url, kwargs, "s2") as other:  # released: free again
            other.acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    deadline = time.monotonic() + 10  # the server (PostgreSQL) may take a moment to see the session gone
    while True:
        try:
            with StudyLock(url, kwargs, "s1") as lock:
                lock.acquire()
            break
        except InvalidInput:
            assert time.monotonic() < deadline, "a killed holder still blocks the study"
            time.sleep(0.2)


def test_sqlite_lock_refuses_a_second_holder_and_dies_with_a_killed_one(workspace):
    _lock_outlives_nothing(workspace)
    assert (Path(workspace.root) / "studies").is_dir()


def test_postgresql_lock_refuses_a_second_holder_and_dies_with_a_killed_one(pg_workspace):
    _lock_outlives_nothing(pg_workspace)


def test_a_second_sweep_on_a_running_study_is_refused_and_the_first_goes_on(approve, workspace, tmp_path):
    tuning_notebook.write(tmp_path / "tune.ipynb")
    approve("tune.ipynb", "tune")
    cmd = [sys.executable, "-m", "nbtrack", "sweep", "tune", "--optuna", "--trials", "2",
           "--objective", "metrics.accuracy max", "-p", "C", "log:1e-1..1e2", "-p", "steps", "1",
           "-p", "sleep", "4", "--seed", "1"]
    env = {**os.environ, "NBTRACK_URI": workspace.root}
    first = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    storage = f"sqlite:///{workspace.root}/optuna.db"
    deadline = time.monotonic() + 240
    while True:  # until the first sweep has a trial running
        assert first.poll() is None, first.stderr.read() if first.stderr else ""
        assert time.monotonic() < deadline
        try:
            if any(t.state.name == "RUNNING" for t in optuna.load_study(study_name=None, storage=storage).trials):
                break
        except Exception:
            pass
        time.sleep(0.3)
    second = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 2, second.stderr
    assert len(second.stderr.strip().splitlines()) == 1, second.stderr
    assert "is being run by pid " in second.stderr and str(first.pid) in second.stderr
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-3000:]
    trials = optuna.load_study(study_name=None, storage=storage).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]  # nothing failed by the second one
    sweeps = nbtrack.runs(kind="sweep")
    assert len(sweeps) == 1 and len(nbtrack.runs(parent=sweeps.id[0])) == 2
    # the study is free again: the same command resumes (nothing left to run)
    again = CliRunner().invoke(cli, cmd[3:])
    assert again.exit_code == 0, again.output
