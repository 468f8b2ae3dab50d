"""Fault injection (issue 12): locked database for 30 s, Ctrl-C mid-capture, read-only workspace,
full disk  x  (a tracked cell in a real kernel, ``track()`` in a script).

Each must leave the code's behaviour unchanged, print at most one ``nbtrack`` line, never freeze a
cell for more than ~1 s, and leave no run ``running``.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import nbtrack
from nbhelpers import Kernel
from nbtrack import workspace as ws_mod

SCRIPT = """
import nbtrack
with nbtrack.track("script") as run:
    nbtrack.log_param("lr", 0.1)
    nbtrack.log_metric("acc", 0.75)
    print("script body ran", flush=True)
print("after the run")
"""
CELL = "%%track cell{i}\nlr = 0.{i}\nacc = lr * 2\nprint('cell {i} ran')"


def script(folder: Path, code: str = SCRIPT, **kw) -> subprocess.Popen:
    env = {**os.environ, "NBTRACK_URI": str(folder / ".nbtrack")}
    return subprocess.Popen([sys.executable, "-c", code], cwd=folder, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def nbtrack_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "nbtrack" in line]


def statuses(folder: Path) -> dict[str, str]:
    ws_mod.reset_cache()
    ws = ws_mod.get_workspace(start=folder)
    df = nbtrack.runs(workspace=ws)
    ws_mod.reset_cache()
    return dict(zip(df["name"], df["status"]))


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.delenv("NBTRACK_PARENT_RUN", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    ws_mod.reset_cache()
    ws_mod.init(tmp_path)
    ws_mod.reset_cache()
    yield tmp_path
    ws_mod.reset_cache()


@pytest.mark.slow  # issue 19: kept out of the fast subset (README)
def test_locked_database_for_30s_freezes_nothing_and_loses_nothing(folder):
    kernel = Kernel(folder)
    try:
        assert kernel.run("%load_ext nbtrack")[3] is None
        assert kernel.run(CELL.format(i=0))[1] == "cell 0 ran\n"  # warm: the workspace is open
        db = sqlite3.connect(folder / ".nbtrack" / "meta.db", isolation_level=None, timeout=60,
                             check_same_thread=False)
        db.execute("BEGIN EXCLUSIVE")
        release = threading.Timer(30, lambda: db.execute("COMMIT"))
        release.start()
        t_lock = time.monotonic()
        proc = script(folder)
        for i in (1, 2, 3):
            seconds, out, err, ename = kernel.run(CELL.format(i=i))
            assert ename is None and out == f"cell {i} ran\n"
            assert seconds < 3, f"cell {i} froze for {seconds:.1f} s"  # was 30 s; ~0.5 s unloaded
            assert len(nbtrack_lines(err)) <= 1 and "Traceback" not in err
        assert time.monotonic() - t_lock < 25  # all of this happened while the lock was held
        stdout, stderr = proc.communicate(timeout=90)  # the script writes its run at exit, once free
        assert proc.returncode == 0 and stdout == "script body ran\nafter the run\n"
        assert len(nbtrack_lines(stderr)) <= 1
        release.join()
        kernel.run("import time; time.sleep(1.5)")  # the kernel's background writer retries
        assert statuses(folder) == {"cell0": "finished", "cell1": "finished", "cell2": "finished",
                                    "cell3": "finished", "script": "finished"}
        ws_mod.reset_cache()
        ws = ws_mod.get_workspace(start=folder)
        df = nbtrack.runs(workspace=ws)
        run = nbtrack.get_run(df[df["name"] == "cell3"].id.iloc[0], workspace=ws)
        assert run.params == {"lr": 0.3} and run.metrics == {"acc": 0.6} and run.stdout == "cell 3 ran\n"
    finally:
        kernel.close()


# Timing: SIGINT must land while nbtrack records; on a loaded CI machine it sometimes lands after.
@pytest.mark.flaky(reruns=2, reruns_delay=1)
def test_ctrl_c_mid_capture_closes_the_run_as_interrupted(folder, monkeypatch):
    # snapshots on the cell's path (in the background the cell would be done before the Ctrl-C)
    monkeypatch.setenv("NBTRACK_BACKGROUND_SNAPSHOTS", "0")
    kernel = Kernel(folder)
    try:
        kernel.run("%load_ext nbtrack\nimport pandas as pd, numpy as np\n"
                   "base = pd.DataFrame(np.random.rand(6_000_000, 6))")
        fired = []

        def interrupt(text):  # the body is done: nbtrack is now snapshotting df in post_run_cell
            if "body done" in text and not fired:
                fired.append(1)
                threading.Timer(0.1, kernel.km.interrupt_kernel).start()

        _, out, err, ename = kernel.run("%%track big\ndf = base * 2\nprint('body done', flush=True)", interrupt)
        assert fired and out == "body done\n" and ename is None and "Traceback" not in err
        assert nbtrack_lines(err) == ["nbtrack: interrupted while recording the run; it was closed as interrupted"]
        assert kernel.run(CELL.format(i=1))[1] == "cell 1 ran\n"  # the next cell is tracked as usual
    finally:
        kernel.close()
    # a script interrupted inside track(): the run is closed, never left running
    # SIGINT's default handler restored: a test run started in the background (`cmd &` in a script)
    # inherits SIGINT ignored, and Python then never raises KeyboardInterrupt
    proc = script(folder, "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
                          "import nbtrack, time\nwith nbtrack.track('slow'):\n    print('in', flush=True)\n"
                          "    time.sleep(60)\n")
    assert proc.stdout.readline() == "in\n"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode != 0 and "KeyboardInterrupt" in stderr
    assert statuses(folder) == {"big": "interrupted", "cell1": "finished", "slow": "interrupted"}


@pytest.mark.parametrize("fault", ["read-only", "full-disk"])
def test_unwritable_workspace_changes_nothing_but_one_line(fault, tmp_path, monkeypatch):
    monkeypatch.delenv("NBTRACK_PARENT_RUN", raising=False)
    folder = tmp_path / "ws"
    folder.mkdir()
    if fault == "full-disk" and not _mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        ws_mod.reset_cache()
        ws_mod.init(folder)
        ws_mod.reset_cache()
        kernel = Kernel(folder)
        try:
            kernel.run("%load_ext nbtrack")
            assert kernel.run(CELL.format(i=0))[1] == "cell 0 ran\n"
            if fault == "read-only":
                if not (_mount("--bind", str(folder), str(folder)) and _mount("-o", "remount,bind,ro", str(folder))):
                    pytest.skip("needs root to bind-mount the workspace read-only")
            else:
                fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)  # fill the disk to the last byte
                for chunk in (65536, 1):
                    try:
                        while True:
                            os.write(fd, b"\0" * chunk)
                    except OSError:
                        pass
                os.close(fd)
            for i in (1, 2):
                seconds, out, err, ename = kernel.run(CELL.format(i=i) + "\nbig = list(range(10000))")
                assert ename is None and out == f"cell {i} ran\n" and seconds < 5
                assert len(nbtrack_lines(err)) <= 1 and "Traceback" not in err
            proc = script(folder)
            stdout, stderr = proc.communicate(timeout=60)
            assert proc.returncode == 0 and stdout == "script body ran\nafter the run\n", stderr
            assert len(nbtrack_lines(stderr)) <= 1 and "Traceback" not in stderr, stderr
        finally:
            kernel.close()
        if fault == "full-disk":
            os.remove(folder / "filler")
            assert "running" not in statuses(folder).values()
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)
    if fault == "read-only":
        assert "running" not in statuses(folder).values()
