"""The ``nbtrack.model/1`` archive (issue 18, target 3): raw arrays beside a small tree, loaded safely."""

from __future__ import annotations

import json
import struct

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier, GradientBoostingRegressor,
                              HistGradientBoostingClassifier, RandomForestClassifier, RandomForestRegressor)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

import nbtrack
from nbtrack.errors import CorruptObject, NbtrackError, UntrustedModel
from nbtrack.snapshot import model_io, model_raw


def _xy(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    y = (X[:, 0] + rng.normal(0, 0.5, n) > 0).astype(int)
    return X, y


def _frame(n=300, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.choice(["x", "y", "z"], n),
                       "c": rng.integers(0, 5, n)})
    return df, (df["a"] + (df["b"] == "x") > 0.3).astype(int)


def _pipeline():
    df, y = _frame()
    ct = ColumnTransformer([("num", StandardScaler(), ["a", "c"]),
                            ("cat", OneHotEncoder(handle_unknown="ignore"), ["b"])])
    return make_pipeline(ct, LogisticRegression()).fit(df, y), df


MODELS = {
    "random_forest": lambda: (RandomForestClassifier(n_estimators=15, random_state=0).fit(*_xy()), _xy()[0]),
    "extra_trees": lambda: (ExtraTreesClassifier(n_estimators=15, random_state=0).fit(*_xy()), _xy()[0]),
    "forest_regressor": lambda: (RandomForestRegressor(n_estimators=5, random_state=0).fit(_xy()[0], _xy()[0][:, 1]),
                                 _xy()[0]),
    "gradient_boosting": lambda: (GradientBoostingClassifier(n_estimators=15, random_state=0).fit(*_xy()), _xy()[0]),
    "gradient_boosting_regressor": lambda: (GradientBoostingRegressor(n_estimators=10, subsample=0.7, random_state=0)
                                            .fit(_xy()[0], _xy()[0][:, 2]), _xy()[0]),
    "hist_gradient_boosting": lambda: (HistGradientBoostingClassifier(max_iter=15, random_state=0).fit(*_xy()),
                                       _xy()[0]),
    "logistic_regression": lambda: (LogisticRegression().fit(*_xy()), _xy()[0]),
    "pipeline": _pipeline,
    "kmeans": lambda: (KMeans(n_clusters=4, n_init=2, random_state=0).fit(_xy()[0]), _xy()[0]),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_round_trip_is_exact(name):
    model, X = MODELS[name]()
    data, fmt = model_io.dumps(model)
    assert fmt == model_io.FAST and data.startswith(model_raw.MAGIC)
    assert model_io.dumps(model)[0] == data  # deterministic: equal models, equal bytes, one stored object
    back = model_io.loads(data, fmt)
    assert type(back) is type(model) and back is not model
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    if hasattr(model, "predict_proba"):
        np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))
    if hasattr(model, "transform"):
        np.testing.assert_array_equal(back.transform(X), model.transform(X))
    assert model_io.dumps(back)[0] == data  # nothing was lost or changed on the way


def test_arrays_come_back_writable_aligned_in_their_order_and_shared_as_before():
    X, y = _xy()
    lr = LogisticRegression().fit(X, y)
    shared = np.arange(12.0).reshape(3, 4)
    lr.extra_ = {"same": [shared, shared], "fortran": np.asfortranarray(shared), "strided": shared[:, ::2],
                 "when": np.array(["2024-01-01"], dtype="datetime64[ns]"), "scalar": np.float32(1.5),
                 "dtype": np.dtype("<i4"), "type": np.float64, "slice": slice(1, None, 2), "words": ("a", "é"),
                 "keys": {1: "int key", (2, 3): "tuple key"}, "nan": float("nan"), "empty": np.zeros((0, 3))}
    back = model_io.loads(*model_io.dumps(lr))
    e = back.extra_
    assert e["same"][0] is e["same"][1]
    assert e["fortran"].flags.f_contiguous and not e["fortran"].flags.c_contiguous
    for key in ("fortran", "strided", "when", "empty"):
        np.testing.assert_array_equal(e[key], lr.extra_[key])
        assert e[key].dtype == lr.extra_[key].dtype
    assert type(e["scalar"]) is np.float32 and e["scalar"] == np.float32(1.5)
    assert e["dtype"] == np.dtype("<i4") and e["type"] is np.float64 and e["slice"] == slice(1, None, 2)
    assert e["words"] == ("a", "é") and e["keys"] == {1: "int key", (2, 3): "tuple key"} and np.isnan(e["nan"])
    for a in (back.coef_, back.intercept_, e["fortran"]):
        assert a.flags.writeable and a.ctypes.data % 16 == 0
    back.coef_[0, 0] = 42.0  # a user may edit a loaded model in place, as after joblib.load


