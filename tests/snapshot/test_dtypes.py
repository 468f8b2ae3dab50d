"""Every pandas dtype that snapshots loads back exactly (type of every value included);
what cannot be stored exactly is refused at snapshot time with one line naming it."""

from __future__ import annotations

import datetime
import decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import nbtrack
from nbtrack.errors import InvalidInput
from nbtrack.snapshot import frames


class MemStore(dict):
    def put(self, oid: str, data: bytes) -> None:
        self[oid] = data


n = 5
CASES = {
 "cat_int": pd.DataFrame({"a": pd.cut(np.arange(n), 5, labels=[1,2,3,4,5])}),
 "cat_str": pd.DataFrame({"a": pd.Categorical(list("abcab"))}),
 "cat_ordered": pd.DataFrame({"a": pd.Categorical(list("abcab"), ordered=True)}),
 "cat_interval": pd.DataFrame({"a": pd.cut(np.arange(n), 3)}),
 "cat_float": pd.DataFrame({"a": pd.Categorical([1.5, 2.5, 1.5, None, 2.5])}),
 "cat_bool": pd.DataFrame({"a": pd.Categorical([True, False, True, True, False])}),
 "cat_dt": pd.DataFrame({"a": pd.Categorical(pd.date_range("2020", periods=n))}),
 "cat_dttz": pd.DataFrame({"a": pd.Categorical(pd.date_range("2020", periods=n, tz="Europe/Oslo"))}),
 "cat_period": pd.DataFrame({"a": pd.Categorical(pd.period_range("2020", periods=n, freq="M"))}),
 "cat_td": pd.DataFrame({"a": pd.Categorical(pd.to_timedelta(np.arange(n), "D"))}),
 "cat_uint8": pd.DataFrame({"a": pd.Categorical(np.array([1,2,3,1,2], dtype="uint8"))}),
 "cat_obj_mixed": pd.DataFrame({"a": pd.Categorical([1, "a", 1, "a", 1])}),
 "cat_empty": pd.DataFrame({"a": pd.Categorical([None]*5, categories=[1,2])}),
 "Int64": pd.DataFrame({"a": pd.array([1, None, 3, 4, 5], dtype="Int64")}),
 "UInt8": pd.DataFrame({"a": pd.array([1, None, 3, 4, 5], dtype="UInt8")}),
 "Float32": pd.DataFrame({"a": pd.array([1.5, None, 3, 4, 5], dtype="Float32")}),
 "boolean": pd.DataFrame({"a": pd.array([True, None, False, True, True], dtype="boolean")}),
 "string": pd.DataFrame({"a": pd.array(["x", None, "z", "y", "w"], dtype="string")}),
 "string_pyarrow": pd.DataFrame({"a": pd.array(["x", None, "z", "y", "w"], dtype="string[pyarrow]")}),
 "str_default": pd.DataFrame({"a": ["x", None, "z", "y", "w"]}),
 "interval": pd.DataFrame({"a": pd.arrays.IntervalArray.from_breaks(np.arange(n+1))}),
 "interval_dt": pd.DataFrame({"a": pd.interval_range(pd.Timestamp("2020"), periods=n)}),
 "period": pd.DataFrame({"a": pd.period_range("2020", periods=n, freq="M")}),
 "period_D": pd.DataFrame({"a": pd.period_range("2020", periods=n, freq="D")}),
 "sparse": pd.DataFrame({"a": pd.arrays.SparseArray([0, 0, 1, 0, 2])}),
 "sparse_f": pd.DataFrame({"a": pd.arrays.SparseArray([0.0, np.nan, 1, 0, 2])}),
 "dttz": pd.DataFrame({"a": pd.date_range("2020", periods=n, tz="America/New_York")}),
 "dt_ns": pd.DataFrame({"a": pd.date_range("2020", periods=n)}),
 "dt_s": pd.DataFrame({"a": pd.date_range("2020", periods=n).astype("datetime64[s]")}),
 "td": pd.DataFrame({"a": pd.to_timedelta(np.arange(n), "h")}),
 "obj_dicts": pd.DataFrame({"a": [{"x": 1}, {"y": "b"}, {}, None, {"x": 2}]}),
 "obj_tuples": pd.DataFrame({"a": [(1, 2), (3,), (), None, (1, "a")]}),
 "obj_lists": pd.DataFrame({"a": [[1, 2], [3], [], None, [1]]}),
 "obj_mixed": pd.DataFrame({"a": [1, "a", 2.5, None, True]}),
 "obj_decimal": pd.DataFrame({"a": [decimal.Decimal("1.1")]*5}),
 "obj_bytes": pd.DataFrame({"a": [b"x", b"y", None, b"", b"z"]}),
 "obj_tzmixed": pd.DataFrame({"a": [pd.Timestamp("2020", tz="UTC"), pd.Timestamp("2020", tz="Europe/Oslo"), None, pd.Timestamp("2021", tz="UTC"), pd.Timestamp("2020", tz="Asia/Tokyo")]}),
 "obj_fixed_offsets": pd.DataFrame({"a": pd.Series([pd.Timestamp("2020-01-01T00:00+02:00"), pd.Timestamp("2020-01-01T00:00-05:30"), datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc), datetime.datetime(2021, 1, 1), pd.NaT], dtype=object)}),
 "obj_scalars": pd.DataFrame({"a": pd.Series([np.int64(3), np.float32(1.5), np.str_("s"), np.datetime64("2020-01-01"), np.bool_(True)], dtype=object)}),
 "obj_others": pd.DataFrame({"a": pd.Series([{1, 2}, frozenset(), 1 + 2j, datetime.timedelta(days=1, seconds=3), pd.Interval(0, 1)], dtype=object)}),
 "obj_periods": pd.DataFrame({"a": pd.Series([pd.Period("2020-01", "M"), pd.Timedelta("1h"), datetime.time(12, 30), pd.NA, None], dtype=object)}),
 "obj_none_and_nan": pd.DataFrame({"a": pd.Series(["x", None, np.nan, "y", "z"], dtype=object)}),
 "obj_huge_int": pd.DataFrame({"a": pd.Series([2**70, 1, -2**80, 0, 5], dtype=object)}),
 "obj_dates": pd.DataFrame({"a": [datetime.date(2020,1,i) for i in range(1,6)]}),
 "mixed_labels": pd.DataFrame({1: [1]*5, "a": [2]*5, 2.5: [3]*5}),
 "int_labels": pd.DataFrame({0: [1]*5, 1: [2]*5}),
 "tuple_labels": pd.DataFrame({("a", "b"): [1]*5}),
 "multi_cols": pd.DataFrame(np.ones((5, 2)), columns=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)])),
 "multiindex": pd.DataFrame({"v": range(5)}, index=pd.MultiIndex.from_arrays([list("aabbc"), range(5)], names=["k", "i"])),
 "freq_index": pd.DataFrame({"v": range(5)}, index=pd.date_range("2020", periods=5, freq="W")),
 "cat_index": pd.DataFrame({"v": range(5)}, index=pd.CategoricalIndex(list("abcab"))),
 "interval_index": pd.DataFrame({"v": range(5)}, index=pd.interval_range(0, 5)),
 "tuple_index": pd.DataFrame({"v": range(5)}, index=[(i, "x") for i in range(5)]),
 "series_tuple_name": pd.Series(range(5), name=("a", 1)),
 "series_int_name": pd.Series(range(5), name=3),
 "series_tuple_index": pd.Series(range(5), index=[(i, "x") for i in range(5)]),
 "stack_mixed": pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).stack().to_frame(),
 "stack_series": pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).stack(),
 "complex": pd.DataFrame({"a": np.arange(5) + 1j}),
 "float16": pd.DataFrame({"a": np.arange(5, dtype="float16")}),
 "empty": pd.DataFrame(),
 "f_nan_obj": pd.DataFrame({"a": [1.0, np.nan, "x", None, 2]}),
 "nested_cv": pd.DataFrame({"params": [{"C": 1, "kernel": "rbf"}, {"C": 10, "kernel": "linear"}]*2 + [{"C": 0.1}], "mean_test_score": np.arange(5.0), "param_C": pd.array([1, 10, 1, 10, 0.1], dtype=object)}),
 "range_index_named": pd.DataFrame({"v": range(5)}, index=pd.RangeIndex(5, name="r")),
 "index_name_tuple": pd.DataFrame({"v": range(5)}, index=pd.Index(range(5), name=("a", "b"))),
 "int_pa": pd.DataFrame({"a": pd.array([1, None, 3, 4, 5], dtype="int64[pyarrow]")}),
 "bool_pa": pd.DataFrame({"a": pd.array([True, None, False, True, True], dtype="bool[pyarrow]")}),
 "ts_pa": pd.DataFrame({"a": pd.array(pd.date_range("2020", periods=5), dtype="timestamp[us][pyarrow]")}),
 "tstz_pa": pd.DataFrame({"a": pd.array(pd.date_range("2020", periods=5, tz="UTC"), dtype=pd.ArrowDtype(pa.timestamp("us", tz="UTC")))}),
 "dict_pa": pd.DataFrame({"a": pd.array(["a","b","a","b","a"], dtype=pd.ArrowDtype(pa.dictionary(pa.int8(), pa.string())))}),
 "dec_pa": pd.DataFrame({"a": pd.array([decimal.Decimal("1.10")]*5, dtype=pd.ArrowDtype(pa.decimal128(5, 2)))}),
 "dt_ms": pd.DataFrame({"a": pd.date_range("2020", periods=5).astype("datetime64[ms]")}),
 "td_s": pd.DataFrame({"a": pd.to_timedelta(np.arange(5), "s").astype("timedelta64[s]")}),
 "uint64_big": pd.DataFrame({"a": np.array([2**64-1, 0, 1, 2, 3], dtype="uint64")}),
 "str_na": pd.DataFrame({"a": pd.array(["x", pd.NA, "y", "z", "w"], dtype="string[python]")}),
 "cat_nan_cats_int8": pd.DataFrame({"a": pd.Categorical([1, 2, None, 1, 2], categories=pd.Index([1, 2], dtype="int8"))}),
 "cat_in_multiindex": pd.DataFrame({"v": range(5)}, index=pd.MultiIndex.from_arrays([pd.Categorical([1,2,1,2,1]), list("abcde")])),
 "cat_index_int": pd.DataFrame({"v": range(5)}, index=pd.CategoricalIndex([1,2,1,2,1])),
 "period_index": pd.DataFrame({"v": range(5)}, index=pd.period_range("2020", periods=5, freq="Q")),
 "td_index_freq": pd.DataFrame({"v": range(5)}, index=pd.timedelta_range("1D", periods=5, freq="h")),
 "dt_index_tz_freq": pd.DataFrame({"v": range(5)}, index=pd.date_range("2020", periods=5, tz="Asia/Tokyo", freq="2D")),
 "multi_cols_mixed": pd.DataFrame(np.ones((5, 2)), columns=pd.MultiIndex.from_tuples([("a", 1), (2, "b")])),
 "col_name_tuple": pd.DataFrame({"a": range(5)}).rename_axis(columns=[("x", 1)]),
 "bool_labels": pd.DataFrame({True: range(5), False: range(5)}),
 "dt_labels": pd.DataFrame({pd.Timestamp("2020"): range(5)}),
 "series_cat": pd.Series(pd.cut(np.arange(5), 2)),
 "empty_cat_int": pd.DataFrame({"a": pd.Categorical([], categories=[1, 2])}),
 "obj_all_none": pd.DataFrame({"a": pd.Series([None]*5, dtype=object)}),
 "obj_all_nan": pd.DataFrame({"a": pd.Series([np.nan]*5, dtype=object)}),
 "obj_floats": pd.DataFrame({"a": pd.Series([1.5, 2.0, np.nan, 3.0, None], dtype=object)}),
 "obj_ints_none": pd.DataFrame({"a": pd.Series([1, 2, None, 3, 4], dtype=object)}),
 "arrow_list": pd.DataFrame({"a": pd.array([[1], [2, 3], None, [], [4]], dtype=pd.ArrowDtype(pa.list_(pa.int64())))}),
}


