"""fsck and gc (issue 12): gc never deletes what a committed version uses; fsck reports and repairs."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

import nbtrack
from nbtrack import maintenance
from nbtrack.store.objects import ObjectStore
from storefaults import damage_db


def _age_all(ws, seconds):
    t = time.time() - seconds
    for oid in ws.objects:
        os.utime(ws.objects.path(oid), (t, t))


def _orphans(ws, data: bytes) -> str:
    """An object a crashed run left behind hours ago."""
    oid = ws.objects.put(data)
    _age_all(ws, 7200)
    return oid


def _adopt_before_collect(monkeypatch, adopt):
    """Force the interleaving: gc has found an object old and unreferenced; a run then
    stores the same content and commits; only then does gc try to delete it."""
    orig = ObjectStore.collect
    done = []

    def collect(self, oid, cutoff, referenced):
        if not done:
            done.append(adopt())
        return orig(self, oid, cutoff, referenced)

    monkeypatch.setattr(ObjectStore, "collect", collect)
    return done


def _store_kind(kind: str):
    """Store one kind of object (and commit what refers to it) with deterministic bytes."""
    from sklearn.linear_model import LinearRegression

    X = pd.DataFrame({"a": np.arange(300.0)})
    if kind == "artifact":
        with nbtrack.track("r") as run:
            run.log_artifact(b"payload" * 100, name="p.bin")
    elif kind == "source":
        with nbtrack.track("r", source="x = 1  # the same cell again\n"):
            pass
    elif kind == "model":
        nbtrack.log_model(LinearRegression().fit(X, X["a"]), "m", allow_pickle=False)
    else:
        nbtrack.snapshot(X, "frame")
    return X


@pytest.mark.parametrize("kind", ["artifact", "source", "model", "dataset"])
def test_gc_never_deletes_what_a_version_committed_during_gc_uses(workspace, tmp_path, monkeypatch, kind):
    from nbtrack import workspace as ws_mod

    # 1. hours ago, a run stored these objects and died before committing: orphans
    elsewhere = tmp_path / "elsewhere"
    ws_mod.use_workspace(ws_mod.init(elsewhere).root)
    _store_kind(kind)
    shutil.copytree(elsewhere / ".nbtrack" / "objects", workspace.objects.root, dirs_exist_ok=True)
    ws_mod.use_workspace(workspace.root)
    _age_all(workspace, 7200)
    orphans = set(maintenance.gc().unreferenced)
    assert orphans  # hours old and unreferenced: gc wants them
    # 2. the same content is stored again, and committed, between gc's checks and its deletes
    box = _adopt_before_collect(monkeypatch, lambda: _store_kind(kind))
    rep = maintenance.gc(force=True)
    assert box and rep.adopted, rep.lines()
    fs = maintenance.fsck()
    assert fs.ok and not fs.missing, fs.lines()
    if kind == "dataset":
        pd.testing.assert_frame_equal(nbtrack.load("frame"), box[0])
    if kind == "model":
        assert nbtrack.load_model("m").coef_[0] == pytest.approx(1.0)


def test_gc_rechecks_references_right_before_each_delete(workspace, monkeypatch):
    """With --min-age 0 the age does not protect: the reference re-check must."""
    from nbtrack.store.schema import artifacts

    with nbtrack.track("late") as run:
        pass
    oid = _orphans(workspace, b"committed meanwhile")  # stored before gc started ...

    def commit():  # ... and its row commits while gc runs, without touching the object again
        with workspace.meta.write() as conn:
            conn.execute(artifacts.insert().values(run_id=run.id, name="late.bin", oid=oid, kind="file", size=19))

    _adopt_before_collect(monkeypatch, commit)
    rep = maintenance.gc(force=True, min_age_s=0)
    assert oid in rep.adopted and workspace.objects.get(oid) == b"committed meanwhile"


def test_the_r04b_interleaving_gc_lists_objects_after_the_commit(workspace, monkeypatch):
    """The report's deterministic repro: gc's object listing waits until the snapshot committed."""
    import threading

    df = pd.DataFrame({"a": np.random.default_rng(3).normal(size=200_000), "b": np.arange(200_000)})
    from nbtrack.snapshot import frames

    frames.encode(df, workspace.objects.put_with_oid)  # orphan chunks of a crashed snapshot ...
    _age_all(workspace, 7200)  # ... hours ago
    refs_read, committed = threading.Event(), threading.Event()
    orig_iter = ObjectStore.__iter__

    def iter_after_commit(self):
        refs_read.set()
        committed.wait(60)
        yield from orig_iter(self)

    monkeypatch.setattr(ObjectStore, "__iter__", iter_after_commit)
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("gc", maintenance.gc(force=True)))
    t.start()
    refs_read.wait(60)
    monkeypatch.setattr(ObjectStore, "__iter__", orig_iter)  # the snapshot lists normally
    nbtrack.snapshot(df, "frame")
    committed.set()
    t.join(60)
    assert not maintenance.fsck().missing
    pd.testing.assert_frame_equal(nbtrack.load("frame"), df)


def test_gc_on_an_fsspec_store_rechecks_age_before_each_delete(tmp_path, monkeypatch):
    monkeypatch.setenv("NBTRACK_URI", f"sqlite:///{tmp_path / 'meta.db'}")
    monkeypatch.setenv("NBTRACK_OBJECTS", f"memory://nbtrack-gc-{uuid.uuid4().hex}")
    from nbtrack import workspace as ws_mod

    ws_mod.reset_cache()
    ws = ws_mod.get_workspace(create=True)
    assert not ws.objects.local
    oid = ws.objects.put(b"remote orphan")
    for p, f in ws.objects.fs.store.items():
        if oid[2:] in p:
            f.modified = datetime.now(timezone.utc) - timedelta(hours=2)

    def adopt():
        with nbtrack.track("again") as run:
            run.log_artifact(b"remote orphan", name="o.bin")

    _adopt_before_collect(monkeypatch, adopt)
    rep = maintenance.gc(force=True)
    assert oid in rep.adopted and ws.objects.get(oid) == b"remote orphan"
    assert maintenance.fsck(ws).ok
    ws_mod.reset_cache()


def test_gc_dry_run_reports_young_orphans_and_stray_files(workspace):
    oid = workspace.objects.put(b"a crashed snapshot's chunk")
    stray = os.path.join(workspace.objects.root, oid[:2], ".DS_Store")
    open(stray, "w").close()
    rep = maintenance.gc()
    text = "\n".join(rep.lines())
    assert rep.young == 1 and rep.young_bytes == len(b"a crashed snapshot's chunk")
    assert "kept 1 unreferenced object(s), 26 bytes, younger than --min-age 3600 s" in text
    assert "stray" in text and os.path.exists(stray)
    rep = maintenance.gc(force=True, min_age_s=0)
    assert rep.unreferenced == [oid] and os.path.exists(stray)  # deleted the orphan, left the stray
    fs = maintenance.fsck()
    assert fs.ok and fs.stray == [stray] and any("STRAY" in line for line in fs.lines())


def test_gc_settles_objects_a_stopped_gc_left_aside(workspace):
    with nbtrack.track("r") as run:
        run.log_artifact(b"in use", name="u.bin")
    oid = workspace.objects.put(b"in use")
    path = workspace.objects.path(oid)
    os.rename(path, f"{os.path.dirname(path)}/.gc-{oid[2:]}-deadbeef")  # gc killed mid-collect
    assert maintenance.fsck().missing
    maintenance.gc(force=True)
    assert workspace.objects.get(oid) == b"in use" and maintenance.fsck().ok


def test_fsck_marks_damage_and_repair_restores_from_a_healthy_copy(workspace, tmp_path):
    df = pd.DataFrame({"a": np.arange(1000)})
    nbtrack.snapshot(df, "frame")
    with nbtrack.track("r") as run:
        run.log_artifact(b"artifact bytes", name="a.bin")
    backup = tmp_path / "backup"
    nbtrack.backup(str(backup))
    chunk = next(o for o in workspace.objects if workspace.objects.size(o) > 100)
    os.chmod(workspace.objects.path(chunk), 0o644)
    with open(workspace.objects.path(chunk), "r+b") as f:  # bit rot, same size
        f.seek(50)
        f.write(b"\xff")
    art = workspace.objects.put(b"artifact bytes")
    os.unlink(workspace.objects.path(art))
    rep = maintenance.fsck()
    assert not rep.ok and chunk in rep.corrupt and art in rep.missing
    assert any("--repair" in line for line in rep.lines())
    rep = maintenance.fsck(repair=True)  # no healthy copy in the workspace itself
    assert not rep.ok and not rep.repaired
    rep = maintenance.fsck(repair=True, sources=[str(backup)])  # a workspace folder made by `nbtrack backup`
    assert set(rep.repaired) == {chunk, art}, rep.lines()
    assert maintenance.fsck().ok
    pd.testing.assert_frame_equal(nbtrack.load("frame"), df)


def test_a_snapshot_of_the_same_healthy_frame_repairs_a_damaged_chunk(workspace):
    """r11: re-storing the same content used to adopt the damaged chunk."""
    df = pd.DataFrame({"a": np.arange(1000)})
    nbtrack.snapshot(df, "frame")
    chunk = next(o for o in workspace.objects if workspace.objects.size(o) > 200)
    os.chmod(workspace.objects.path(chunk), 0o644)
    os.truncate(workspace.objects.path(chunk), 100)
    nbtrack.snapshot(df.copy(), "frame_again")  # the frame cache hit must not adopt the damage
    pd.testing.assert_frame_equal(nbtrack.load("frame_again"), df)
    pd.testing.assert_frame_equal(nbtrack.load("frame"), df)
    assert maintenance.fsck().ok


def test_fsck_repair_removes_corrupt_objects_nothing_uses(workspace):
    oid = workspace.objects.put(b"unused")
    os.chmod(workspace.objects.path(oid), 0o644)
    with open(workspace.objects.path(oid), "wb") as f:
        f.write(b"UNUSED")
    rep = maintenance.fsck(repair=True)
    assert rep.removed == [oid] and not workspace.objects.exists(oid) and rep.ok


def test_fsck_names_unreferenced_objects(workspace):
    workspace.objects.put(b"orphan")
    rep = maintenance.fsck()
    assert rep.ok and rep.unreferenced == 1 and any("1 unreferenced object(s), 6 bytes" in line
                                                     for line in rep.lines())


@pytest.mark.parametrize("damage", ["truncated", "garbage", "newer", "empty"])
def test_fsck_on_a_damaged_database_says_what_and_what_to_do(workspace, damage):
    with nbtrack.track("r") as run:
        run.log_metric("acc", 1.0)
    nbtrack.snapshot(pd.DataFrame({"a": np.arange(5000)}), "frame")
    damage_db(workspace, damage)
    rep = maintenance.fsck()
    assert not rep.ok and not rep.database_ok and rep.objects_checked > 0
    msg = rep.database_message
    expected = {"truncated": "malformed", "garbage": "damaged", "newer": "schema 0099, newer than this nbtrack",
                "empty": "is empty (0 bytes)"}[damage]
    assert expected in msg, msg
    assert any(w in msg.lower() for w in ("restore", "upgrade nbtrack"))