@pytest.mark.parametrize("obj", [
    FunctionTransformer(func=np.log1p),  # a function: never in this format
    make_pipeline(FunctionTransformer(func=json.dumps, validate=False)),
], ids=["function", "function_in_pipeline"])
def test_what_the_format_cannot_hold_falls_back_to_skops(obj):
    data, fmt = model_io.dumps(obj, allow_pickle=False)
    assert fmt == model_io.SKOPS and data[:2] == b"PK"


def _archive(root, arrays=(), blocks=b""):
    header = json.dumps({"arrays": list(arrays), "root": root}, separators=(",", ":")).encode()
    head = len(model_raw.MAGIC) + 8 + len(header)
    return model_raw.MAGIC + struct.pack("<Q", len(header)) + header + b" " * (-head % 64) + blocks


def _lr_with(attr):
    """A LogisticRegression archive whose state gains ``attr`` (a raw node)."""
    X, y = _xy()
    data, _ = model_io.dumps(LogisticRegression().fit(X, y))
    header, base = model_raw._parse(data)
    header["root"]["s"]["crafted_"] = attr
    return _archive(header["root"], header["arrays"], bytes(data[base:]))


@pytest.mark.parametrize("name", ["os.system", "builtins.eval", "subprocess.Popen", "collections.OrderedDict",
                                  "pathlib.Path"])
def test_an_untrusted_class_is_refused_before_anything_is_built(name, monkeypatch):
    crafted = _lr_with({"o": name, "s": {"x": 1}})
    built = []
    monkeypatch.setattr(model_raw._Decoder, "dec", lambda *a: built.append(a))
    monkeypatch.setattr(model_raw, "_resolve", lambda n: built.append(n))
    with pytest.raises(UntrustedModel) as info:
        model_io.loads(crafted, model_io.FAST, what="model m@1")
    assert info.value.fields["types"] == [name]
    assert str(info.value) == (f"model m@1 contains types that are not trusted by default: {name}. If you trust "
                               f"them, load with trust={[name]!r} (or trust=True to trust everything in it)")
    assert built == []  # nothing imported, nothing constructed
    with pytest.raises(UntrustedModel):
        model_io.loads(crafted, model_io.FAST, trust=["something.else"])


def test_the_same_refusal_as_a_skops_archive_of_the_same_class(workspace):
    import sys
    import types

    mod = types.ModuleType("nbtrack_test_outside")
    exec("from sklearn.base import BaseEstimator\nclass Outside(BaseEstimator):\n    pass\n", mod.__dict__)
    sys.modules["nbtrack_test_outside"] = mod
    try:
        est = mod.Outside()
        data, fmt = model_io.dumps(est)
        assert fmt == model_io.SKOPS  # not trusted by default: skops archive, as before
        crafted = _lr_with({"o": "nbtrack_test_outside.Outside"})
        errors = []
        for blob, kind in ((data, fmt), (crafted, model_io.FAST)):
            with pytest.raises(UntrustedModel) as info:
                model_io.loads(blob, kind, what="model m@1")
            errors.append((str(info.value), info.value.fields["types"]))
        assert errors[0] == errors[1]
        back = model_io.loads(crafted, model_io.FAST, trust=["nbtrack_test_outside.Outside"])
        assert type(back.crafted_) is mod.Outside
    finally:
        del sys.modules["nbtrack_test_outside"]


def test_no_callable_is_ever_called_even_when_trusted():
    for node in ({"o": "builtins.eval", "s": {"x": 1}}, {"o": "os.system"}):
        with pytest.raises(NbtrackError, match="is not a class"):
            model_io.loads(_lr_with(node), model_io.FAST, trust=True)
    # only the reviewed constructors are called, whatever the trust
    with pytest.raises(NbtrackError, match="not built by a call"):
        model_io.loads(_lr_with({"k": "subprocess.Popen", "args": ["true"]}), model_io.FAST, trust=True)
    with pytest.raises(NbtrackError, match="only built from its arguments"):
        model_io.loads(_lr_with({"o": "sklearn.tree._tree.Tree"}), model_io.FAST, trust=True)


def test_a_raw_object_array_is_refused_whatever_the_trust(monkeypatch):
    crafted = _lr_with({"a": 9})
    header, base = model_raw._parse(crafted)
    header["arrays"].append(["|O", [1], "C", 4096, 8])
    crafted = _archive(header["root"], header["arrays"], bytes(crafted[base:]) + b"\0" * 8192)
    built = []
    monkeypatch.setattr(model_raw._Decoder, "dec", lambda *a: built.append(a))
    for trust in (None, True):
        with pytest.raises(UntrustedModel, match="object array") as info:
            model_io.loads(crafted, model_io.FAST, trust=trust)
        assert info.value.fields["types"] == ["numpy.object_"]
    assert built == []