def _types(values) -> list:
    return [(type(v), repr(v)) for v in values]


def assert_exact(a, b) -> None:
    """Equal values, dtypes, index (with freq), labels, names, and the type of every object value."""
    if isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, check_exact=True, check_freq=True)
        assert type(a.name) is type(b.name) and a.name == b.name
        a, b = a.to_frame(name="v"), b.to_frame(name="v")
    pd.testing.assert_frame_equal(a, b, check_exact=True, check_freq=True, check_column_type=True)
    assert getattr(a.index, "freq", None) == getattr(b.index, "freq", None)
    assert _types(a.columns) == _types(b.columns) and type(a.columns) is type(b.columns)
    assert _types(a.index) == _types(b.index) and list(a.index.names) == list(b.index.names)
    for i in range(a.shape[1]):
        if a.dtypes.iloc[i] == object:
            assert _types(a.iloc[:, i]) == _types(b.iloc[:, i]), a.columns[i]


@pytest.mark.parametrize("name", list(CASES))
def test_every_dtype_round_trips_exactly(name):
    obj = CASES[name]
    store = MemStore()
    enc = frames.encode(obj, store.put)
    assert_exact(obj, frames.decode(enc.manifest, store.__getitem__))
    if len(enc.chunks) > 1:  # a partial load decodes too
        frames.decode(enc.manifest, store.__getitem__, chunks=[0])


