"""The store rows of issue 12's fault-injection matrix.

(read-only workspace, full disk, corrupt object, truncated database) x (snapshot,
``nbtrack run``, CLI reads): at most one error line, nothing left half-written,
and ``fsck`` clean afterwards or naming the damage. The read-only workspace is a
read-only bind mount and the full disk a 3 MB tmpfs (root only; skipped with the
reason otherwise). The other columns (tracked cells, ``track()`` in scripts) are in
the capture tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from storefaults import damage_db

import nbtrack
from nbtrack import workspace as ws_mod
from nbtrack.cli import cli
from nbtrack.errors import NbtrackError

NOISY = Path(__file__).parent.parent / "notebooks" / "noisy.ipynb"
if "jsonschema" not in sys.modules:  # as the CLI does: skip a grammar notebook validation never uses (~seconds)
    sys.modules.setdefault("rfc3987_syntax", None)
FRAME = pd.DataFrame({"a": np.arange(50_000)})


def _mount(args: list[str]) -> None:
    out = subprocess.run(["mount", *args], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"cannot mount ({out.stderr.strip() or 'not root'}): the read-only and full-disk rows need it")


@pytest.fixture
def mounts():
    done: list[Path] = []
    yield done
    for m in reversed(done):
        subprocess.run(["umount", "-l", str(m)], capture_output=True)


def _build(folder: Path, monkeypatch) -> str:
    """A workspace with a run, a dataset and an approved pipeline; returns the run id."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(NOISY, folder / "noisy.ipynb")
    monkeypatch.setenv("NBTRACK_URI", str(folder / ".nbtrack"))
    ws_mod.reset_cache()
    ws_mod.init(folder)
    with nbtrack.track("r", source="x = 1\n") as run:
        run.log_metric("acc", 1.0)
    nbtrack.snapshot(FRAME, "frame")
    nbtrack.approve(str(folder / "noisy.ipynb"), name="noisy", reason="matrix")
    ws_mod.reset_cache()
    return run.id


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _snapshot(capsys) -> list[str]:
    """The snapshot column: one nbtrack error (a one-line message) or success, no warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            nbtrack.snapshot(pd.DataFrame({"a": np.random.default_rng(7).normal(size=200_000)}), "frame2")
            msg = []
        except NbtrackError as e:
            msg = [f"Error: {e}"]
    out = capsys.readouterr()
    lines = msg + _lines(out.out) + _lines(out.err) + [str(w.message) for w in caught]
    assert len(lines) <= 1 and "\n" not in "".join(msg), lines
    return lines


def _cli(*args: str) -> tuple[int, list[str]]:
    res = CliRunner().invoke(cli, list(args))
    assert res.exception is None or isinstance(res.exception, SystemExit), (args, res.output)
    return res.exit_code, _lines(res.output)


def _run_column() -> list[str]:
    code, lines = _cli("run", "noisy")
    assert code != 0 and len(lines) == 1 and lines[0].startswith("Error: "), lines
    return lines


def _settled(folder: Path, run_id: str) -> list[str]:
    """After the fault is gone: no temporary file, no run left running; fsck's verdict."""
    ws_mod.reset_cache()
    ws = ws_mod.get_workspace()
    assert not [p for kind, _, p in ws.objects.leftovers() if kind == "temporary"]
    assert "running" not in set(nbtrack.runs(limit=None).status)
    return nbtrack.fsck().lines()


def test_read_only_workspace(tmp_path, monkeypatch, mounts, capsys):
    run_id = _build(tmp_path / "ws", monkeypatch)
    ro = tmp_path / "ro"
    ro.mkdir()
    _mount(["--bind", str(tmp_path / "ws"), str(ro)])
    mounts.append(ro)
    _mount(["-o", "remount,bind,ro", str(ro)])
    monkeypatch.setenv("NBTRACK_URI", str(ro / ".nbtrack"))
    ws_mod.reset_cache()
    assert "Read-only file system" in _snapshot(capsys)[0]
    assert "Read-only" in _run_column()[0]
    for args in (["runs"], ["show", run_id], ["datasets"], ["gc"]):
        code, lines = _cli(*args)
        assert code == 0, (args, lines)
    code, lines = _cli("fsck")
    assert code == 0 and lines[-1] == "workspace is clean" and any("read-only" in line for line in lines)
    pd.testing.assert_frame_equal(nbtrack.load("frame"), FRAME)
    monkeypatch.setenv("NBTRACK_URI", str(tmp_path / "ws" / ".nbtrack"))
    assert _settled(tmp_path / "ws", run_id)[-1] == "workspace is clean"


