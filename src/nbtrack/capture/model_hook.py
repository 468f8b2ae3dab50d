"""Cell hook: fitted scikit-learn models a tracked cell binds become model versions.

A name the cell assigns (``clf = make_pipeline(...).fit(X, y)``) or fits in place
(``clf.fit(X, y)``) that holds a fitted estimator is logged as a model version
(a new version only when the fitted model changes), linked to the run as an
output. Loop variables are not models.

* **name**: the variable, per estimator class: ``svm_clf`` keeps one history per
  class, a later ``svm_clf = SVC()`` after ``LinearSVC`` becomes ``svm_clf-SVC``.
* **search objects** (``GridSearchCV``, ``RandomizedSearchCV``): only
  ``best_estimator_`` is stored, under the search's variable, and
  ``VAR.best_score_`` is a metric of the run.
* **once**: an object already stored by this kernel and not refitted since is not
  stored again (``best = grid.best_estimator_`` costs nothing).
* **training data**: read from the ``fit(X, y)`` call the cell makes on that
  variable: ``X`` must be a plain name (or ``X.values``) holding a DataFrame the
  data hook versioned, whose columns match the model's ``n_features_in_`` and
  ``feature_names_in_``. Anything else (numpy arrays, expressions, a fit made in
  another cell) records no training dataset — unknown, rather than a wrong edge.
  A versioned frame passed to ``score``/``predict`` of the model is evaluation
  data, and the cell's metrics are recorded as evaluations on it.

The hook costs a dictionary lookup when scikit-learn was never imported;
``%%track --no-models`` switches it off for a cell.
"""

from __future__ import annotations

import ast
import sys
import weakref
from typing import Any

from .hooks import CellContext

_FIT_METHODS = {"fit", "fit_transform", "fit_predict", "partial_fit"}
_EVAL_METHODS = {"score", "predict", "predict_proba", "decision_function", "transform"}
_logged: dict[int, tuple[Any, tuple, str]] = {}  # id(obj) -> (weakref, fitted-state token, model ref)


class ModelHook:
    """Registered by ``%load_ext nbtrack``; see the module docstring."""

    name = "models"

    def before(self, ctx: CellContext) -> None:
        return None

    def after(self, ctx: CellContext) -> None:
        if ctx.error is not None or sys.modules.get("sklearn") is None or getattr(ctx.args, "no_models", False):
            return
        from ..snapshot.signature import is_fitted

        calls = fit_calls(ctx.source)
        loop_vars = ctx.state.get("loop_vars") or set()
        for var in sorted(candidate_names(ctx, calls) - loop_vars):
            obj = ctx.user_ns.get(var)
            if not is_fitted(obj):
                continue
            try:
                log_cell_model(ctx, var, obj, calls)
            except Exception as e:  # one model failing never stops the others, nor the cell
                ctx.warnings.append(f"model {var!r} ({type(e).__name__}: {e})")


class FitCalls:
    """What the cell's source says about fits: ``var -> X expression`` and evaluation arguments."""

    def __init__(self) -> None:
        self.fit_x: dict[str, ast.AST | None] = {}
        self.eval_x: dict[str, list[ast.AST]] = {}


def _fit_x(call: ast.Call) -> ast.AST | None:
    if call.args:
        return call.args[0]
    return next((k.value for k in call.keywords if k.arg == "X"), None)


def _chain_fit(value: ast.AST) -> ast.Call | None:
    """The ``.fit(...)`` call of ``model = Model(...).fit(X, y)``."""
    node = value
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr in ("fit", "partial_fit"):  # fit_transform/fit_predict return data, not the model
            return node
        node = node.func.value
    return None


def fit_calls(source: str) -> FitCalls:
    out = FitCalls()
    if not any(f".{m}(" in source for m in _FIT_METHODS | _EVAL_METHODS):
        return out
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return out
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            call = _chain_fit(node.value)
            if call is not None:
                out.fit_x[node.targets[0].id] = _fit_x(call)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name):
            var = node.func.value.id
            if node.func.attr in _FIT_METHODS:
                out.fit_x[var] = _fit_x(node)
            elif node.func.attr in _EVAL_METHODS and node.args:
                out.eval_x.setdefault(var, []).append(node.args[0])
    return out


def candidate_names(ctx: CellContext, calls: FitCalls | None = None) -> set[str]:
    """Names the cell binds, plus names it calls ``.fit(...)`` on."""
    names = {n for n in ctx.writes if not n.startswith("_")}
    calls = calls if calls is not None else fit_calls(ctx.source)
    return names | {n for n in calls.fit_x if not n.startswith("_")}


def fitted_in_place(source: str) -> set[str]:
    return set(fit_calls(source).fit_x)


def _token(obj: Any, depth: int = 0) -> tuple:
    """Identity of an estimator's fitted state: refitting replaces the fitted attributes' objects."""
    items: list[tuple[str, Any]] = []
    for k, v in sorted(vars(obj).items()) if hasattr(obj, "__dict__") else []:
        if k.endswith("_") and not k.startswith("_"):
            items.append((k, id(v)))
        elif depth < 3 and hasattr(v, "get_params") and not isinstance(v, type):
            items.append((k, _token(v, depth + 1)))
        elif depth < 3 and isinstance(v, list) and k in ("steps", "transformers", "estimators"):
            items.append((k, tuple(_token(t[1], depth + 1) for t in v
                                   if isinstance(t, tuple) and len(t) > 1 and hasattr(t[1], "__dict__"))))
    return tuple(items)


def already_logged(obj: Any) -> str | None:
    """The model ref this kernel stored for this very object in this fitted state, if any."""
    entry = _logged.get(id(obj))
    if entry is None or entry[0]() is not obj:
        return None
    return entry[2] if entry[1] == _token(obj) else None