def test_categorical_stats_count_categories_not_codes():
    df = pd.DataFrame({"bin": pd.cut([1, 2, 3, 10, 11], [0, 5, 20], labels=[1, 2])})
    st = frames.encode(df, MemStore().put).manifest["stats"]["bin"]
    assert st["top"] == [[1, 3], [2, 2]] and st["categories"] == 2


def test_plain_frames_keep_the_first_format():
    enc = frames.encode(pd.DataFrame({"a": [1, 2], "s": ["x", "y"]}), MemStore().put)
    assert enc.manifest["format"] == "nbtrack.frame/1" and "encoded" not in enc.manifest["objects"]
    enc = frames.encode(CASES["cat_int"], MemStore().put)
    assert enc.manifest["format"] == "nbtrack.frame/2"


class Opaque:
    pass


class Zone(datetime.tzinfo):
    def utcoffset(self, d):
        return datetime.timedelta(hours=1)


@pytest.mark.parametrize("obj, words", [
    (pd.DataFrame({"ok": [1, 2], "bad": [1, Opaque()]}), r"column 'bad' holds a .*Opaque value \(row 1\)"),
    (pd.DataFrame({"v": [1, 2]}, index=[("a", 1), ("b", Opaque())]), r"the index holds a .*Opaque value \(row 1\)"),
    (pd.Series([1, 2], index=[Opaque(), 2]), r"the index holds a .*Opaque value \(row 0\)"),
    (pd.DataFrame({"a": [np.arange(2), np.arange(3)]}), r"column 'a' holds a numpy.ndarray value \(row 0\)"),
    (pd.DataFrame({"a": pd.Series([1, datetime.datetime(2020, 1, 1, tzinfo=Zone())], dtype=object)}),
     r"column 'a' holds a .*Zone value \(row 1\)"),
])
def test_what_cannot_be_stored_exactly_is_refused_in_one_line(obj, words):
    with pytest.raises(InvalidInput, match=words) as e:
        frames.encode(obj, MemStore().put)
    assert "\n" not in str(e.value) and "None" not in str(e.value).split("row")[0]


