"""The opt-in timeline: marks from any thread, and a reader that never tracebacks."""

from __future__ import annotations

import subprocess
import sys
import threading

from nbtrack.pipeline import timeline


def test_marks_from_a_named_thread_read_back_in_order(tmp_path, monkeypatch):
    path = tmp_path / "t.log"
    monkeypatch.setenv(timeline.ENV, str(path))
    timeline.mark("first", n=1)
    t = threading.Thread(target=lambda: timeline.mark("second"), name="Thread-9 (worker)")
    t.start()
    t.join()
    with open(path, "a") as f:
        f.write("garbage {\n")
    lines = timeline.show(str(path)).splitlines()
    assert lines[0].split()[-3:-1] == ["first", "n=1"]
    assert "Thread-9_(worker)" in lines[1] and lines[1].split()[-2] == "second"
    cpu = [float(line.split()[-1].removeprefix("cpu=")) for line in lines[:2]]  # this process's CPU, ms
    assert 0 < cpu[0] <= cpu[1]
    assert lines[-1] == f"(1 line(s) of {path} are not timeline events: skipped)"


def test_unset_marks_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(timeline.ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    timeline.mark("nothing")
    assert list(tmp_path.iterdir()) == []


def test_cli_missing_file_and_usage_are_one_line_errors(tmp_path):
    cmd = [sys.executable, "-m", "nbtrack.pipeline.timeline"]
    out = subprocess.run(cmd + [str(tmp_path / "none")], capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == f"error: cannot read {tmp_path / 'none'}: No such file or directory"
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "usage:" in out.stderr