def _remember(obj: Any, ref: str) -> None:
    if len(_logged) > 1000:  # forget objects that no longer exist
        for key in [k for k, (wr, _t, _r) in _logged.items() if wr() is None]:
            del _logged[key]
    try:
        _logged[id(obj)] = (weakref.ref(obj), _token(obj), ref)
    except TypeError:  # not weak-referenceable
        pass


def model_name(ws: Any, var: str, obj: Any) -> str:
    """``var``, or ``var-Class`` when ``var`` already names a model of another class."""
    from ..snapshot.models import latest, model_id
    from ..snapshot.signature import class_name

    with ws.meta.read() as conn:
        mid = model_id(conn, var)
        last = latest(conn, mid) if mid is not None else None
    if last is None or last._mapping["class_name"] in (None, class_name(obj)):
        return var
    return f"{var}-{type(obj).__name__}"


def log_cell_model(ctx: CellContext, var: str, obj: Any, calls: FitCalls | None = None) -> None:
    from ..snapshot.models import log_model, record_evaluations

    calls = calls if calls is not None else fit_calls(ctx.source)
    search = obj
    best = getattr(obj, "best_estimator_", None)
    if best is not None and hasattr(obj, "cv_results_"):
        obj = best  # a search: the best model is what users keep and deploy
        score = getattr(search, "best_score_", None)
        if isinstance(score, (int, float)) and score == score:
            ctx.run.log_metric(f"{var}.best_score_", float(score), step=0)
    if already_logged(obj) is not None:
        return
    train, test = data_versions(ctx, var, obj, calls)
    frame = ctx.user_ns.get(train[0]) if train else None
    name = model_name(ctx.run.ws, var, obj)
    refs = [train[1] if train else None, test[1] if test else None]
    background = sys.modules.get("nbtrack.capture.background")
    if any(getattr(r, "id", 0) is None for r in refs) or (  # a frame still pending (capture/background.py),
            background is not None and background.usable(ctx.run)  # or an earlier version of `name`
            and (background.has_pending(ctx.run.ws, "model", name)
                 or any(m["name"] == name for m in getattr(ctx.state.get("background"), "models", ())))):
        _log_after_pending(ctx, var, obj, name, frame, refs)
        return
    version = log_model(obj, name, run=ctx.run, X=frame, dataset_version=train[1] if train else None,
                        variable=var)
    _remember(obj, version.ref)
    ctx.state.setdefault("models_logged", []).append(var)
    metrics = cell_metrics(ctx)
    if test is not None and metrics:
        with ctx.run.ws.meta.write() as conn:
            record_evaluations(conn, version.id, test[1], metrics, ctx.run.id)


def _log_after_pending(ctx: CellContext, var: str, obj: Any, name: str, frame: Any, refs: list) -> None:
    """The model's archive is stored now (a later refit cannot change it); its version row is
    written with the run's pending frames, once they have version ids."""
    from ..snapshot.models import prepare_model
    from .background import job_for

    values = prepare_model(obj, name, ctx.run.ws, ctx.run, X=frame)
    job_for(ctx).models.append({"name": name, "values": values, "train": refs[0], "test": refs[1],
                                "variable": var, "metrics": cell_metrics(ctx) if refs[1] is not None else {}})
    _remember(obj, f"{name}@pending")
    ctx.state.setdefault("models_logged", []).append(var)


def _frame_name(expr: ast.AST | None) -> str | None:
    """``X_train`` for ``X_train``, ``X_train.values`` or ``X_train.to_numpy()``; None otherwise."""
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "to_numpy" \
            and not expr.args:
        expr = expr.func.value
    if isinstance(expr, ast.Attribute) and expr.attr == "values":
        expr = expr.value
    return expr.id if isinstance(expr, ast.Name) else None


def _matches(frame: Any, obj: Any) -> bool:
    cols = getattr(frame, "columns", None)
    if cols is None or getattr(frame, "ndim", 2) != 2:
        return False
    n = getattr(obj, "n_features_in_", None)
    if n is not None and len(cols) != n:
        return False
    names = getattr(obj, "feature_names_in_", None)
    return names is None or [str(c) for c in cols] == [str(f) for f in names]


def data_versions(ctx: CellContext, var: str, obj: Any,
                  calls: FitCalls) -> tuple[tuple[str, int] | None, tuple[str, int] | None]:
    """(training, evaluation) ``(variable, dataset_version_id)`` from the cell's fit/score calls."""
    info = ctx.state.get("datasets") or {}
    seen = {**(info.get("inputs") or {}), **(info.get("outputs") or {})}
    # a PendingFrame (capture/background.py) stored meanwhile is its version id
    seen = {k: v if isinstance(v, int) or v.id is None else v.id for k, v in seen.items()}
    if not seen:
        return None, None
    train = None
    x = _frame_name(calls.fit_x.get(var))
    if x is not None and x in seen and _matches(ctx.user_ns.get(x), obj):
        train = (x, seen[x])
    evals = {n for n in map(_frame_name, calls.eval_x.get(var, []))
             if n is not None and n in seen and n != (train or ("",))[0] and _matches(ctx.user_ns.get(n), obj)}
    test = (next(iter(evals)), seen[next(iter(evals))]) if len(evals) == 1 else None
    return train, test


def cell_metrics(ctx: CellContext) -> dict[str, float]:
    """The metrics this cell logged so far (step 0 values written by ``%%track``)."""
    out: dict[str, float] = {}
    for key, value, _step, _ts in getattr(ctx.run, "_metrics", []):
        if value is not None:
            out[key] = value
    return out


HOOK = ModelHook()
