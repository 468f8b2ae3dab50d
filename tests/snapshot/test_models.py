"""Model versions: skops round trip, canonical bytes (dedupe), trust, joblib fallback, signature."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sqlalchemy import select

import nbtrack
from nbtrack.errors import InvalidInput, NotFound, UntrustedModel
from nbtrack.snapshot import model_io
from nbtrack.store.schema import lineage


def _data(seed: int = 0, n: int = 120):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"age": rng.normal(40, 10, n), "income": rng.normal(5e4, 1e4, n),
                      "visits": rng.integers(0, 20, n)})
    y = (X["age"] + rng.normal(0, 5, n) > 40).astype(int)
    return X, y


def _clf(seed: int = 0):
    X, y = _data(seed)
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), X


class Custom(BaseEstimator, ClassifierMixin):
    """A user-defined estimator: skops saves it, but does not trust it on load."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.mean_ = np.asarray(X).mean(axis=0)
        return self

    def predict(self, X):
        return (np.asarray(X)[:, 0] > self.mean_[0]).astype(int)


class Odd:
    """Not savable by skops (a complex number inside), picklable by joblib."""

    def __init__(self):
        self.z = 1 + 2j
        self.w = np.arange(3.0)

    def predict(self, X):
        return np.asarray(X) @ self.w


def test_round_trip_predicts_identically(workspace):
    model, X = _clf()
    v = nbtrack.log_model(model, "clf", X=X)
    assert (v.ref, v.format, v.unsafe, v.new) == ("clf@1", "nbtrack.model/1", False, True)
    loaded = nbtrack.load_model("clf@1")
    assert loaded is not model
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    reg = LinearRegression().fit(X, X["income"] * 2)
    nbtrack.log_model(reg, "reg")
    np.testing.assert_array_equal(nbtrack.load_model("reg").predict(X), reg.predict(X))
    from sklearn.ensemble import RandomForestClassifier  # trees: skops' reduce path, nested tuples

    _, y = _data()
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    assert nbtrack.log_model(forest, "forest").ref == "forest@1"
    assert not nbtrack.log_model(RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y), "forest").new
    np.testing.assert_array_equal(nbtrack.load_model("forest").predict_proba(X), forest.predict_proba(X))


def test_versions_dedupe_and_references(workspace):
    model, X = _clf(0)
    assert nbtrack.log_model(model, "clf").ref == "clf@1"
    again, _ = _clf(0)  # refitted on the same data: same bytes, same version
    v = nbtrack.log_model(again, "clf")
    assert (v.ref, v.new) == ("clf@1", False)
    other, _ = _clf(1)
    assert nbtrack.log_model(other, "clf").ref == "clf@2"
    assert nbtrack.get_model_version("clf").version == 2
    assert nbtrack.get_model_version("clf@latest").version == 2
    assert nbtrack.get_model_version("clf@1").oid != nbtrack.get_model_version("clf@2").oid
    with pytest.raises(NotFound, match="versions 1..2"):
        nbtrack.load_model("clf@7")
    with pytest.raises(NotFound, match="no model named 'nope'"):
        nbtrack.load_model("nope")
    with pytest.raises(InvalidInput):
        nbtrack.log_model(model, "bad name@x")


def test_bytes_are_canonical_across_processes(workspace, tmp_path):
    model, _ = _clf(0)
    first = nbtrack.log_model(model, "clf")
    code = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(tmp_path)!r})
        sys.path.insert(0, {__file__.rsplit('/', 1)[0]!r})
        from test_models import _clf
        import nbtrack
        print(nbtrack.log_model(_clf(0)[0], "clf").ref)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "clf@1"
    assert model_io.skops_dumps(model) == model_io.skops_dumps(model)
    import skops.io as sio  # the fast path writes exactly what canonicalizing skops' own archive gives

    assert model_io.canonical_zip(sio.dumps(model)) == model_io.skops_dumps(model)
    assert model_io.canonical_zip(sio.dumps(model)) == model_io._archive(*model_io._public_state(model))
    assert first.workspace.objects.get(first.oid) == model_io.dumps(model)[0]  # raw arrays (nbtrack.model/1)


def test_untrusted_type_refused_with_instructions(workspace):
    X, y = _data()
    est = Custom().fit(X.values, y)
    nbtrack.log_model(est, "custom")
    name = f"{Custom.__module__}.Custom"
    with pytest.raises(UntrustedModel) as info:
        nbtrack.load_model("custom@1")
    assert name in str(info.value) and f"trust=['{name}']" in str(info.value)
    assert info.value.fields["types"] == [name]
    for trust in ([name], True):
        np.testing.assert_array_equal(nbtrack.load_model("custom@1", trust=trust).predict(X.values),
                                      est.predict(X.values))


def test_joblib_fallback_needs_trust(workspace):
    v = nbtrack.log_model(Odd(), "odd")
    assert (v.format, v.unsafe) == ("joblib", True)
    with pytest.raises(UntrustedModel, match="trust=True"):
        nbtrack.load_model("odd")
    with pytest.raises(UntrustedModel):
        nbtrack.load_model("odd", trust=[f"{Odd.__module__}.Odd"])
    assert nbtrack.load_model("odd", trust=True).predict(np.ones((1, 3))).tolist() == [3.0]
    with pytest.raises(InvalidInput, match="allow_pickle"):
        nbtrack.log_model(Odd(), "odd2", allow_pickle=False)


