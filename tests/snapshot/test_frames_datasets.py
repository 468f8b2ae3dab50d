"""Dataset versions in a real workspace: numbering, dedup, load, listing, fsck/gc, diff."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import delete, select

import nbtrack
from nbtrack.errors import CorruptObject, InvalidInput, NotFound
from nbtrack.snapshot import datasets as ds_mod
from nbtrack.snapshot import frames
from nbtrack.store.schema import dataset_chunks, dataset_versions


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(frames, "CHUNK_BYTES", 16 << 10)
    monkeypatch.setattr(frames, "MIN_CHUNK_ROWS", 256)


def frame(n: int = 10_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(size=n), "k": rng.integers(0, 5, n),
                         "s": pd.Series([f"s{i % 101}" for i in range(n)], dtype="string")})


def test_versions_count_from_one_and_only_change_makes_one(workspace, small_chunks):
    df = frame()
    v1 = nbtrack.snapshot(df, "raw")
    assert str(v1) == "raw@1" and v1.n_rows == 10_000 and v1.n_cols == 3
    assert nbtrack.snapshot(df.copy(), "raw").id == v1.id
    df2 = df.copy()
    df2.loc[10, "x"] = 99.0
    v2 = nbtrack.snapshot(df2, "raw")
    assert str(v2) == "raw@2"
    before = set(workspace.objects)
    v3 = nbtrack.snapshot(df, "raw")  # back to the first content: a new version, no new chunks
    assert str(v3) == "raw@3" and v3.fingerprint == v1.fingerprint
    assert set(workspace.objects) == before
    pd.testing.assert_frame_equal(nbtrack.load("raw@2"), df2)
    pd.testing.assert_frame_equal(nbtrack.load("raw"), df)
    pd.testing.assert_frame_equal(nbtrack.load("raw@latest"), df)


def test_equal_chunks_are_shared_across_datasets(workspace, small_chunks):
    df = frame()
    nbtrack.snapshot(df, "a")
    before = set(workspace.objects)
    nbtrack.snapshot(df.copy(deep=True), "b")
    new = set(workspace.objects) - before
    with workspace.meta.read() as conn:
        chunk_oids = set(conn.execute(select(dataset_chunks.c.oid)).scalars())
    assert not new & chunk_oids  # at most the manifest is shared too; chunks certainly are


def test_unchanged_frame_is_not_encoded_again(workspace, monkeypatch):
    df = frame(2000)
    v1 = nbtrack.snapshot(df, "raw")

    def boom(*a, **k):
        raise AssertionError("encoded twice")

    monkeypatch.setattr(frames, "encode", boom)
    assert nbtrack.snapshot(df, "raw").id == v1.id
    assert str(nbtrack.snapshot(df, "copy")) == "copy@1"  # same content, other name: still no encoding


def test_the_cache_is_keyed_by_content_not_identity(workspace):
    df = frame(2000)
    nbtrack.snapshot(df, "raw")
    df.loc[0, "x"] = -1.0  # same object, changed in place
    v2 = nbtrack.snapshot(df, "raw")
    assert str(v2) == "raw@2" and nbtrack.load("raw@2").loc[0, "x"] == -1.0


def test_refs_and_errors(workspace):
    nbtrack.snapshot(frame(10), "raw")
    with pytest.raises(NotFound, match="no dataset 'nope'"):
        nbtrack.load("nope")
    with pytest.raises(NotFound, match=r"has no version 7 \(it has versions 1..1\)"):
        nbtrack.load("raw@7")
    for bad in ("raw@x", "raw@0", ""):
        with pytest.raises(InvalidInput):
            nbtrack.load(bad)
    with pytest.raises(InvalidInput, match="without '@'"):
        nbtrack.snapshot(frame(10), "a@b")


def test_listing(workspace, small_chunks):
    df = frame()
    nbtrack.snapshot(df, "raw")
    df.loc[:50, "k"] = 7
    nbtrack.snapshot(df, "raw")
    nbtrack.snapshot(df.head(3), "head")
    listed = nbtrack.datasets()
    assert list(listed["name"]) == ["head", "raw"]
    assert listed.set_index("name").loc["raw", "versions"] == 2
    versions = nbtrack.dataset_versions("raw")
    assert list(versions["ref"]) == ["raw@1", "raw@2"]
    assert versions["chunks"][0] > 5 and versions["new_chunks"][1] == 1
    with pytest.raises(NotFound):
        nbtrack.dataset_versions("nope")


def test_snapshot_in_a_run_is_its_output(workspace):
    with nbtrack.track("make") as run:
        v = nbtrack.snapshot(frame(10), "made")
    assert v.run_id == run.id
    assert nbtrack.get_run(run.id).outputs == ["made@1"]


def test_snapshot_of_a_model_is_a_model_version(workspace):
    from sklearn.linear_model import LinearRegression

    m = nbtrack.snapshot(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), "lr")
    assert m.ref == "lr@1" and type(m).__name__ == "ModelVersion"


def test_version_object(workspace):
    v = nbtrack.snapshot(frame(100), "raw")
    assert repr(v) == "<DatasetVersion raw@1 100 rows x 3 cols>"
    stats = v.stats()
    assert set(stats.index) == {"x", "k", "s"} and stats.loc["x", "count"] == 100
    assert v.manifest["format"] == frames.FORMAT


# -- fsck / gc -----------------------------------------------------------------------------
def _corrupt(ws, oid: str) -> None:
    path = ws.objects.path(oid)
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.write(b"garbage!")


def test_fsck_names_the_dataset_version_of_a_corrupt_chunk(workspace, small_chunks):
    df = frame()
    v1 = nbtrack.snapshot(df, "raw")
    df.loc[9000:, "x"] = 0.0
    nbtrack.snapshot(df, "raw")
    with workspace.meta.read() as conn:
        first = conn.execute(select(dataset_chunks.c.oid).where(dataset_chunks.c.dataset_version_id == v1.id,
                                                              dataset_chunks.c.seq == 0)).scalar()
    _corrupt(workspace, first)
    report = nbtrack.fsck()
    assert not report.ok
    assert sorted(report.corrupt[first]) == ["dataset raw@1 (chunk)", "dataset raw@2 (chunk)"]
    with pytest.raises(CorruptObject, match=r"dataset raw@1 \(chunk\)"):
        nbtrack.load("raw@1")


def test_gc_keeps_chunks_another_version_uses(workspace, small_chunks):
    df = frame()
    v1 = nbtrack.snapshot(df, "raw")
    df.loc[9000:, "x"] = 0.0
    v2 = nbtrack.snapshot(df, "raw")
    with workspace.meta.write() as conn:  # forget version 1 (as a future "delete version" would)
        conn.execute(delete(dataset_chunks).where(dataset_chunks.c.dataset_version_id == v1.id))
        conn.execute(delete(dataset_versions).where(dataset_versions.c.id == v1.id))
    m1 = v1.manifest
    only_v1 = set(m1["chunks"]) - set(v2.manifest["chunks"])
    report = nbtrack.gc(force=True, min_age_s=0)
    assert set(report.unreferenced) == only_v1 | {v1.manifest_oid}
    pd.testing.assert_frame_equal(nbtrack.load("raw@2"), df)
    assert nbtrack.fsck().ok


def test_encoding_cache_survives_gc_of_its_objects(workspace):
    df = frame(100)
    nbtrack.snapshot(df, "raw")
    ds_mod._cache.clear()
    nbtrack.snapshot(df, "tmp")
    with workspace.meta.write() as conn:
        conn.execute(delete(dataset_chunks))
        conn.execute(delete(dataset_versions))
    nbtrack.gc(force=True, min_age_s=0)
    v = nbtrack.snapshot(df, "raw")  # the cached encoding's objects are gone: encoded again
    assert str(v) == "raw@1" and all(workspace.objects.exists(o) for o in [v.manifest_oid, *v.manifest["chunks"]])
    pd.testing.assert_frame_equal(nbtrack.load("raw"), df)


def test_after_a_kernel_restart_the_disk_cache_avoids_encoding(workspace, monkeypatch):
    df = frame(2000)
    v1 = nbtrack.snapshot(df, "raw")
    ds_mod._cache.clear()  # a new kernel: nothing in memory

    def boom(*a, **k):
        raise AssertionError("encoded again")

    monkeypatch.setattr(frames, "encode", boom)
    assert nbtrack.snapshot(df.copy(deep=True), "raw").id == v1.id
    assert str(nbtrack.snapshot(df, "other")) == "other@1"


def test_a_stale_disk_cache_entry_is_a_miss(workspace):
    df = frame(2000)
    nbtrack.snapshot(df, "raw")
    ds_mod._cache.clear()
    folder = os.path.join(workspace.root, "cache", "frames")
    (entry,) = os.listdir(folder)
    with open(os.path.join(folder, entry), "w") as f:
        f.write("0" * 64)  # points at an object that does not exist
    assert str(nbtrack.snapshot(df, "raw")) == "raw@1"
    pd.testing.assert_frame_equal(nbtrack.load("raw"), df)


def test_reading_an_older_version_back_reuses_it(workspace):
    import pandas as pd

    from nbtrack.snapshot.datasets import snapshot_frame

    nbtrack.snapshot(pd.DataFrame({"a": [1, 2, 3]}), "pinned")
    nbtrack.snapshot(pd.DataFrame({"a": [1, 2, 4]}), "pinned")
    old = nbtrack.load("pinned@1")
    assert snapshot_frame(old, "pinned", reuse_any=True).version == 1
    assert len(nbtrack.dataset_versions("pinned")) == 2
