"""Object columns of str on the chunked edit path (snapshot/objstrings.py + rowchunks): exact, and cheap on an edit."""

from __future__ import annotations

import gc

import numpy as np
import pandas as pd
import pytest

import nbtrack
from nbtrack.snapshot import chunkprint, chunkstats, frames, objstrings, rowchunks
from nbtrack.snapshot import datasets as ds_mod


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(frames, "CHUNK_BYTES", 1 << 10)
    monkeypatch.setattr(frames, "MIN_CHUNK_ROWS", 16)
    objstrings.clear()
    yield
    objstrings.clear()


@pytest.fixture
def converted(monkeypatch):
    """Blocks converted (not recognised as remembered), counted."""
    seen = []
    real = objstrings._digest
    monkeypatch.setattr(objstrings, "_digest", lambda copy: seen.append(len(copy)) or real(copy))
    return seen


def _strings(n, seed=0):
    rng = np.random.default_rng(seed)
    return np.array([f"é{i}" * (1 + i % 4) if i % 9 else "" for i in rng.integers(0, 10**6, n)], dtype=object)


def test_unchanged_blocks_are_recognised_and_an_edit_in_place_is_not(converted):
    arr = _strings(160)
    first, sizes = objstrings.blocks(arr, 16)
    assert len(converted) == 10 and len(first) == 10
    assert objstrings.blocks(arr, 16) == (first, sizes) and len(converted) == 10  # nothing read again
    old = arr[37]
    arr[37] = old + "x"  # in place: block 2 changes
    second, _ = objstrings.blocks(arr, 16)
    assert len(converted) == 11 and [i for i in range(10) if first[i] != second[i]] == [2]
    arr[37] = old  # the very same object back: the remembered block again
    assert objstrings.blocks(arr, 16)[0] == first
    arr[38] = "".join(list(arr[38]))  # an equal string in a new object: read again, same digest
    assert objstrings.blocks(arr, 16)[0] == first and len(converted) >= 12


def test_a_copy_of_the_column_gives_the_same_digests():
    arr = _strings(100, 3)
    assert objstrings.blocks(arr, 16) == objstrings.blocks(arr.copy(), 16)
    assert objstrings.blocks(arr, 16) == objstrings.blocks(np.array(list(arr), dtype=object), 16)


@pytest.mark.parametrize("bad", [None, np.nan, 1, b"x", "\ud800"])
def test_anything_but_str_is_refused(bad):
    arr = _strings(40)
    arr[5] = bad
    with pytest.raises(objstrings.NotStrings):
        objstrings.blocks(arr, 16)


def test_remembered_blocks_are_dropped_with_their_array():
    arr = _strings(64)
    objstrings.blocks(arr, 16)
    assert len(objstrings._groups) == 1 and objstrings._rows == 64
    del arr
    gc.collect()
    assert not objstrings._groups and objstrings._rows == 0


def test_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(objstrings, "MAX_ROWS", 100)
    keep = [_strings(64, seed) for seed in range(3)]
    for arr in keep:
        objstrings.blocks(arr, 16)
    assert objstrings._rows <= 100 and len(objstrings._groups) == 1


def test_strided_views_are_digested_but_not_remembered():
    block = np.empty((2, 50), dtype=object)
    block[0], block[1] = _strings(50, 1), _strings(50, 2)
    col = block[:, 1]  # not contiguous
    assert objstrings.blocks(block[1], 16) == objstrings.blocks(np.ascontiguousarray(block[1]), 16)
    assert len(objstrings.blocks(col, 16)[0]) == 1


def _frame(n=400, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x": rng.normal(size=n), "i": rng.integers(0, 100, n)})
    df["o"] = pd.Series(_strings(n, seed), dtype=object)
    df["p"] = pd.Series(_strings(n, seed + 1), dtype=object)
    return df


def test_object_string_frames_match_the_whole_frame_encoding_and_round_trip():
    store: dict[str, bytes] = {}
    df = _frame()
    assert (df.dtypes == object).sum() == 2
    p = rowchunks.plan(df)
    assert p is not None
    enc = rowchunks.encode(p, store.__setitem__)
    assert enc.manifest == frames.encode(df, {}.__setitem__).manifest
    pd.testing.assert_frame_equal(frames.decode(enc.manifest, store.__getitem__), df, check_exact=True)


def test_workspace_edit_of_an_object_string_frame_reads_and_encodes_one_chunk(workspace, monkeypatch, converted):
    df = _frame(2000, 4)
    v1 = nbtrack.snapshot(df, "objs")
    blocks_first = len(converted)
    edited = df.copy(deep=False)
    col = edited["o"].to_numpy(copy=True)
    col[1000:1003] = ["new", "ü", ""]
    edited["o"] = pd.Series(col, index=edited.index, dtype=object)
    encoded = []
    real = frames.encode_chunk
    monkeypatch.setattr(frames, "encode_chunk", lambda t: encoded.append(t.num_rows) or real(t))
    monkeypatch.setattr(frames, "encode", lambda *a, **k: pytest.fail("the whole-frame path was taken"))
    v2 = nbtrack.snapshot(edited, "objs")
    assert str(v2) == "objs@2" and len(encoded) == 1
    # the edited column is a new array: each of its blocks is read once; the other column's are not
    assert len(converted) - blocks_first == -(-2000 // frames.MIN_CHUNK_ROWS)
    pd.testing.assert_frame_equal(nbtrack.load("objs@2"), edited, check_exact=True)
    pd.testing.assert_frame_equal(nbtrack.load("objs@1"), df, check_exact=True)
    assert v2.manifest["chunk_rows"] == v1.manifest["chunk_rows"]
    ds_mod._cache.clear()
    chunkprint.clear()
    chunkstats.clear()
    rowchunks.clear()
    assert str(nbtrack.snapshot(edited.copy(), "objs")) == "objs@2"
    assert nbtrack.fsck(deep=True).ok


def test_a_frame_edited_in_place_is_stored_as_edited(workspace):
    df = _frame(1000, 5)
    nbtrack.snapshot(df, "inplace")
    j = df.columns.get_loc("o")
    df.iloc[500, j] = "changed"  # (the same frame, written in place)
    df.iloc[501, j] = df.iloc[502, j]  # (an object that is elsewhere in the column)
    v2 = nbtrack.snapshot(df, "inplace")
    assert str(v2) == "inplace@2"
    pd.testing.assert_frame_equal(nbtrack.load("inplace@2"), df, check_exact=True)
    assert str(nbtrack.snapshot(df, "inplace")) == "inplace@2"