def test_signature_params_and_lineage(workspace):
    model, X = _clf()
    X = X.astype({"visits": "int32"})
    with nbtrack.track("train") as run:
        v = nbtrack.log_model(model, "clf", X=X)
    sig = v.signature
    assert [c["name"] for c in sig["inputs"]] == ["age", "income", "visits"]
    assert sig["inputs"][2]["dtype"] == "int32"
    assert sig["n_features"] == 3
    assert sig["output"] == {"kind": "classifier", "classes": [0, 1]}
    assert "predict_proba" in sig["methods"]
    import sklearn

    assert sig["packages"]["sklearn"] == sklearn.__version__ and "numpy" in sig["packages"]
    assert v.params["logisticregression__C"] == 1.0 and v.run_id == run.id
    run_params = nbtrack.get_run(run.id).params  # only what differs from the defaults, under model.NAME.
    assert run_params["model.clf.logisticregression"] == "LogisticRegression"
    assert "model.clf.logisticregression__C" not in run_params and "clf.logisticregression__C" not in run_params
    with workspace.meta.read() as conn:
        rows = conn.execute(select(lineage.c.direction, lineage.c.model_version_id).where(
            lineage.c.run_id == run.id)).all()
    assert rows == [("output", v.id)]
    reg = LinearRegression().fit(X, X["income"])
    assert nbtrack.log_model(reg, "reg").signature["output"] == {"kind": "regressor"}


def test_numpy_functions_are_not_trusted_by_default():
    assert model_io.default_trusted("sklearn.tree._tree.Tree")
    assert model_io.default_trusted("numpy.ndarray")
    assert not model_io.default_trusted("numpy.load")
    assert not model_io.default_trusted("builtins.eval")


def test_version_mismatch_warns(workspace):
    import json

    from nbtrack.store.schema import model_versions

    model, _ = _clf()
    v = nbtrack.log_model(model, "clf")
    sig = dict(v.signature, packages={"sklearn": "0.0.1"})
    with workspace.meta.write() as conn:
        conn.execute(model_versions.update().where(model_versions.c.id == v.id).values(signature=json.dumps(sig)))
    with pytest.warns(UserWarning, match="saved with sklearn 0.0.1"):
        nbtrack.load_model("clf@1")


# -- trust (issue 12, r12): skops' defaults plus a reviewed class list, never sklearn.* functions ----
def test_a_stored_sklearn_function_is_not_trusted_without_trust(workspace):
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.utils._testing import assert_run_python_script_without_output as runpy

    from nbtrack.errors import UntrustedModel

    nbtrack.log_model(FunctionTransformer(func=runpy, validate=False), "evil", allow_pickle=False)
    name = "sklearn.utils._testing.assert_run_python_script_without_output"
    with pytest.raises(UntrustedModel, match=name.replace(".", r"\.")):
        nbtrack.load_model("evil")
    assert not model_io.default_trusted(name) and not model_io.default_trusted("sklearn.datasets.fetch_openml")
    assert nbtrack.load_model("evil", trust=[name]).func is runpy  # an explicit, named decision


@pytest.mark.parametrize("make", ["forest", "hist_gb", "knn", "gp", "mlp"])
def test_common_fitted_estimators_load_without_trust(workspace, make):
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier

    X = np.random.default_rng(0).random((40, 3))
    y = (X[:, 0] > 0.5).astype(int)
    est = {"forest": lambda: RandomForestClassifier(n_estimators=3), "hist_gb": lambda: HistGradientBoostingClassifier(
        max_iter=3), "knn": KNeighborsClassifier, "gp": GaussianProcessRegressor,
        "mlp": lambda: MLPClassifier(max_iter=20)}[make]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    nbtrack.log_model(est, make, allow_pickle=False)
    assert (nbtrack.load_model(make).predict(X) == est.predict(X)).all()


def test_the_trusted_list_holds_only_classes():
    import importlib

    from nbtrack.snapshot.trusted_types import TRUSTED_TYPES

    for name in TRUSTED_TYPES:
        module, _, attr = name.rpartition(".")
        assert isinstance(getattr(importlib.import_module(module), attr), type), name
        assert "PyFunc" not in name


def test_a_model_object_that_is_not_a_zip_is_one_line(workspace):
    """Its bytes are sound (fsck is clean) but its format field says skops: one clear error."""
    from nbtrack.errors import NbtrackError
    from nbtrack.store.schema import model_versions

    model, _ = _clf()
    v = nbtrack.log_model(model, "clf")
    with workspace.meta.write() as conn:
        conn.execute(model_versions.update().where(model_versions.c.id == v.id).values(
            oid=workspace.objects.put(b"pickled bytes, relabelled")))
    with pytest.raises(NbtrackError) as e:
        nbtrack.load_model("clf@1", trust=True)
    assert "not a readable nbtrack.model/1 archive" in str(e.value) and "\n" not in str(e.value)
