"""DataFrame <-> chunked parquet: exact round trips (hypothesis + scikit-learn datasets), determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbtrack.errors import InvalidInput
from nbtrack.snapshot import frames
from nbtrack.snapshot.fingerprint import fingerprint


class MemStore(dict):
    def put(self, oid: str, data: bytes) -> None:
        self[oid] = data


def roundtrip(obj, store=None):
    store = MemStore() if store is None else store
    enc = frames.encode(obj, store.put)
    return frames.decode(enc.manifest, store.__getitem__), enc


def assert_same(a, b):
    if isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, check_exact=True)
    else:
        pd.testing.assert_frame_equal(a, b, check_exact=True)


# -- hypothesis frames -------------------------------------------------------------------
WORDS = st.text(alphabet="abcxyzé 😀", max_size=5)
CATS = ["lo", "mid", "hi", "unused"]


@st.composite
def columns(draw, n: int):
    kind = draw(st.sampled_from(["int", "float", "bool", "Int64", "Float64", "boolean", "object", "str", "string",
                                 "category", "ordered", "datetime", "datetime_tz", "timedelta", "uint8", "float32"]))
    nulls = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    ints = draw(st.lists(st.integers(-2**40, 2**40), min_size=n, max_size=n))
    if kind == "int":
        return pd.Series(ints, dtype="int64")
    if kind == "uint8":
        return pd.Series([i % 256 for i in ints], dtype="uint8")
    if kind in ("float", "float32"):
        vals = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=n, max_size=n))
        return pd.Series(vals, dtype="float64" if kind == "float" else "float32")
    if kind == "bool":
        return pd.Series([i % 2 == 0 for i in ints], dtype=bool)
    if kind in ("Int64", "Float64", "boolean"):
        vals = [None if z else (i % 2 == 0 if kind == "boolean" else i) for i, z in zip(ints, nulls)]
        return pd.Series(pd.array(vals, dtype=kind))
    words = draw(st.lists(WORDS, min_size=n, max_size=n))
    if kind == "object":
        sentinel = draw(st.sampled_from([None, np.nan]))
        return pd.Series([sentinel if z else w for w, z in zip(words, nulls)], dtype=object)
    if kind in ("str", "string"):
        return pd.Series([None if z else w for w, z in zip(words, nulls)], dtype=kind)
    if kind in ("category", "ordered"):
        order = draw(st.permutations(CATS))
        vals = [None if z else order[i % 3] for i, z in zip(ints, nulls)]
        return pd.Series(pd.Categorical(vals, categories=order, ordered=kind == "ordered"))
    stamps = pd.to_datetime([None if z else i % 4_000_000_000 for i, z in zip(ints, nulls)], unit="s")
    if kind == "datetime":
        return pd.Series(stamps)
    if kind == "datetime_tz":
        return pd.Series(stamps.tz_localize("UTC").tz_convert("America/New_York"))
    return pd.Series(pd.to_timedelta([None if z else i for i, z in zip(ints, nulls)], unit="ms"))


@st.composite
def indexes(draw, n: int):
    kind = draw(st.sampled_from(["range", "range_step", "int", "str", "multi", "datetime", "named_range"]))
    if kind == "range":
        return pd.RangeIndex(n)
    if kind == "range_step":
        return pd.RangeIndex(start=draw(st.integers(-50, 50)), step=draw(st.integers(1, 7)), stop=10**6)[:n]
    if kind == "named_range":
        return pd.RangeIndex(n, name="row")
    if kind == "int":
        return pd.Index(draw(st.lists(st.integers(-1000, 1000), min_size=n, max_size=n)), dtype="int64", name="id")
    if kind == "str":
        return pd.Index([f"r{i}" for i in range(n)], name=draw(st.sampled_from([None, "key"])))
    if kind == "datetime":
        return pd.date_range("2024-01-01", periods=n, freq="h", tz=draw(st.sampled_from([None, "Asia/Tokyo"])))
    return pd.MultiIndex.from_arrays([[i % 3 for i in range(n)], [f"k{i}" for i in range(n)]], names=["g", None])


@st.composite
def data_frames(draw):
    n = draw(st.integers(0, 25))
    ncols = draw(st.integers(0, 6))
    cols = {f"c{i}": draw(columns(n)) for i in range(ncols)}
    df = pd.DataFrame({k: v.reset_index(drop=True) for k, v in cols.items()}, index=pd.RangeIndex(n))
    df.index = draw(indexes(n))
    return df


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data_frames())
def test_roundtrip_is_exact(df):
    back, _ = roundtrip(df)
    assert_same(df, back)


@settings(max_examples=40, deadline=None)
@given(data_frames(), st.sampled_from([None, "target", 0]))
def test_series_roundtrip_is_exact(df, name):
    if df.shape[1] == 0:
        return
    s = df.iloc[:, 0].rename(name)
    back, enc = roundtrip(s)
    assert_same(s, back)
    assert enc.manifest["kind"] == "series"


@settings(max_examples=40, deadline=None)
@given(data_frames())
def test_same_content_same_objects_and_fingerprint(df):
    _, a = roundtrip(df)
    _, b = roundtrip(df.copy(deep=True))
    assert a.chunks == b.chunks and a.fingerprint == b.fingerprint and a.manifest_bytes == b.manifest_bytes
    assert fingerprint(df) == fingerprint(df.copy(deep=True))


# -- real data ---------------------------------------------------------------------------
@pytest.mark.parametrize("loader", ["load_iris", "load_wine", "load_breast_cancer", "load_diabetes", "load_digits"])
def test_sklearn_datasets_roundtrip(loader):
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, loader)(as_frame=True)
    frame = bunch.frame
    if "target" in frame and loader != "load_diabetes":
        frame = frame.assign(label=pd.Categorical.from_codes(bunch.target, list(map(str, bunch.target_names))))
    back, _ = roundtrip(frame)
    assert_same(frame, back)
    back, _ = roundtrip(bunch.target)
    assert_same(bunch.target, back)


def test_other_column_names_and_column_index():
    df = pd.DataFrame(np.arange(6).reshape(2, 3), columns=pd.Index([3, 1, 2], name="num"))
    assert_same(df, roundtrip(df)[0])
    df = pd.DataFrame(np.arange(4).reshape(2, 2), columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")]))
    assert_same(df, roundtrip(df)[0])


# -- chunks ------------------------------------------------------------------------------
def _big(n: int = 20_000) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({"x": rng.normal(size=n), "k": rng.integers(0, 9, n), "s": [f"s{i % 977}" for i in range(n)]})


def test_changed_region_rewrites_only_its_chunks(monkeypatch):
    monkeypatch.setattr(frames, "CHUNK_BYTES", 16 << 10)
    monkeypatch.setattr(frames, "MIN_CHUNK_ROWS", 256)
    df = _big()
    store = MemStore()
    _, a = roundtrip(df, store)
    edited = df.copy()
    edited.loc[5000:5100, "x"] = 0.0  # ~0.5% of rows in one region
    b = frames.encode(edited, store.put)
    new = [c for c in b.chunks if c not in a.chunks]
    assert len(a.chunks) >= 20 and 1 <= len(new) <= 2
    assert sum(c[2] for c in new) < 0.1 * a.nbytes
    assert_same(edited, frames.decode(b.manifest, store.__getitem__))


def test_previous_chunk_rows_are_reused():
    df = _big(5000)
    rows = frames.chunk_rows(frames.to_arrow(df))
    assert frames.chunk_rows(frames.to_arrow(df), previous=rows * 2) == rows * 2
    assert frames.chunk_rows(frames.to_arrow(df), previous=rows * 64) == rows


def test_partial_decode_keeps_labels(monkeypatch):
    monkeypatch.setattr(frames, "CHUNK_BYTES", 16 << 10)
    monkeypatch.setattr(frames, "MIN_CHUNK_ROWS", 256)
    df = _big(5000)
    df.index = pd.RangeIndex(start=10, step=3, stop=10 + 3 * 5000)
    store = MemStore()
    enc = frames.encode(df, store.put)
    part = frames.decode(enc.manifest, store.__getitem__, chunks=[1, 3])
    starts = frames.chunk_starts(enc.manifest)
    rows = enc.manifest["chunk_rows"]
    expected = pd.concat([df.iloc[starts[1]:starts[1] + rows], df.iloc[starts[3]:starts[3] + rows]])
    pd.testing.assert_frame_equal(part, expected, check_index_type=False)


# -- errors ------------------------------------------------------------------------------
@pytest.mark.parametrize("values, words", [
    ([1, object()], r"column 'bad' holds a builtins.object value \(row 1\)"),
    ([[1, 2], [object()]], r"column 'bad' holds a builtins.object value \(row 1\)"),
])
def test_unsupported_columns_name_the_column(values, words):
    df = pd.DataFrame({"ok": [1, 2], "bad": pd.Series(values, dtype=object)})
    with pytest.raises(InvalidInput, match=words):
        frames.encode(df, MemStore().put)


def test_duplicate_columns_and_non_frames_are_refused():
    with pytest.raises(InvalidInput, match="duplicate column"):
        frames.encode(pd.DataFrame([[1, 2]], columns=["a", "a"]), MemStore().put)
    with pytest.raises(InvalidInput, match="DataFrame or Series"):
        frames.encode([1, 2, 3], MemStore().put)


def test_manifest_statistics():
    df = pd.DataFrame({"x": [1.0, 2.0, None, 4.0], "c": pd.Categorical(["a", "b", "a", None]),
                       "s": ["u", "v", "u", "u"], "t": pd.to_datetime(["2020-01-01"] * 4)})
    st_ = frames.encode(df, MemStore().put).manifest["stats"]
    assert st_["x"]["count"] == 3 and st_["x"]["nulls"] == 1
    assert st_["x"]["min"] == 1.0 and st_["x"]["max"] == 4.0 and st_["x"]["mean"] == pytest.approx(7 / 3)
    assert sum(st_["x"]["bins"]["counts"]) == 3
    assert st_["c"]["top"] == [["a", 2], ["b", 1]]
    assert st_["s"]["top"][0] == ["u", 3]
    assert st_["t"]["min"].startswith("2020-01-01")


# -- the fast fingerprint ------------------------------------------------------------------
def test_fingerprint_follows_values_names_and_dtypes():
    df = pd.DataFrame({"a": np.arange(5), "s": pd.Series(list("abcde"), dtype=object)})
    same = pd.DataFrame({"a": np.arange(5), "s": pd.Series(["".join(c) for c in "abcde"], dtype=object)})
    assert fingerprint(df) == fingerprint(same)  # object columns are hashed by value, not by pointer
    variants = [
        df.assign(a=df["a"].astype("uint64")),  # same bytes, other dtype
        df.rename(columns={"a": "b"}),
        df.set_axis(pd.RangeIndex(1, 6)),
        df.assign(s=pd.Series(list("abcdf"), dtype=object)),
        df.assign(s=pd.Series(["a", None, "c", "d", "e"], dtype=object)),
        df.assign(s=pd.Series(["a", np.nan, "c", "d", "e"], dtype=object)),
        df.assign(s=df["s"].astype("category")),
        df["a"],
    ]
    prints = {fingerprint(v) for v in variants}
    assert len(prints) == len(variants) and fingerprint(df) not in prints
    mutated = df.copy()
    before = fingerprint(mutated)
    mutated.loc[2, "a"] = 100
    assert fingerprint(mutated) != before
