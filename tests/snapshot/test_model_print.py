"""The model fingerprint read like the archive (snapshot/model_print.py): cheap re-logs, never a missed change."""

from __future__ import annotations

import gc

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

import nbtrack
from nbtrack.snapshot import model_io, model_print


def _data(seed=0, n=200):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return X, (X[:, 0] + rng.normal(0, 0.3, n) > 0).astype(int)


def _rf(seed=0, n=8):
    X, y = _data(seed)
    return RandomForestClassifier(n_estimators=n, random_state=seed).fit(X, y)


def _pipeline(c=1.0):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=300), "city": rng.choice(["a", "b", "c"], 300)})
    y = (df["x"] > 0).astype(int)
    ct = ColumnTransformer([("num", StandardScaler(), ["x"]), ("cat", OneHotEncoder(), ["city"])])
    return make_pipeline(ct, LogisticRegression(C=c)).fit(df, y)


fp = model_io.fingerprint


def test_archive_candidates_use_the_walk_and_are_stable_across_cached_walks():
    for model in (_rf(), _pipeline(), GradientBoostingClassifier(n_estimators=5, subsample=0.5,
                                                                random_state=0).fit(*_data())):
        first = fp(model)
        assert first is not None and first.startswith("raw:")
        assert fp(model) == fp(model) == first  # (the second walk reuses the remembered parts)
    assert fp(_rf()) == fp(_rf()) and fp(_pipeline()) == fp(_pipeline())  # equal models, equal prints
    assert fp(_rf(seed=1)) != fp(_rf()) and fp(_pipeline(2.0)) != fp(_pipeline())


def test_other_objects_fall_back_to_the_pickle_fingerprint():
    ft = FunctionTransformer(func=np.log1p)  # a function: not an nbtrack.model/1 candidate
    assert model_print.fingerprint(ft, model_io._fast_candidate) is None
    assert fp(ft) is not None and not fp(ft).startswith("raw:")
    assert fp(lambda x: x) is None
    assert model_print.fingerprint(np.arange(3), model_io._fast_candidate) is None  # not an estimator
    assert model_print.fingerprint({"a": _rf()}, model_io._fast_candidate) is None


def _edits():
    """Changes made in place after a first (remembered) walk: each must change the fingerprint."""
    def tree_value(m):
        m.estimators_[3].tree_.value[0, 0, 0] += 0.5

    def threshold(m):
        m.estimators_[5].tree_.threshold[0] += 1e-12

    def refit_one_tree(m):
        other = _rf(seed=7)
        m.estimators_[3].tree_ = other.estimators_[3].tree_

    def swap_estimator(m):
        m.estimators_[2] = _rf(seed=9).estimators_[2]

    def classes_in_place(m):
        m.classes_[0] = 5

    def int_to_equal_float(m):
        m.estimators_[0].min_samples_split = 2.0

    def equal_int_other_object(m):
        m.n_estimators = int("8")  # same value, another object: may or may not change; must not break

    def new_attribute(m):
        m.estimators_[1].extra_ = 1

    def dropped_attribute(m):
        del m.estimators_[1].monotonic_cst

    def reshape_in_place(m):
        m.classes_.shape = (2, 1)

    def retype_in_place(m):
        m.estimators_[0].classes_.dtype = np.int64

    def list_grows(m):
        m.estimators_.append(m.estimators_[0])

    def aliasing(m):
        m.estimators_[1].classes_ = m.estimators_[0].classes_  # equal values, now one shared array

    def estimator_param(m):
        m.estimators_[4].max_features = "log2"

    def tree_node_count(m):  # (a public attribute of sklearn's Tree: its node table gets shorter)
        m.estimators_[6].tree_.node_count -= 1

    def tree_max_depth(m):
        m.estimators_[6].tree_.max_depth += 1

    def template_param(m):  # (the unfitted template estimator the forest keeps)
        m.estimator_.max_depth = 3

    return [tree_value, threshold, refit_one_tree, swap_estimator, classes_in_place, int_to_equal_float,
            new_attribute, dropped_attribute, reshape_in_place, retype_in_place, list_grows, aliasing,
            estimator_param, tree_node_count, tree_max_depth, template_param], equal_int_other_object


@pytest.mark.parametrize("edit", _edits()[0], ids=lambda f: f.__name__)
def test_a_change_in_place_is_never_taken_for_the_stored_model(edit):
    m = _rf()
    before = fp(m)
    data, _ = model_io.dumps(m)
    assert fp(m) == before  # remembered
    edit(m)
    after = fp(m)
    assert after != before
    assert model_io.dumps(m)[0] != data  # (the archive changed too: the edit is real)
    assert fp(m) == after  # and the new state is remembered correctly


def test_a_structured_array_renamed_in_place_changes_the_print():
    m = _rf()
    m.table_ = np.zeros(3, dtype=[("a", "<i8"), ("b", "<f8")])
    before = fp(m)
    data, _ = model_io.dumps(m)
    assert fp(m) == before
    m.table_.dtype.names = ("x", "y")  # (numpy allows renaming fields in place: same bytes, another dtype)
    after = fp(m)
    assert after != before and model_io.dumps(m)[0] != data
    assert fp(m) == after


def test_equal_values_in_new_objects_give_the_archive_s_answer():
    m = _rf()
    before, data = fp(m), model_io.dumps(m)[0]
    _edits()[1](m)
    assert (fp(m) == before) == (model_io.dumps(m)[0] == data)


def test_shared_and_copied_arrays_differ_like_their_archives():
    a, b = _rf(), _rf()
    b.estimators_[1].classes_ = b.estimators_[0].classes_
    c = _rf()
    c.estimators_[1].classes_ = c.estimators_[0].classes_.copy()
    assert fp(a) == fp(c) and fp(b) != fp(a)
    assert model_io.dumps(a)[0] == model_io.dumps(c)[0] != model_io.dumps(b)[0]


def test_non_contiguous_and_fortran_arrays_are_read_in_the_archive_s_order():
    m = LogisticRegression().fit(*_data())
    base = fp(m)
    m.coef_ = np.asfortranarray(np.vstack([m.coef_, m.coef_]))
    f = fp(m)
    m.coef_ = np.ascontiguousarray(m.coef_)
    assert f != fp(m) != base
    m.coef_ = np.vstack([m.coef_, m.coef_])[::2]  # a strided view: hashed as its values
    assert fp(m) == fp(m)


def test_remembered_parts_are_dropped_with_their_estimator():
    m = _rf(n=5)
    fp(m)
    ids = [id(e) for e in m.estimators_]
    assert all(i in model_print._CACHE for i in ids)
    del m
    gc.collect()
    assert not any(i in model_print._CACHE for i in ids)


def test_relog_of_an_edited_forest_makes_a_new_version_that_loads_as_edited(workspace):
    X, _ = _data()
    m = _rf()
    first = nbtrack.log_model(m, "rf")
    assert nbtrack.log_model(m, "rf").version == first.version
    m.estimators_[2].tree_.threshold[0] += 0.25
    second = nbtrack.log_model(m, "rf")
    assert second.new and second.version == first.version + 1
    assert np.array_equal(nbtrack.load_model(second.ref).predict_proba(X), m.predict_proba(X))
