"""skops' default trust proved per class (snapshot/skops_rules.py): a first load without skops' lists, same answers."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
import textwrap
import warnings

import pytest
import sklearn

from nbtrack.errors import UntrustedModel
from nbtrack.snapshot import model_io, skops_rules


def _sklearn_classes() -> set[str]:
    """Every class defined in a scikit-learn module (tests excluded), named as skops names it."""
    names = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _, module_name, _ in pkgutil.walk_packages(sklearn.__path__, prefix="sklearn."):
            if any(p in ("tests", "conftest", "externals", "estimator_checks") for p in module_name.split(".")):
                continue
            try:
                module = importlib.import_module(module_name)
            except Exception:
                continue
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if cls.__module__.startswith("sklearn."):
                    names.add(f"{cls.__module__}.{cls.__name__}")
    return names


@pytest.mark.slow
def test_the_rule_proves_exactly_skops_estimator_list():
    from skops.io._trusted_types import SKLEARN_ESTIMATOR_TYPE_NAMES, SKLEARN_INTERNAL_TYPE_NAMES

    assert skops_rules.discovery_digest() in skops_rules.KNOWN_DISCOVERY  # (else the rule proves nothing)
    listed = set(SKLEARN_ESTIMATOR_TYPE_NAMES) | set(SKLEARN_INTERNAL_TYPE_NAMES)
    proved = {n for n in _sklearn_classes() if skops_rules.listed(n)}
    assert proved - listed == set()  # never trusted where skops would not
    assert set(SKLEARN_ESTIMATOR_TYPE_NAMES) - proved == set()  # and every estimator found without the lists


@pytest.mark.parametrize("name", [
    "sklearn.tree._tree.Tree",  # not an estimator: skops' own list decides
    "sklearn.base.BaseEstimator",
    "sklearn.utils._testing.MinimalClassifier",  # a private module only: not imported, not proved
    "sklearn.ensemble._forest.BaseForest",  # abstract
    "sklearn.ensemble._forest.NoSuchClass",
    "sklearn.ensemble._forest._private",
    "sklearn.tests.test_base.T",
    "sklearn.RandomForestClassifier",
    "os.system",
    "numpy.ndarray",
])
def test_what_is_not_proved_is_left_to_skops(name):
    assert skops_rules.listed(name) is None


def test_an_unknown_discovery_proves_nothing(monkeypatch):
    monkeypatch.setattr(skops_rules, "KNOWN_DISCOVERY", frozenset())
    monkeypatch.setattr(skops_rules, "_state", {})
    assert skops_rules.listed("sklearn.ensemble._forest.RandomForestClassifier") is None


def _lr_with(attr):
    """A LogisticRegression archive whose state gains ``attr`` (as test_model_archive_fast crafts them)."""
    import json
    import struct

    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from nbtrack.snapshot import model_raw

    X = np.random.default_rng(0).normal(size=(100, 3))
    data, _ = model_io.dumps(LogisticRegression().fit(X, (X[:, 0] > 0).astype(int)))
    header, base = model_raw._parse(data)
    header["root"]["s"]["crafted_"] = attr
    head = json.dumps(header, separators=(",", ":")).encode()
    pad = b" " * (-(len(model_raw.MAGIC) + 8 + len(head)) % 64)
    return model_raw.MAGIC + struct.pack("<Q", len(head)) + head + pad + bytes(data[base:])


def _first_load(code: str, tmp_path) -> str:
    script = textwrap.dedent("""
        import sys
        import numpy as np
        from sklearn.ensemble import RandomForestClassifier
        from nbtrack.snapshot import model_io
        X = np.random.default_rng(0).normal(size=(200, 4)); y = (X[:, 0] > 0).astype(int)
        rf = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
        data, fmt = model_io.dumps(rf)
        assert fmt == model_io.FAST
        assert "skops" not in sys.modules
    """) + textwrap.dedent(code)
    path = tmp_path / "first_load.py"
    path.write_text(script)
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_first_load_of_a_forest_does_not_import_skops(tmp_path):
    out = _first_load("""
        back = model_io.loads(data, fmt)
        assert (back.predict_proba(X) == rf.predict_proba(X)).all()
        print("skops" in sys.modules)
    """, tmp_path)
    assert out.split() == ["False"]


def test_a_class_skops_must_judge_imports_its_lists_and_gets_their_answer(tmp_path):
    out = _first_load("""
        import json, struct
        from nbtrack.errors import UntrustedModel
        from nbtrack.snapshot import model_raw
        header, base = model_raw._parse(data)
        header["root"]["s"]["crafted_"] = {"o": "sklearn.utils._testing.MinimalClassifier"}
        head = json.dumps(header, separators=(",", ":")).encode()
        pad = b" " * (-(len(model_raw.MAGIC) + 8 + len(head)) % 64)
        crafted = model_raw.MAGIC + struct.pack("<Q", len(head)) + head + pad + bytes(data[base:])
        try:
            model_io.loads(crafted, fmt)
        except UntrustedModel as e:
            print(",".join(e.fields["types"]))
        print("skops.io._trusted_types" in sys.modules)
    """, tmp_path)
    assert out.split() == ["sklearn.utils._testing.MinimalClassifier", "True"]


def test_refusals_are_the_same_without_skops_lists(monkeypatch):
    """The crafted archives of test_model_archive_fast, loaded before skops' lists exist: same errors."""
    for name in ("os.system", "collections.OrderedDict", "sklearn.utils._testing.MinimalClassifier",
                 "sklearn.tree._tree.Tree"):
        crafted = _lr_with({"o": name, "s": {"x": 1}})
        errors = []
        for defaults in (None, "computed"):
            if defaults is None:
                monkeypatch.setattr(model_io, "_SKOPS_DEFAULTS", None)
                monkeypatch.setattr(model_io, "skops_trusted", _no_lists_for(name))
            else:
                monkeypatch.undo()
                model_io.skops_trusted("x")  # (skops' lists computed)
            try:
                model_io.loads(crafted, model_io.FAST, what="model m@1")
                errors.append(None)
            except UntrustedModel as e:
                errors.append((str(e), e.fields["types"]))
            except Exception as e:  # (a trusted name still fails to build from a crafted state)
                errors.append(type(e).__name__)
        assert errors[0] == errors[1], name


def _no_lists_for(expected: str):
    """skops_trusted as it is, recording that only a name the rule could not prove asked for the lists."""
    real = model_io.skops_trusted

    def asked(name: str) -> bool:
        if model_io._SKOPS_DEFAULTS is None:  # (the first question: the rule could not prove it)
            assert not skops_rules.listed(name)
        return real(name)

    return asked


def test_trust_lists_still_apply_on_the_fast_audit(monkeypatch):
    monkeypatch.setattr(model_io, "_SKOPS_DEFAULTS", None)
    crafted = _lr_with({"o": "collections.OrderedDict"})
    with pytest.raises(UntrustedModel):
        model_io.loads(crafted, model_io.FAST)
    with pytest.raises(UntrustedModel):
        model_io.loads(crafted, model_io.FAST, trust=["something.else"])
