"""The model fingerprint read like the archive (snapshot/model_print.py): cheap re-logs, never a missed change."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (BaggingRegressor, ExtraTreesRegressor, GradientBoostingClassifier, IsolationForest,
                              RandomForestClassifier)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.tree import ExtraTreeClassifier

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


def _fresh(model):
    """The print of ``model`` with nothing remembered: what a first walk gives."""
    model_print._CACHE.clear()
    return fp(model)


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

    def class_changed(m):  # (the same object, now of a sibling class: same layout, another archive)
        m.estimators_[2].__class__ = ExtraTreeClassifier

    def tree_shared(m):
        m.estimators_[1].tree_ = m.estimators_[0].tree_

    def items_reordered(m):
        m.estimators_.reverse()

    def list_to_tuple(m):
        m.estimators_ = tuple(m.estimators_)

    def last_tree_value(m):
        m.estimators_[-1].tree_.value[-1, 0, -1] += 1.0

    def classes_retyped_everywhere(m):
        for e in m.estimators_:
            e.classes_ = e.classes_.astype(np.float32)

    def tree_n_features(m):  # (public attributes of Tree read beside __getstate__ on remembered forests)
        m.estimators_[2].tree_.n_features += 1

    def tree_n_outputs(m):  # (its class counts are then n_outputs entries of a fixed buffer: none here)
        m.estimators_[2].tree_.n_outputs = 0

    def tree_max_n_classes(m):
        m.estimators_[7].tree_.max_n_classes = 1

    return [tree_value, threshold, refit_one_tree, swap_estimator, classes_in_place, int_to_equal_float,
            new_attribute, dropped_attribute, reshape_in_place, retype_in_place, list_grows, aliasing,
            estimator_param, tree_node_count, tree_max_depth, template_param, class_changed, tree_shared,
            items_reordered, list_to_tuple, last_tree_value, classes_retyped_everywhere, tree_n_features,
            tree_n_outputs, tree_max_n_classes], equal_int_other_object


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
    assert _fresh(m) == after  # (the print is a function of the state: the same read afresh)


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


def _models():
    X, y = _data()
    rng = np.random.default_rng(1)
    Y = np.column_stack([y, rng.integers(0, 3, len(y))])
    return {
        "forest": _rf(n=12),
        "extra trees regressor": ExtraTreesRegressor(n_estimators=6, random_state=0).fit(X, X[:, 1]),
        "isolation forest": IsolationForest(n_estimators=5, random_state=0).fit(X),
        "bagging": BaggingRegressor(n_estimators=4, random_state=0).fit(X, X[:, 1]),
        "multi-output forest": RandomForestClassifier(n_estimators=4, random_state=0).fit(X, Y),
        "boosting": GradientBoostingClassifier(n_estimators=4, random_state=0).fit(X, y),
    }


@pytest.mark.parametrize("name", list(_models()))
def test_one_print_however_the_model_is_read(name):
    """First walk, remembered column form, remembered parts dropped: the same print."""
    m = _models()[name]
    first = fp(m)
    assert first.startswith("raw:")
    assert fp(m) == fp(m) == first
    assert _fresh(m) == first and fp(m) == first
    assert model_io.dumps(m)[0] == model_io.dumps(m)[0]


def test_a_forest_s_trees_are_read_in_column_form(monkeypatch):
    m = _rf(n=12)
    first = fp(m)
    batch = model_print._CACHE[id(m)].lists[id(m.estimators_)]
    assert batch.head[:3] == ("LB", "sklearn.tree._classes.DecisionTreeClassifier", 12)
    walked = []
    real = model_print._Walk.estimator
    monkeypatch.setattr(model_print._Walk, "estimator",
                        lambda self, v, t, name: walked.append(v) or real(self, v, t, name))
    assert fp(m) == first
    assert not set(map(id, walked)) & set(map(id, m.estimators_))  # (no tree walked one by one)
    m.estimators_[5].tree_.threshold[3] += 1.0
    second = fp(m)
    assert second != first  # (the trees' bytes are hashed again on every walk)
    assert model_print._CACHE[id(m)].lists[id(m.estimators_)] is batch
    m.estimators_[2].max_depth = 3  # (a changed item: walked again, and the column form made anew)
    assert fp(m) not in (first, second)
    assert model_print._CACHE[id(m)].lists[id(m.estimators_)] is not batch


def test_shared_children_before_and_after_the_trees_keep_one_print():
    m = _rf()
    m.after_ = m.estimators_[3].classes_  # (a back-reference into the trees' children)
    m.__dict__ = {"before_": m.estimators_[5].tree_, **m.__dict__}  # (a tree seen before the list)
    first = fp(m)
    assert fp(m) == first == _fresh(m)
    data = model_io.dumps(m)[0]
    m.after_ = m.after_.copy()  # (equal values, no longer shared: another archive)
    assert model_io.dumps(m)[0] != data and fp(m) != first
    m.after_ = m.estimators_[3].classes_
    assert fp(m) == first
    m.before_.threshold[0] += 1.0
    assert fp(m) != first and fp(m) == _fresh(m)


def test_a_strided_classes_array_keeps_a_stable_print():
    m = _rf()
    c = m.estimators_[4].classes_
    m.estimators_[4].classes_ = np.repeat(c, 2)[::2]  # (equal values, not contiguous: the walk copies it)
    first = fp(m)
    assert fp(m) == first == _fresh(m)
    m.estimators_[4].classes_[0] += 1
    assert fp(m) != first


def test_node_fields_renamed_in_place_change_the_print():
    m = _rf()
    before = fp(m)
    dt = m.estimators_[0].tree_.__reduce__()[2]["nodes"].dtype  # (sklearn's one node dtype object)
    names = dt.names
    try:
        dt.names = ("a", *names[1:])
        assert fp(m) != before
    finally:
        dt.names = names
    assert fp(m) == before


def test_a_replaced_list_s_trees_are_not_kept():
    m = _rf()
    fp(m)
    fp(m)
    old = weakref.ref(m.estimators_[0])
    m.estimators_ = [_rf(seed=3).estimators_[0], *m.estimators_[1:]]
    fp(m)
    gc.collect()
    assert old() is None


def test_object_arrays_of_strings_read_at_once_still_see_every_change():
    m = _pipeline()
    cats = m[0].named_transformers_["cat"].categories_[0]  # (an object array of str)
    before = fp(m)
    assert fp(m) == before == _fresh(m)
    old = cats[1]
    cats[1] = "z"  # (in place)
    after = fp(m)
    assert after != before and fp(m) == after == _fresh(m)
    cats[1] = "".join(old)  # (an equal string, another object: the same archive)
    assert fp(m) == before
    cats[1] = 1  # (not a string any more: walked item by item)
    assert fp(m) not in (before, after)
    assert fp(m) == _fresh(m)


@pytest.mark.parametrize("name", ["forest", "extra trees regressor", "bagging"])
def test_the_column_form_read_from_the_walk_is_the_one_made_from_the_objects(name):
    import pickle

    from nbtrack.snapshot import model_columns

    m = _models()[name]
    model_print._CACHE.clear()
    w = model_print._Walk(model_io._fast_candidate)
    w.root(m)  # (a first walk: the column form is read from the walk's tokens)
    at = next(i for i, t in enumerate(w.tok) if type(t) is tuple and t[0] == "LB")
    batch = next(iter(w.made.values()), None) or next(
        b for e in model_print._CACHE.values() for b in (e.lists or {}).values())
    made = model_columns.columns(batch.cols, batch.kinds, model_print._DTYPES)[0]  # (from the objects)
    read = w.tok[at + 1:at + 1 + len(made)]
    assert read == made and pickle.dumps(read, protocol=5) == pickle.dumps(made, protocol=5)
    assert any(batch.known)  # (the trees' class counts, noted from this walk's reductions)
    toks, lanes, _ = model_columns.columns(batch.cols, batch.kinds, model_print._DTYPES, batch.known)
    reduced = model_columns.columns(batch.cols, batch.kinds, model_print._DTYPES)
    assert pickle.dumps(toks, protocol=5) == pickle.dumps(reduced[0], protocol=5)  # (__getstate__ + attributes)
    assert [[a.tobytes() for a in lane] for lane in lanes] == [[a.tobytes() for a in lane] for lane in reduced[1]]


def test_the_print_does_not_depend_on_what_is_remembered(monkeypatch):
    m = _rf(n=12)
    expected = _fresh(m)
    monkeypatch.setattr(model_print, "_CACHE_MAX", 5)  # (entries forgotten again and again mid-walk)
    model_print._CACHE.clear()
    assert fp(m) == fp(m) == fp(m) == expected


def test_strided_arrays_beside_the_trees_keep_one_print():
    m = _rf()  # (a strided float64 array is copied by the walk, before and after the trees' float64 arrays)
    m.__dict__ = {"pre_": np.arange(12.0)[::2], **m.__dict__}
    m.post_ = np.arange(12.0)[::3]
    first = fp(m)
    assert fp(m) == fp(m) == first == _fresh(m)
    m.post_[1] += 1.0
    assert fp(m) != first