def test_full_disk(tmp_path, monkeypatch, mounts, capsys):
    disk = tmp_path / "disk"
    disk.mkdir()
    _mount(["-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)])
    mounts.append(disk)
    run_id = _build(disk / "ws", monkeypatch)
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    assert "full" in _snapshot(capsys)[0]
    assert "full" in _run_column()[0]
    for args in (["runs"], ["show", run_id], ["datasets"]):  # meta.db is read as a snapshot meanwhile
        code, lines = _cli(*args)
        assert code == 0 and "Error" not in "".join(lines), (args, lines)
    code, lines = _cli("fsck")
    assert code == 0 and lines[-1] == "workspace is clean" and any("full disk" in line for line in lines)
    ws_mod.reset_cache()
    capsys.readouterr()
    with nbtrack.track("blocked"):  # a script's run: one line, the code runs
        pass
    err = _lines(capsys.readouterr().err)
    assert len(err) == 1 and "is full: free some space" in err[0], err
    meta = ws_mod.get_workspace().meta
    assert meta.read_only == "full"
    filler.unlink()
    with meta.write() as conn:  # the same process writes again once space is freed
        conn.exec_driver_sql("SELECT 1")
    assert meta.read_only is None
    assert _settled(disk / "ws", run_id)[-1] == "workspace is clean"
    pd.testing.assert_frame_equal(nbtrack.load("frame"), FRAME)


def test_corrupt_objects(tmp_path, monkeypatch, capsys):
    run_id = _build(tmp_path / "ws", monkeypatch)
    ws = ws_mod.get_workspace()
    from nbtrack.store.schema import dataset_chunks, pipeline_versions

    with ws.meta.read() as conn:
        nb_oid = conn.execute(pipeline_versions.select()).first().notebook_oid
        chunk = conn.execute(dataset_chunks.select()).first().oid  # a chunk of frame@1, not any object
    for oid in (nb_oid, chunk):
        os.chmod(ws.objects.path(oid), 0o644)
        with open(ws.objects.path(oid), "r+b") as f:
            f.write(b"XX")
    assert _snapshot(capsys) == []
    line = _run_column()[0]
    assert nb_oid in line and "corrupt" in line and "nbtrack fsck" in line
    for args in (["runs"], ["show", run_id], ["datasets"]):
        assert _cli(*args)[0] == 0, args
    code, lines = _cli("datasets", "show", "frame", "--stats", "1")
    assert code == 0 or (len(lines) == 1 and "corrupt" in lines[0])
    code, lines = _cli("fsck")
    assert code == 1 and any(f"CORRUPT {nb_oid}" in line and "pipeline noisy@1" in line for line in lines)
    assert any(f"CORRUPT {chunk}" in line and "dataset frame@1" in line for line in lines)
    assert nbtrack.snapshot(FRAME, "frame_again")  # the same healthy content repairs the chunk
    report = _settled(tmp_path / "ws", run_id)
    assert not any(chunk in line for line in report) and any(nb_oid in line for line in report)
    pd.testing.assert_frame_equal(nbtrack.load("frame"), FRAME)


def test_truncated_database(tmp_path, monkeypatch, capsys):
    _build(tmp_path / "ws", monkeypatch)
    ws = ws_mod.get_workspace()
    damage_db(ws, "truncated")
    assert "is damaged" in _snapshot(capsys)[0]
    assert "is damaged" in _run_column()[0]
    for args in (["runs"], ["datasets"], ["show", "abc"]):
        code, lines = _cli(*args)
        assert code == 1 and len(lines) == 1 and "is damaged" in lines[0] and ".recover" in lines[0]
    code, lines = _cli("fsck")
    assert code == 1 and "is damaged" in lines[0] and lines[-1] == "workspace has problems"
    assert not [p for kind, _, p in ws_mod.get_workspace().objects.leftovers() if kind == "temporary"]
