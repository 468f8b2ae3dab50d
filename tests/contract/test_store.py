"""Contract: the object store behind a workspace — put/get, streams, exists, verify, mtimes,
gc's age guard and fsck — the same on a local folder and on S3."""

from __future__ import annotations

import io
import os
import time

import pytest

import nbtrack
from nbtrack import maintenance
from nbtrack import workspace as ws_mod
from nbtrack.errors import CorruptObject
from nbtrack.store import objects as objects_mod


def test_objects_put_get_stream_exists_verify_mtime(backend):
    objs = backend.objects
    before = time.time()
    oid = objs.put(b"contract bytes")
    assert objs.exists(oid) and objs.get(oid) == b"contract bytes" and objs.verify(oid) is None
    assert before - 2 <= objs.mtime(oid) <= time.time() + 2
    big = os.urandom(1 << 20) * 6
    sid = objs.put_stream(io.BytesIO(big))
    assert sid == objs.name(big) and objs.size(sid) == len(big)
    with objs.open(sid) as r:
        assert b"".join(r.iter_chunks()) == big
    other = objs.name(b"never stored")
    assert not objs.exists(other) and objs.mtime(other) is None and objs.verify(other) == "missing"
    with pytest.raises(CorruptObject):
        objs.get(other)
    assert {oid, sid} <= set(objs)


def test_gc_keeps_young_and_referenced_objects_and_deletes_old_orphans(backend, monkeypatch):
    with nbtrack.track("keeper") as run:
        kept = run.log_artifact(b"referenced artifact", name="a.bin")
    orphan = backend.objects.put(b"an orphan nobody refers to")
    rep = maintenance.gc(force=True, min_age_s=3600)  # the age guard: a young orphan stays
    assert orphan not in rep.unreferenced and rep.young >= 1 and backend.objects.exists(orphan)
    if not backend.objects.local:  # remote stores never go below twice the refresh interval
        rep = maintenance.gc(force=True, min_age_s=0)
        assert rep.min_age_s == 2 * objects_mod.REFRESH_S and backend.objects.exists(orphan)
        monkeypatch.setattr(objects_mod, "REFRESH_S", 0.0)
        monkeypatch.setattr(maintenance, "REFRESH_S", 0.0)
    time.sleep(1.1)  # S3 keeps whole seconds
    rep = maintenance.gc(force=True, min_age_s=0)
    assert orphan in rep.unreferenced and not backend.objects.exists(orphan)
    assert backend.objects.get(kept) == b"referenced artifact"
    assert not [e for e in backend.objects.leftovers() if e[0] != "stray"]


def test_fsck_is_clean_then_finds_and_repairs_a_damaged_object(backend):
    import pandas as pd

    df = pd.DataFrame({"x": range(2000), "s": [f"v{i}" for i in range(2000)]})
    with nbtrack.track("fsck") as run:
        nbtrack.snapshot(df, "frame")
        art = run.log_artifact(b"artifact to damage " * 100, name="d.bin")
    rep = maintenance.fsck()
    assert rep.ok, rep.lines()
    objs = backend.objects
    raw = bytearray(objs.backend.read_bytes(objs.path(art)))
    raw[5] ^= 1
    objs.backend.write_bytes(objs.path(art), bytes(raw))
    ws_mod.reset_cache()
    rep = maintenance.fsck()
    assert list(rep.corrupt) == [art] and not rep.ok
    with nbtrack.track("again") as run:
        run.log_artifact(b"artifact to damage " * 100, name="d.bin")  # a healthy writer repairs it
    ws_mod.reset_cache()
    assert maintenance.fsck().ok


def test_a_file_artifact_is_streamed_in_and_out(backend, tmp_path):
    path = tmp_path / "model.bin"
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(8):
            f.write(block[:-1] + bytes([i]))
    with nbtrack.track("artifact") as run:
        oid = run.log_artifact(str(path))
    got = nbtrack.get_run(run.id)
    with got.open_artifact("model.bin") as f:
        pieces = list(f.iter_chunks())
    assert b"".join(pieces) == path.read_bytes() and max(map(len, pieces)) < len(block) * 2
    assert got.artifacts[0]["size"] == 8 << 20 and backend.objects.verify(oid) is None
