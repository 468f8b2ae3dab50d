"""Cell hook: fitted scikit-learn models a tracked cell binds become model versions.

A name the cell assigns (``clf = make_pipeline(...).fit(X, y)``) or fits in place
(``clf.fit(X, y)``) that holds a fitted estimator is logged as model ``clf``
(``clf@1``, then a new version only when the fitted model changes), linked to
the run as an output. Its training data is the cell's dataset version whose
columns match ``feature_names_in_`` (see the data hook's
``ctx.state["datasets"]``); a matching frame named like ``X_test``/``valid``
is evaluation data, and the cell's metrics are recorded as evaluations on it.

The hook costs a dictionary lookup when scikit-learn was never imported;
``%%track --no-models`` switches it off for a cell.
"""

from __future__ import annotations

import ast
import sys
from typing import Any

from .hooks import CellContext

_FIT_METHODS = {"fit", "fit_transform", "fit_predict", "partial_fit"}
_EVAL_WORDS = ("test", "val", "valid", "holdout", "eval")


class ModelHook:
    """Registered by ``%load_ext nbtrack``; see the module docstring."""

    name = "models"

    def before(self, ctx: CellContext) -> None:
        return None

    def after(self, ctx: CellContext) -> None:
        if ctx.error is not None or sys.modules.get("sklearn") is None or getattr(ctx.args, "no_models", False):
            return
        from ..snapshot.signature import is_fitted

        for var in sorted(candidate_names(ctx)):
            obj = ctx.user_ns.get(var)
            if not is_fitted(obj):
                continue
            try:
                log_cell_model(ctx, var, obj)
            except Exception as e:  # one model failing never stops the others, nor the cell
                ctx.warnings.append(f"model {var!r} ({type(e).__name__}: {e})")


def candidate_names(ctx: CellContext) -> set[str]:
    """Names the cell binds, plus names it calls ``.fit(...)`` on."""
    names = {n for n in ctx.writes if not n.startswith("_")}
    if any(f".{m}(" in ctx.source for m in _FIT_METHODS):
        names |= fitted_in_place(ctx.source)
    return names


def fitted_in_place(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    out = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in _FIT_METHODS and isinstance(node.func.value, ast.Name)):
            out.add(node.func.value.id)
    return out


def log_cell_model(ctx: CellContext, var: str, obj: Any) -> None:
    from ..snapshot.models import log_model, record_evaluations

    train, test = data_versions(ctx, obj)
    frame = ctx.user_ns.get(train[0]) if train else None
    version = log_model(obj, var, run=ctx.run, X=frame, dataset_version=train[1] if train else None,
                        variable=var)
    metrics = cell_metrics(ctx)
    if test is not None and metrics:
        with ctx.run.ws.meta.write() as conn:
            record_evaluations(conn, version.id, test[1], metrics, ctx.run.id)


def data_versions(ctx: CellContext, obj: Any) -> tuple[tuple[str, int] | None, tuple[str, int] | None]:
    """(training, evaluation) ``(variable, dataset_version_id)`` among the cell's frames."""
    info = ctx.state.get("datasets") or {}
    seen = {**(info.get("outputs") or {}), **(info.get("inputs") or {})}
    if not seen:
        return None, None
    features = getattr(obj, "feature_names_in_", None)
    if features is None:
        inputs = info.get("inputs") or {}
        return (next(iter(inputs.items())) if len(inputs) == 1 else None), None
    wanted = {str(f) for f in features}
    matching = [(v, dv) for v, dv in seen.items() if _columns(ctx.user_ns.get(v)) == wanted]
    evals = [m for m in matching if any(w in m[0].lower() for w in _EVAL_WORDS)]
    trains = [m for m in matching if m not in evals]
    if not trains:
        return None, (evals[0] if len(evals) == 1 else None)
    trains.sort(key=lambda m: ("train" not in m[0].lower(), -_rows(ctx.user_ns.get(m[0]))))
    return trains[0], (evals[0] if len(evals) == 1 else None)


def _columns(frame: Any) -> set[str] | None:
    cols = getattr(frame, "columns", None)
    return {str(c) for c in cols} if cols is not None else None


def _rows(frame: Any) -> int:
    try:
        return len(frame)
    except TypeError:
        return 0


def cell_metrics(ctx: CellContext) -> dict[str, float]:
    """The metrics this cell logged so far (step 0 values written by ``%%track``)."""
    out: dict[str, float] = {}
    for key, value, _step, _ts in getattr(ctx.run, "_metrics", []):
        if value is not None:
            out[key] = value
    return out


HOOK = ModelHook()