def test_datasets_of_every_dtype_load_and_diff(workspace):
    for name in ("cat_int", "obj_dicts", "nested_cv", "stack_series", "series_tuple_index", "mixed_labels"):
        v = nbtrack.snapshot(CASES[name], name)
        assert_exact(CASES[name], nbtrack.load(f"{name}@{v.version}"))
    changed = CASES["cat_int"].copy()
    changed.iloc[0, 0] = 5
    nbtrack.snapshot(changed, "cat_int")
    d = nbtrack.diff("cat_int@1", "cat_int@2")
    assert not d.identical


def test_fingerprint_tells_apart_what_arrow_would_merge():
    from nbtrack.snapshot.fingerprint import fingerprint

    a = pd.DataFrame({"p": [{"x": 1}, {"x": 1.5}]})
    b = pd.DataFrame({"p": [{"x": 1.0}, {"x": 1.5}]})  # the same struct<x: double> in Arrow
    assert fingerprint(a) != fingerprint(b)
    assert fingerprint(a) == fingerprint(pd.DataFrame({"p": [{"x": 1}, {"x": 1.5}]}))


def test_a_refused_series_is_named_as_a_series():
    with pytest.raises(InvalidInput, match=r"^the Series holds a .*Opaque value \(row 'b'\)"):
        frames.encode(pd.Series([1, Opaque()], index=["a", "b"], name="s"), MemStore().put)


def test_fsck_deep_reports_versions_that_do_not_load(workspace, monkeypatch):
    from click.testing import CliRunner

    from nbtrack.cli import cli
    from nbtrack.snapshot import columns

    nbtrack.snapshot(CASES["obj_dicts"], "fine")
    # what older releases stored for integer categories: parquet cannot read it back
    monkeypatch.setattr(columns, "prepare", lambda frame, inline: (frame, {}))
    nbtrack.snapshot(CASES["cat_int"], "bins")
    monkeypatch.undo()
    assert nbtrack.fsck().ok  # every object is intact...
    rep = nbtrack.fsck(deep=True)  # ...but one version does not load
    assert not rep.ok and rep.versions_decoded == 1 and list(rep.undecodable) == ["bins@1"]
    assert "ArrowNotImplementedError" in rep.undecodable["bins@1"]
    out = CliRunner().invoke(cli, ["fsck", "--deep"])
    assert out.exit_code == 1 and "UNLOADABLE dataset bins@1: ArrowNotImplementedError" in out.output
