"""Model fast paths (issue 18, target 3): one parse on load, no archive for an unchanged model."""

from __future__ import annotations

import numpy as np
import pytest
import skops.io as sio
from sklearn.ensemble import RandomForestClassifier
from sklearn.preprocessing import FunctionTransformer

import nbtrack
from nbtrack.errors import UntrustedModel
from nbtrack.snapshot import model_io


def _rf(seed=0, n=10):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] + rng.normal(0, 0.3, 200) > 0).astype(int)
    return RandomForestClassifier(n_estimators=n, random_state=seed).fit(X, y), X


def test_one_parse_load_predicts_exactly_and_uses_no_second_parse(workspace, monkeypatch):
    rf, X = _rf()
    v = nbtrack.log_model(rf, "rf")
    monkeypatch.setattr(sio, "get_untrusted_types", lambda **_: pytest.fail("audited twice"))
    monkeypatch.setattr(sio, "loads", lambda *_a, **_k: pytest.fail("parsed twice"))
    back = nbtrack.load_model(v.ref)
    assert np.array_equal(back.predict_proba(X), rf.predict_proba(X))


def test_one_parse_refuses_the_same_types_as_skops_audit(workspace):
    import json

    ft = FunctionTransformer(func=json.dumps, validate=False)
    data, fmt = model_io.dumps(ft, allow_pickle=False)
    expected = [t for t in sio.get_untrusted_types(data=data) if not model_io.default_trusted(t)]
    assert expected == ["json.dumps"]
    with pytest.raises(UntrustedModel) as info:
        model_io.loads(data, fmt)
    assert info.value.fields["types"] == expected
    with pytest.raises(UntrustedModel):
        model_io.loads(data, fmt, trust=["something.else"])
    assert model_io.loads(data, fmt, trust=expected).func is json.dumps
    assert model_io.loads(data, fmt, trust=True).func is json.dumps


def test_not_a_zip_is_still_one_clear_error():
    from nbtrack.errors import NbtrackError

    with pytest.raises(NbtrackError, match="not a readable skops file"):
        model_io.loads(b"not a zip", model_io.SKOPS)


def test_unchanged_model_is_not_archived_again(workspace, monkeypatch):
    rf, X = _rf()
    first = nbtrack.log_model(rf, "rf")
    calls = []
    real = model_io.dumps
    monkeypatch.setattr(model_io, "dumps", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = nbtrack.log_model(rf, "rf")
    assert (again.version, again.oid, again.new) == (first.version, first.oid, False) and calls == []
    twin, _ = _rf()  # an equal model built again: same fingerprint, same object
    assert nbtrack.log_model(twin, "rf").oid == first.oid and calls == []
    rf.estimators_[3].tree_.value[0, 0, 0] += 0.5  # one number changed in place: archived again
    changed = nbtrack.log_model(rf, "rf")
    assert changed.new and changed.oid != first.oid and calls == [1]
    assert np.array_equal(nbtrack.load_model(changed.ref).predict_proba(X), rf.predict_proba(X))


def test_fingerprint_hit_is_checked_against_the_store(workspace, monkeypatch):
    rf, _ = _rf()
    first = nbtrack.log_model(rf, "rf")
    ws = nbtrack.get_workspace()
    # as if gc removed it: refreshing the stored object's age finds nothing to refresh
    monkeypatch.setattr(type(ws.objects), "refresh", lambda self, objects: False)
    calls = []
    real = model_io.dumps
    monkeypatch.setattr(model_io, "dumps", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert nbtrack.log_model(rf, "rf").oid == first.oid and calls == [1]


def test_fingerprint_distinguishes_parameters_and_unpicklable_objects():
    a, _ = _rf(n=10)
    b, _ = _rf(n=11)
    assert model_io.fingerprint(a) != model_io.fingerprint(b)
    assert model_io.fingerprint(a) == model_io.fingerprint(_rf(n=10)[0])
    assert model_io.fingerprint(lambda x: x) is None


def _two_pass_archive(schema, files):
    """The archive as written before the one-pass canonical rewrite (reference for byte equality)."""
    import io
    import json
    import zipfile

    ids = {}

    def renumber(node):
        if isinstance(node, dict):
            if isinstance(node.get("__id__"), int):
                node["__id__"] = ids.setdefault(node["__id__"], len(ids) + 1)
            for v in node.values():
                renumber(v)
        elif isinstance(node, (list, tuple)):
            for v in node:
                renumber(v)

    def rename(name):
        stem, dot, ext = name.partition(".")
        return f"{ids.setdefault(int(stem), len(ids) + 1)}{dot}{ext}" if stem.isdigit() else name

    def refs(node, names):
        if isinstance(node, dict):
            return {k: refs(v, names) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [refs(v, names) for v in node]
        return names.get(node, node) if isinstance(node, str) else node

    renumber(schema)
    names = {n: rename(n) for n in files}
    schema = refs(schema, names)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as dst:
        for old, new in sorted(names.items(), key=lambda kv: kv[1]):
            dst.writestr(zipfile.ZipInfo(new, model_io._FIXED_TIME), files[old])
        dst.writestr(zipfile.ZipInfo("schema.json", model_io._FIXED_TIME), json.dumps(schema, separators=(",", ":")))
    return out.getvalue()


def test_one_pass_archive_writes_the_same_bytes_as_before():
    """Stored models keep their object ids (deduplication against versions stored earlier)."""
    import copy

    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rf, X = _rf()
    y = (X[:, 0] > 0).astype(int)
    for m in [rf, make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y),
              HistGradientBoostingClassifier(max_iter=3).fit(X, y), OneHotEncoder().fit([["a", 1], ["b", 2]])]:
        state, files = model_io._private_state(m)
        assert model_io._archive(copy.deepcopy(state), files) == _two_pass_archive(state, files)