def test_a_crafted_tree_table_is_refused_before_sklearn_reads_it():
    rf = RandomForestClassifier(n_estimators=2, random_state=0).fit(*_xy())
    data, fmt = model_io.dumps(rf)
    header, base = model_raw._parse(data)
    block = bytearray(data[base:])
    nodes = [a for a in header["arrays"] if isinstance(a[0], dict) and "left_child" in a[0]["names"]][0]
    view = np.frombuffer(block, dtype=model_raw._dtype(nodes[0], np), count=nodes[1][0], offset=nodes[3])
    for field, value in (("left_child", 0), ("right_child", 10**6), ("feature", 99)):
        bad = bytearray(block)
        table = np.frombuffer(bad, dtype=view.dtype, count=len(view), offset=nodes[3])
        table[field][0] = value
        with pytest.raises(NbtrackError, match="Tree node table"):
            model_io.loads(_archive(header["root"], header["arrays"], bytes(bad)), fmt)
    assert model_io.loads(_archive(header["root"], header["arrays"], bytes(block)), fmt).predict(_xy()[0]).shape


def test_a_crafted_hist_gradient_boosting_predictor_is_refused():
    hgb = HistGradientBoostingClassifier(max_iter=3, random_state=0).fit(*_xy())
    data, fmt = model_io.dumps(hgb)
    header, base = model_raw._parse(data)
    entry = [a for a in header["arrays"] if isinstance(a[0], dict) and "is_leaf" in a[0]["names"]][0]
    bad = bytearray(data[base:])
    table = np.frombuffer(bad, dtype=model_raw._dtype(entry[0], np), count=entry[1][0], offset=entry[3])
    table["left"][0] = 0  # a loop
    with pytest.raises(NbtrackError, match="TreePredictor node table"):
        model_io.loads(_archive(header["root"], header["arrays"], bytes(bad)), fmt)
    bad = bytearray(data[base:])
    table = np.frombuffer(bad, dtype=model_raw._dtype(entry[0], np), count=entry[1][0], offset=entry[3])
    table["feature_idx"][0] = 6  # the model has 6 columns: 0..5
    with pytest.raises(NbtrackError, match="a column the model does not have"):
        model_io.loads(_archive(header["root"], header["arrays"], bytes(bad)), fmt)


@pytest.mark.parametrize("damage", ["truncate", "header", "magic", "shape", "reference"])
def test_malformed_archives_are_one_clear_error(damage):
    model, X = MODELS["random_forest"]()
    data, fmt = model_io.dumps(model)
    header, base = model_raw._parse(data)
    if damage == "truncate":
        blob = data[: len(data) - 100]
    elif damage == "header":
        blob = data[:40] + b"\xff{" + data[42:]
    elif damage == "magic":
        blob = b"PK" + data[2:]
    elif damage == "shape":
        header["arrays"][0][1] = [10**9]
        blob = _archive(header["root"], header["arrays"], bytes(data[base:]))
    else:
        header["root"]["s"]["estimators_"] = {"r": 10**6}
        blob = _archive(header["root"], header["arrays"], bytes(data[base:]))
    with pytest.raises(NbtrackError, match=r"not a readable nbtrack\.model/1 archive") as info:
        model_io.loads(blob, fmt, what="model m@1")
    assert "\n" not in str(info.value)


def test_a_corrupted_stored_archive_is_corrupt_object(workspace):
    model, X = MODELS["random_forest"]()
    v = nbtrack.log_model(model, "rf")
    assert v.format == model_io.FAST
    from pathlib import Path

    path = Path(workspace.objects.path(v.oid))
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptObject):
        nbtrack.load_model("rf@1")


def test_versions_stored_as_skops_still_load_and_keep_their_oids(workspace, monkeypatch):
    model, X = MODELS["pipeline"]()
    monkeypatch.setattr(model_io, "FAST_ARCHIVE", False)  # what earlier releases wrote
    old = nbtrack.log_model(model, "pipe")
    assert old.format == model_io.SKOPS and old.oid == workspace.objects.put(model_io.skops_dumps(model))
    monkeypatch.setattr(model_io, "FAST_ARCHIVE", True)
    np.testing.assert_array_equal(nbtrack.load_model("pipe@1").predict_proba(X), model.predict_proba(X))
    model.set_params(logisticregression__C=0.5).fit(X, _frame()[1])
    new = nbtrack.log_model(model, "pipe")
    assert (new.version, new.format) == (2, model_io.FAST)
    np.testing.assert_array_equal(nbtrack.load_model("pipe@2").predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(nbtrack.load_model("pipe@1").predict(X), nbtrack.load_model("pipe@1").predict(X))


def test_relogging_an_unchanged_model_reuses_the_version_without_building_an_archive(workspace, monkeypatch):
    model, _ = MODELS["random_forest"]()
    first = nbtrack.log_model(model, "rf")
    monkeypatch.setattr(model_raw, "dumps", lambda *a, **k: pytest.fail("archived again"))
    again = nbtrack.log_model(model, "rf")
    assert (again.version, again.new, again.oid) == (1, False, first.oid)
