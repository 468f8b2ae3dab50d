"""A forked process starts clean: every module that holds state drops it in the child
(``os.register_at_fork``), so the child opens its own workspace, starts its own threads
and records its own runs (children of the parent's active run)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r'''
import os, sys
import pandas as pd
import nbtrack
from nbtrack import context, workspace
from nbtrack.snapshot import frames

ws = nbtrack.init(sys.argv[1])
df = pd.DataFrame({"x": range(5000)})
with nbtrack.track("outer") as outer:
    nbtrack.snapshot(df, "frame")       # the snapshot thread pool exists
    nbtrack.log_metric("m", 1.0)
    assert ws.memo and frames._pools
    pid = os.fork()
    if pid == 0:
        try:
            mine = nbtrack.get_workspace()
            assert mine is not ws and mine.memo == {}, "the parent's workspace object leaked"
            assert context.active_run() is None and context.default_parent() == outer.id
            assert not frames._pools, "the parent's pool (its threads are gone) leaked"
            with nbtrack.track("child") as child:
                nbtrack.log_metric("x", 2.0)
                nbtrack.snapshot(df.assign(y=1), "frame")
            os._exit(0)
        except BaseException as e:
            print("child:", type(e).__name__, e, flush=True)
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert status == 0, status
    assert context.active_run() is outer  # the parent's stack is untouched
df = nbtrack.runs()
child = df[df.name == "child"].iloc[0]
assert child["parent"] == outer.id and child["metrics.x"] == 2.0, df
assert df[df.name == "outer"].iloc[0]["metrics.m"] == 1.0
print("ok")
'''


def test_a_forked_child_opens_its_own_workspace_threads_and_runs(tmp_path):
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("ok"), out.stdout + out.stderr
