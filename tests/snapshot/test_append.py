"""Appending rows to a dataset: each version is the previous rows plus the new ones, and full
chunks are shared with the previous version."""

from __future__ import annotations

import numpy as np
import pandas as pd

import nbtrack
from nbtrack.snapshot import frames
from nbtrack.snapshot.append import append_frame


def batch(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(size=n), "k": rng.choice(["a", "b"], n), "i": np.arange(n, dtype="int64")})


def test_append_keeps_every_row_and_shares_full_chunks(workspace, monkeypatch):
    monkeypatch.setattr(frames, "MIN_CHUNK_ROWS", 64)
    parts = [batch(100, 0)]
    v = append_frame(parts[0], "log")
    assert (v.version, v.n_rows) == (1, 100)
    rows = v.manifest["chunk_rows"]
    for seed in range(1, 6):
        parts.append(batch(37 * seed, seed))
        before = v.manifest
        v = append_frame(parts[-1], "log")
        m = v.manifest
        full = [c for c, (n, _s) in zip(before["chunks"], before["chunk_sizes"]) if n == rows]
        assert m["chunks"][:len(full)] == full  # full chunks are never rewritten
    expected = pd.concat(parts, ignore_index=True)
    pd.testing.assert_frame_equal(nbtrack.load("log"), expected)
    assert v.n_rows == len(expected) and v.version == 6
    st = v.manifest["stats"]["x"]
    assert st["count"] == len(expected) and abs(st["mean"] - expected["x"].mean()) < 1e-12
    assert nbtrack.load("log@2").shape[0] == 137


def test_append_with_another_schema_rewrites(workspace):
    append_frame(batch(10, 0), "log")
    other = batch(5, 1).assign(extra=1.5)
    v = append_frame(other, "log")
    got = nbtrack.load(str(v))
    assert len(got) == 15 and got["extra"].isna().sum() == 10
    assert append_frame(batch(0, 2).assign(extra=1.0), "log").version == v.version


def test_concurrent_appends_lose_no_rows(workspace):
    import threading

    def writer(seed):
        for i in range(4):
            append_frame(batch(10, seed * 10 + i), "log")

    threads = [threading.Thread(target=writer, args=(s,)) for s in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(nbtrack.load("log")) == 120
    assert nbtrack.dataset_versions("log")["n_rows"].tolist() == list(range(10, 121, 10))
