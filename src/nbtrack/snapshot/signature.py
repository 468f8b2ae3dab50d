"""What a model takes and returns, and its hyper-parameters, as JSON-safe data.

Nothing here imports scikit-learn unless the object already comes from it, so
describing a non-sklearn object never pays for ``import sklearn``.
"""

from __future__ import annotations

import math
import sys
from typing import Any

_PRIMITIVES = (bool, int, float, str, type(None))
MAX_PARAMS = 100


def is_sklearn_object(obj: Any) -> bool:
    """True for instances of ``sklearn.base.BaseEstimator`` (only if sklearn is imported)."""
    base = sys.modules.get("sklearn.base")
    return base is not None and isinstance(obj, base.BaseEstimator)


def is_fitted(obj: Any) -> bool:
    """A fitted scikit-learn estimator or pipeline (scikit-learn's own check)."""
    if not is_sklearn_object(obj) or isinstance(obj, type):
        return False
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(obj)
    except (NotFittedError, TypeError, ValueError, AttributeError):
        return False
    return True


def output_kind(obj: Any) -> dict[str, Any]:
    """``{"kind": "classifier", "classes": [...]}``, ``regressor``, ``transformer``, ..."""
    if is_sklearn_object(obj):
        from sklearn.base import is_classifier, is_clusterer, is_outlier_detector, is_regressor

        if is_classifier(obj):
            classes = getattr(obj, "classes_", None)
            return {"kind": "classifier", "classes": _json_safe(list(classes)) if classes is not None else None}
        if is_regressor(obj):
            return {"kind": "regressor"}
        if is_clusterer(obj):
            return {"kind": "clusterer"}
        if is_outlier_detector(obj):
            return {"kind": "outlier_detector"}
    if hasattr(obj, "transform") and not hasattr(obj, "predict"):
        return {"kind": "transformer"}
    return {"kind": "estimator" if hasattr(obj, "predict") else "object"}


def signature(obj: Any, X: Any = None) -> dict[str, Any]:
    """Inputs (column names and dtypes), number of features, output kind and methods.

    Parameters
    ----------
    obj : object
        The model.
    X : pandas.DataFrame, optional
        The training frame, for dtypes (and names when the model kept none).
    """
    names = getattr(obj, "feature_names_in_", None)
    names = [str(n) for n in names] if names is not None else None
    dtypes = _frame_dtypes(X)
    if names is None and dtypes:
        names = list(dtypes)
    inputs = [{"name": n, "dtype": dtypes.get(n) if dtypes else None} for n in names] if names else None
    n = getattr(obj, "n_features_in_", None)
    return {
        "inputs": inputs,
        "n_features": int(n) if n is not None else (len(names) if names else None),
        "output": output_kind(obj),
        "methods": [m for m in ("predict", "predict_proba", "decision_function", "transform") if hasattr(obj, m)],
        "packages": packages(obj),
    }


def packages(obj: Any) -> dict[str, str]:
    """Versions of the model's own package and of numpy/scipy/skops, as loaded now (no new imports)."""
    roots = {type(obj).__module__.split(".", 1)[0], "numpy", "scipy", "skops", "joblib"}
    out = {}
    for root in sorted(roots):
        mod = sys.modules.get(root)
        version = getattr(mod, "__version__", None) if mod is not None else None
        if isinstance(version, str):
            out[root] = version
    return out


def _frame_dtypes(X: Any) -> dict[str, str]:
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items"):
        return {}
    return {str(k): str(v) for k, v in dtypes.items()}


def params(obj: Any) -> dict[str, Any]:
    """``get_params(deep=True)`` reduced to JSON-safe values (estimators by class name)."""
    get = getattr(obj, "get_params", None)
    if get is None:
        return {}
    try:
        raw = get(deep=True)
    except Exception:
        return {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if len(out) >= MAX_PARAMS:
            break
        safe = _param_value(value)
        if safe is not _SKIP:
            out[str(key)] = safe
    return out


_SKIP = object()


def _param_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, _PRIMITIVES):
        return value
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if isinstance(value, (list, tuple)) and all(isinstance(v, _PRIMITIVES) for v in value):
        return list(value)
    if isinstance(value, (list, tuple)):  # Pipeline.steps: its parts are listed separately by deep=True
        return _SKIP
    if hasattr(value, "get_params"):
        return type(value).__name__
    if callable(value):
        return getattr(value, "__qualname__", type(value).__name__)
    return repr(value)[:200]


def _json_safe(values: list) -> list:
    out = []
    for v in values:
        if hasattr(v, "item") and getattr(v, "ndim", 1) == 0:
            v = v.item()
        out.append(v if isinstance(v, _PRIMITIVES) else str(v))
    return out


def class_name(obj: Any) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def changed_params(obj: Any, prefix: str = "", depth: int = 0) -> dict[str, Any]:
    """The hyper-parameters set to something other than their default, JSON-safe.

    Nested estimators (pipeline steps, a search's estimator) appear by class name
    under their key, followed by their own non-default parameters
    (``{"svc": "SVC", "svc__C": 10}``). This is what a run shows of a model; the
    full ``get_params()`` stays on the model version.
    """
    try:
        from sklearn.utils._pprint import _changed_params

        changed = _changed_params(obj)
    except Exception:
        return {}
    out: dict[str, Any] = {}
    for k, v in changed.items():
        key = prefix + str(k)
        if isinstance(v, (list, tuple)) and v and all(
                isinstance(t, tuple) and len(t) >= 2 and isinstance(t[0], str) for t in v):
            for t in v:  # Pipeline.steps, ColumnTransformer.transformers, VotingClassifier.estimators
                if hasattr(t[1], "get_params") and not isinstance(t[1], type):
                    out[prefix + t[0]] = type(t[1]).__name__
                    if depth < 3:
                        out.update(changed_params(t[1], f"{prefix}{t[0]}__", depth + 1))
            continue
        if hasattr(v, "get_params") and not isinstance(v, type):
            out[key] = type(v).__name__
            if depth < 3:
                out.update(changed_params(v, key + "__", depth + 1))
            continue
        safe = _param_value(v)
        if safe is not _SKIP:
            out[key] = safe
        if len(out) >= MAX_PARAMS:
            break
    return out
