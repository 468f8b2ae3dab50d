"""meta.db alone is complete after a kernel exits and after an idle period; `nbtrack backup` copies a
workspace in use into a workspace of its own."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest
from click.testing import CliRunner

import nbtrack
from nbtrack.cli import cli
from nbtrack.store import durability


def _runs_in(path) -> int:
    con = sqlite3.connect(path)  # a copy: never a second connection to the live file (see INTERFACES.md)
    try:
        return con.execute("select count(*) from runs").fetchone()[0]
    except sqlite3.OperationalError:  # not even the schema is in the file yet
        return -1
    finally:
        con.close()


def _copy_meta_alone(workspace, tmp_path):
    dest = tmp_path / "copy"
    dest.mkdir(exist_ok=True)
    shutil.copy(workspace.root + "/meta.db", dest / "meta.db")  # no -wal, no -shm
    return dest / "meta.db"


@contextlib.contextmanager
def _held_open(root):
    """Another process keeps meta.db open (a Jupyter server, a second kernel): SQLite's own
    checkpoint when the last connection closes does not happen when the writer exits."""
    subprocess.run([sys.executable, "-c", "import nbtrack; nbtrack.get_workspace(create=True).meta.migrate()"],
                   check=True, env={**os.environ, "NBTRACK_URI": str(root)})
    code = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('select 1 from runs').fetchall(); "
            "print('open', flush=True); sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", code, str(root / "meta.db")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        yield
    finally:
        holder.stdin.close()
        holder.wait(10)


def _meta_alone(root, tmp_path) -> int:
    shutil.copy(root / "meta.db", tmp_path / "copy.db")  # no -wal, no -shm
    return _runs_in(tmp_path / "copy.db")


@pytest.mark.slow
def test_kernel_exit_leaves_every_run_in_meta_db(run_notebook, tmp_path):
    root = tmp_path / "kernel-ws"  # a workspace this test process never opens
    cells = ["%load_ext nbtrack"] + [f"%%track\nx = {i}\nacc = 0.{i}" for i in range(6)]
    with _held_open(root):
        run_notebook(cells, env={"NBTRACK_URI": str(root)})  # nbclient shuts the kernel down at the end
        assert (root / "meta.db-wal").stat().st_size == 0
        assert _meta_alone(root, tmp_path) == 6


def test_idle_store_is_checkpointed(workspace, tmp_path, monkeypatch):
    monkeypatch.setattr(durability, "IDLE_S", 0.2)
    with nbtrack.track("one"):
        nbtrack.log_metric("m", 1)
    with nbtrack.track("two"):
        nbtrack.log_metric("m", 2)
    deadline = time.monotonic() + 5
    while _runs_in(_copy_meta_alone(workspace, tmp_path)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _runs_in(_copy_meta_alone(workspace, tmp_path)) == 2


def test_script_exit_checkpoints(tmp_path):
    code = "import nbtrack\nfor i in range(3):\n    with nbtrack.track(f'r{i}'):\n        nbtrack.log_param('i', i)\n"
    root = tmp_path / "script-ws"
    with _held_open(root):
        subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "NBTRACK_URI": str(root)})
        assert _meta_alone(root, tmp_path) == 3


def test_backup_is_a_complete_workspace(workspace, tmp_path):
    with nbtrack.track("train"):
        nbtrack.log_metric("acc", 0.9)
        nbtrack.snapshot(pd.DataFrame({"a": [1, 2, 3]}), "data")
    dest = tmp_path / "backup"
    out = CliRunner().invoke(cli, ["backup", str(dest)])
    assert out.exit_code == 0, out.output
    assert "object(s) copied" in out.output and sorted(os.listdir(dest)) == ["meta.db", "objects"]
    check = ("import nbtrack; r = nbtrack.runs(); print(len(r), r.name[0]); "
             "print(nbtrack.load('data@1').a.tolist()); print(nbtrack.fsck().ok)")
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                          env={**os.environ, "NBTRACK_URI": str(dest)})
    assert done.stdout.split("\n")[:3] == ["1 train", "[1, 2, 3]", "True"], done.stderr
    again = CliRunner().invoke(cli, ["backup", str(dest)])
    assert again.exit_code != 0 and "already exists" in again.output
