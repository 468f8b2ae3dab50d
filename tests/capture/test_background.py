"""Snapshots off the cell's path (capture/background.py), in real kernels.

A gate in the kernel holds the background writer before it encodes (the real
``encode_frame`` runs once the gate opens), so what a run shows while its
snapshots are pending is observed deterministically.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from sqlalchemy import select

import nbtrack
from nbhelpers import Kernel
from nbtrack import workspace as ws_mod
from nbtrack.store.schema import dataset_versions, lineage, model_versions

pytestmark = pytest.mark.slow

GATE = """\
import threading, json, numpy as np, pandas as pd, nbtrack
import nbtrack.snapshot.datasets as _datasets
from nbtrack.capture import background as _bg
gate = threading.Event()
_encode = _datasets.encode_frame
def _gated(*a, **k):
    gate.wait(60)
    return _encode(*a, **k)
_datasets.encode_frame = _gated
rng = np.random.default_rng(0)
base = pd.DataFrame({"a": rng.normal(size=5000), "b": rng.normal(size=5000)})
"""

STATUS = "print(json.dumps(nbtrack.runs(order_by='started')[['name', 'status']].values.tolist()))"


@pytest.fixture
def kernel(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("NBTRACK_BACKGROUND_MIN_BYTES", "0")  # every frame goes to the background writer
    k = Kernel(tmp_path)
    yield k
    try:
        k.close()
    except Exception:
        pass


def run(k: Kernel, code: str) -> str:
    _t, out, err, ename = k.run(code)
    assert ename is None, (code, out, err)
    assert "nbtrack:" not in err, (code, err)
    return out


def statuses(k: Kernel) -> dict[str, str]:
    return dict(json.loads(run(k, STATUS).strip().splitlines()[-1]))


def test_pending_frames_lineage_and_later_in_place_edits(kernel, workspace):
    run(kernel, "%load_ext nbtrack")
    run(kernel, GATE)
    run(kernel, "%%track make\ndf = base * 2.0")
    assert statuses(kernel) == {"make": "snapshotting"}
    # nothing half-visible: no version, no edge until the background transaction
    with workspace.meta.read() as conn:
        assert conn.execute(select(dataset_versions)).first() is None
        assert conn.execute(select(lineage)).first() is None
    run(kernel, "%%track use\ntotal = float(df['a'].sum())")  # reads the pending frame
    run(kernel, "%%track edit\ndf.iloc[0, 0] = 999.0")  # changes it in place: a new version
    assert statuses(kernel) == {"make": "snapshotting", "use": "snapshotting", "edit": "snapshotting"}
    out = run(kernel, "gate.set(); print(nbtrack.flush(timeout=60))")
    assert out.strip() == "True"
    assert set(statuses(kernel).values()) == {"finished"}
    ws_mod.reset_cache()
    runs = {r.name: r for r in (nbtrack.get_run(i, workspace) for i in nbtrack.runs(workspace=workspace)["id"])}
    assert runs["make"].outputs == ["df@1"]
    assert runs["use"].inputs == ["df@1"]  # the pending frame's version, resolved when it landed
    assert runs["edit"].inputs == ["df@1"] and runs["edit"].outputs == ["df@2"]
    v1, v2 = nbtrack.load("df@1", workspace=workspace), nbtrack.load("df@2", workspace=workspace)
    assert v1["a"].iloc[0] != 999.0 and v2["a"].iloc[0] == 999.0  # the later edit never reached df@1
    out = run(kernel, "print(json.dumps([bool((nbtrack.load('df@1') == base * 2.0).all().all()),"
                      " bool((nbtrack.load('df@2') == df).all().all())]))")
    assert json.loads(out.strip().splitlines()[-1]) == [True, True]
    assert nbtrack.dataset_versions("df", workspace)["run_id"].tolist() == [runs["make"].id, runs["edit"].id]
    assert runs["make"].tags.get("nbtrack.pending_snapshots") is None


def test_models_trained_on_pending_frames_and_refit_in_the_next_cell(kernel, workspace):
    run(kernel, "%load_ext nbtrack")
    run(kernel, GATE)
    run(kernel, "from sklearn.linear_model import LogisticRegression\n"
                "y = (base['a'] + base['b'] > 0).astype(int)")
    run(kernel, "%%track train\nX = base * 3.0\nclf = LogisticRegression().fit(X, y)\nacc = clf.score(X, y)")
    run(kernel, "first = clf.predict_proba(base).tolist()")
    run(kernel, "clf.fit(base[::-1] * -1.0, y)")  # refit in place, before the version is written
    assert statuses(kernel)["train"] == "snapshotting"
    with workspace.meta.read() as conn:
        assert conn.execute(select(model_versions)).first() is None
    out = run(kernel, "gate.set(); nbtrack.flush(timeout=60)\n"
                      "m = nbtrack.load_model('clf@1')\n"
                      "print(json.dumps([m.predict_proba(base).tolist() == first,"
                      " clf.predict_proba(base).tolist() == first]))")
    assert json.loads(out.strip().splitlines()[-1]) == [True, False]
    ws_mod.reset_cache()
    r = nbtrack.get_run(nbtrack.runs(workspace=workspace)["id"].iloc[0], workspace)
    assert r.status == "finished" and "X@1" in r.outputs and "model:clf@1" in r.outputs
    with workspace.meta.read() as conn:
        trained_on = conn.execute(select(model_versions.c.dataset_version_id)).scalar()
    assert trained_on == int(nbtrack.dataset_versions("X", workspace)["id"].iloc[0])


def test_kernel_killed_with_pending_snapshots(kernel, workspace):
    run(kernel, "%load_ext nbtrack")
    run(kernel, GATE)
    run(kernel, "%%track make\ndf = base + 1.0\nother = base - 1.0")
    run(kernel, "%%track use\ns = df.sum()")
    assert statuses(kernel) == {"make": "snapshotting", "use": "snapshotting"}
    pid = kernel.km.provisioner.process.pid
    os.kill(pid, signal.SIGKILL)
    kernel.km.provisioner.process.wait()
    ws_mod.reset_cache()
    report = nbtrack.fsck(workspace)  # marks the dead kernel's runs (so does the next run's start)
    assert report is not None
    runs = {r.name: r for r in (nbtrack.get_run(i, workspace) for i in nbtrack.runs(workspace=workspace)["id"])}
    assert {r.status for r in runs.values()} == {"capture_failed"}
    assert "df" in runs["make"].error_message and "other" in runs["make"].error_message
    assert "not recorded" in runs["use"].error_message
    with workspace.meta.read() as conn:  # nothing half-visible
        assert conn.execute(select(dataset_versions)).first() is None
        assert conn.execute(select(lineage)).first() is None


def test_kernel_shutdown_flushes_pending_snapshots(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("NBTRACK_BACKGROUND_MIN_BYTES", "0")
    k = Kernel(tmp_path)
    try:
        run(k, "%load_ext nbtrack")
        run(k, "import numpy as np, pandas as pd\n"
               "base = pd.DataFrame(np.random.default_rng(1).normal(size=(200_000, 8)))")
        run(k, "%%track make\ndf = base * 5.0")
    finally:
        k.kc.stop_channels()
        k.km.shutdown_kernel(now=False)  # a shutdown_request: the kernel exits, atexit flushes
    ws_mod.reset_cache()
    r = nbtrack.get_run(nbtrack.runs(workspace=workspace)["id"].iloc[0], workspace)
    assert r.status == "finished" and r.outputs == ["df@1"]
    assert len(nbtrack.load("df@1", workspace=workspace)) == 200_000


def test_memory_budget_makes_the_next_cell_wait(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("NBTRACK_BACKGROUND_MIN_BYTES", "0")
    monkeypatch.setenv("NBTRACK_PENDING_SNAPSHOT_BYTES", str(120_000))  # one 80 kB frame, not two
    k = Kernel(tmp_path)
    try:
        run(k, "%load_ext nbtrack")
        run(k, GATE)
        run(k, "%%track one\nfirst = base * 1.0")
        assert 80_000 <= json.loads(run(k, "print(json.dumps(_bg.stats()))").strip())["bytes"] < 81_000
        run(k, "threading.Timer(1.5, gate.set).start()")
        seconds, _out, err, ename = k.run("%%track two\nsecond = base * 2.0")
        assert ename is None and "nbtrack:" not in err
        assert seconds >= 1.0  # waited for `first` to be stored
        st = statuses(k)
        assert st["one"] == "finished"
        # a frame larger than the whole budget is stored on the cell's path
        run(k, "%%track big\nbig = pd.concat([base] * 3, ignore_index=True)")
        assert statuses(k)["big"] == "finished"
        assert run(k, "print(nbtrack.flush(timeout=60))").strip() == "True"
        assert set(statuses(k).values()) == {"finished"}
    finally:
        k.close()


def test_background_failure_is_recorded_and_warned_once(kernel, workspace):
    run(kernel, "%load_ext nbtrack")
    run(kernel, GATE + "gate.set()")
    # duplicate column names: fingerprinted on the cell's path, refused by the encoder in the background
    run(kernel, "%%track dup\nbad = pd.concat([base, base], axis=1)\ngood = base * 4.0")
    _t, _out, err, ename = kernel.run("nbtrack.flush(timeout=60)")
    assert ename is None
    lines = [line for line in err.splitlines() if line.startswith("nbtrack:")]
    assert len(lines) == 1 and "'bad'" in lines[0] and "duplicate column names" in lines[0], err
    _t, _out, err, _e = kernel.run("x = 1")
    assert "nbtrack:" not in err  # said once
    ws_mod.reset_cache()
    r = nbtrack.get_run(nbtrack.runs(workspace=workspace)["id"].iloc[0], workspace)
    assert r.status == "finished" and r.outputs == ["good@1"]
    assert "duplicate column names" in r.tags["data_skipped.bad"]
    assert "'bad'" in r.tags["capture_warnings"]


def test_forked_child_starts_with_nothing_pending(kernel, workspace):
    run(kernel, "%load_ext nbtrack")
    run(kernel, GATE)
    run(kernel, "%%track make\ndf = base * 7.0")
    out = run(kernel, "import os\n"
                      "r, w = os.pipe()\n"
                      "pid = os.fork()\n"
                      "if pid == 0:\n"
                      "    os.write(w, json.dumps([_bg.stats(), _bg.wait(timeout=1)]).encode()); os._exit(0)\n"
                      "os.waitpid(pid, 0); print(os.read(r, 1000).decode()); print(json.dumps(_bg.stats()))")
    child, parent = (json.loads(x) for x in out.strip().splitlines()[-2:])
    assert child == [{"runs": 0, "bytes": 0, "frames": 0}, True]
    assert parent["runs"] == 1
    assert run(kernel, "gate.set(); print(nbtrack.flush(timeout=60))").strip() == "True"
    assert statuses(kernel) == {"make": "finished"}


def test_flush_without_anything_pending_returns_at_once(workspace):
    t0 = time.perf_counter()
    assert nbtrack.flush() is True
    assert nbtrack.flush(timeout=0) is True
    assert time.perf_counter() - t0 < 1.0


def test_a_write_copy_on_write_does_not_see_is_refused_not_stored_wrong(kernel, workspace):
    run(kernel, "%load_ext nbtrack")
    run(kernel, GATE)
    run(kernel, "%%track make\ndf = base * 2.0")
    run(kernel, "df['a'].array[0] = 12345.0")  # writes the shared buffer: no copy-on-write
    _t, _out, err, ename = kernel.run("gate.set(); nbtrack.flush(timeout=60)")
    assert ename is None and "changed in place" in err
    ws_mod.reset_cache()
    r = nbtrack.get_run(nbtrack.runs(workspace=workspace)["id"].iloc[0], workspace)
    assert r.status == "finished" and r.outputs == []
    assert "changed in place" in r.tags["data_skipped.df"]


def test_a_failed_final_write_marks_the_run_and_leaves_nothing_half_visible(kernel, workspace):
    run(kernel, "%load_ext nbtrack")
    run(kernel, GATE)
    run(kernel, "%%track make\ndf = base * 3.0")
    # the store fails in the middle of the final transaction: after the version row, at the edge
    run(kernel, "import nbtrack.store.lineage as _lineage\n"
                "def _broken(*a, **k):\n    raise OSError('disk gone')\n"
                "_lineage.link = _broken")
    _t, _out, err, ename = kernel.run("gate.set(); print(nbtrack.flush(timeout=60))")
    assert ename is None
    lines = [line for line in err.splitlines() if line.startswith("nbtrack:")]
    assert len(lines) == 1 and "disk gone" in lines[0] and "capture_failed" in lines[0], err
    ws_mod.reset_cache()
    r = nbtrack.get_run(nbtrack.runs(workspace=workspace)["id"].iloc[0], workspace)
    assert r.status == "capture_failed" and "disk gone" in r.error_message and "df" in r.error_message
    with workspace.meta.read() as conn:  # the version row went with the failed transaction
        assert conn.execute(select(dataset_versions)).first() is None
        assert conn.execute(select(lineage)).first() is None
    _t, _out, err, ename = kernel.run("%%track next\ny = 1")  # the next cell is tracked as usual
    assert ename is None and "nbtrack:" not in err


def test_reads_in_the_kernel_wait_for_the_pending_version(kernel, workspace):
    run(kernel, "%load_ext nbtrack")
    run(kernel, GATE)
    run(kernel, "from sklearn.linear_model import LinearRegression")
    run(kernel, "%%track first\nX = base * 1.0\nreg = LinearRegression().fit(X, base['a'])")
    run(kernel, "%%track second\nX = base * 2.0\nreg = LinearRegression().fit(X[['b']], X['a'])")
    out = run(kernel, "threading.Timer(1.0, gate.set).start()\n"
                      "latest = nbtrack.load('X')\n"  # waits for the pending X@2, not X@1
                      "m = nbtrack.load_model('reg')\n"
                      "print(json.dumps([bool((latest == X).all().all()), len(nbtrack.dataset_versions('X')),"
                      " m.coef_.tolist() == reg.coef_.tolist()]))")
    assert json.loads(out.strip().splitlines()[-1]) == [True, 2, True]


def test_versions_keep_the_order_of_the_cells(kernel, workspace):
    run(kernel, "%load_ext nbtrack")
    run(kernel, GATE)
    run(kernel, "import os; os.environ['NBTRACK_BACKGROUND_MIN_BYTES'] = str(50_000)")  # base: 80 kB
    run(kernel, "%%track big\ndf = base * 2.0")  # pending
    run(kernel, "%%track small\ndf = df.head(10)")  # small: queued behind df@1, not stored before it
    run(kernel, "gate.set(); nbtrack.flush(timeout=60)")
    ws_mod.reset_cache()
    assert nbtrack.dataset_versions("df", workspace)["n_rows"].tolist() == [5000, 10]


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_a_dead_process_snapshotting_run_becomes_capture_failed(db, request):
    """What a killed kernel leaves (a `snapshotting` row, dead pid) is closed by the next process."""
    import subprocess

    from sqlalchemy import update

    from nbtrack.capture.run import ActiveRun
    from nbtrack.store.schema import runs as runs_t

    ws = request.getfixturevalue("workspace" if db == "sqlite" else "pg_workspace")
    r = ActiveRun("make", "cell", workspace=ws)
    r.start()
    r.set_tag("nbtrack.pending_snapshots", "df, model:clf")
    r.end("snapshotting")
    dead = subprocess.Popen(["true"])  # a pid that no longer runs
    dead.wait()
    with ws.meta.write() as conn:
        conn.execute(update(runs_t).where(runs_t.c.id == r.id).values(pid=dead.pid))
    report = nbtrack.fsck(ws)
    assert r.id in report.interrupted
    got = nbtrack.get_run(r.id, ws)
    assert got.status == "capture_failed" and got.error_type == "SnapshotsLost"
    assert "df, model:clf" in got.error_message
