"""Promotion gates: a metric expression, and "not worse than the version holding an alias".

``check_expression("metrics.roc_auc >= 0.9 and metrics.f1 > 0.5", metrics)`` parses
with :mod:`ast` (never evaluates code) and reports every comparison with its
numbers. ``check_versus`` compares two versions on one metric: on a common
evaluation dataset version when both have evaluations of it, else on the metrics
recorded with the versions.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass

from sqlalchemy import select

from ..errors import InvalidInput
from ..snapshot.models import ModelVersion
from ..store.schema import evaluations
from .models import run_metrics

_OPS = {ast.Gt: (operator.gt, ">"), ast.GtE: (operator.ge, ">="), ast.Lt: (operator.lt, "<"),
        ast.LtE: (operator.le, "<="), ast.Eq: (operator.eq, "=="), ast.NotEq: (operator.ne, "!=")}
_LOWER_IS_BETTER = ("loss", "error", "mse", "mae", "rmse", "mape", "brier", "log_loss", "logloss")


@dataclass
class Condition:
    """One checked condition: its text, whether it passed, and the numbers."""

    condition: str
    passed: bool
    detail: str


def version_metrics(conn, mv: ModelVersion) -> dict[str, float]:
    """Metrics recorded with the version, completed by its run's last values."""
    return {**run_metrics(conn, mv.run_id), **(mv.metrics or {})}


# -- the metric expression --------------------------------------------------------------
def check_expression(gate: str, metrics: dict[str, float]) -> tuple[bool, list[Condition]]:
    """Evaluate ``gate`` over ``metrics``; every comparison becomes a :class:`Condition`."""
    try:
        tree = ast.parse(gate.strip(), mode="eval").body
    except SyntaxError as e:
        raise InvalidInput(f"gate {gate!r} is not an expression such as 'metrics.roc_auc >= 0.9': {e.msg}") from None
    conds: list[Condition] = []
    return _eval(tree, metrics, conds, gate), conds


def _eval(node: ast.AST, metrics: dict, conds: list[Condition], gate: str) -> bool:
    if isinstance(node, ast.BoolOp):
        results = [_eval(v, metrics, conds, gate) for v in node.values]  # all listed, no short cut
        return all(results) if isinstance(node.op, ast.And) else any(results)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _eval(node.operand, metrics, conds, gate)
    if isinstance(node, ast.Compare):
        ok, left = True, node.left
        for op, right in zip(node.ops, node.comparators):
            ok = _compare(left, op, right, metrics, conds, gate) and ok
            left = right
        return ok
    raise InvalidInput(f"gate {gate!r}: use comparisons of metrics joined by and/or, "
                       "e.g. 'metrics.roc_auc >= 0.9 and metrics.f1 > 0.5'")


def _operand(node: ast.AST, metrics: dict, gate: str) -> tuple[str, float | None]:
    key = metric_name(node)
    if key is not None:
        return key, metrics.get(key)
    try:
        value = ast.literal_eval(node)
    except ValueError:
        raise InvalidInput(f"gate {gate!r}: cannot read {ast.unparse(node)!r}; compare metrics.NAME with numbers") from None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise InvalidInput(f"gate {gate!r}: {value!r} is not a number")
    return repr(value), float(value)


def metric_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "metrics":
        return node.attr
    if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "metrics"
            and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
        return node.slice.value
    return None


def _compare(left, op, right, metrics, conds, gate) -> bool:
    if type(op) not in _OPS:
        raise InvalidInput(f"gate {gate!r}: use one of > >= < <= == !=")
    fn, sym = _OPS[type(op)]
    (lname, lv), (rname, rv) = _operand(left, metrics, gate), _operand(right, metrics, gate)
    text = f"{ast.unparse(left)} {sym} {ast.unparse(right)}"
    missing = [n for n, v in ((lname, lv), (rname, rv)) if v is None]
    if missing:
        have = ", ".join(sorted(metrics)) or "none"
        conds.append(Condition(text, False, f"metric {missing[0]!r} not recorded (has: {have})"))
        return False
    ok = bool(fn(lv, rv))
    shown = {lname: lv} if metric_name(left) else {rname: rv}
    nums = ", ".join(f"{k} = {v:.6g}" for k, v in shown.items())
    conds.append(Condition(text, ok, nums))
    return ok


# -- "not worse than the version holding an alias" ----------------------------------------
def lower_is_better(metric: str) -> bool:
    m = metric.lower()
    return any(w in m for w in _LOWER_IS_BETTER)


def _evaluations(conn, version_id: int, metric: str) -> dict[int, float]:
    q = (select(evaluations.c.dataset_version_id, evaluations.c.value)
         .where(evaluations.c.model_version_id == version_id, evaluations.c.metric == metric,
                evaluations.c.dataset_version_id.is_not(None)).order_by(evaluations.c.id))
    return {dv: v for dv, v in conn.execute(q) if v is not None}


def check_versus(conn, cand: ModelVersion, inc: ModelVersion | None, alias: str, metric: str,
                 higher_better: bool) -> Condition:
    """Is ``cand`` at least as good as ``inc`` (the version holding ``alias``) on ``metric``?"""
    text = f"{metric} not worse than {alias}"
    if inc is None:
        return Condition(text, True, f"no version holds {alias!r} yet")
    text = f"{metric} not worse than {alias} ({inc.ref})"
    ce, ie = _evaluations(conn, cand.id, metric), _evaluations(conn, inc.id, metric)
    if ce and ie:
        common = [dv for dv in ce if dv in ie]
        if not common:
            return Condition(text, False, "the versions were evaluated on different datasets; evaluate both on "
                             "the same data with nbtrack.log_evaluation(...)")
        dv = common[-1]
        a, b, where = ce[dv], ie[dv], f" on dataset version {_dataset_label(conn, dv)}"
    else:
        a, b = version_metrics(conn, cand).get(metric), version_metrics(conn, inc).get(metric)
        where = " (recorded metrics)"
        if a is None or b is None:
            who = cand.ref if a is None else inc.ref
            return Condition(text, False, f"{who} has no {metric!r} metric or evaluation")
    ok = a >= b if higher_better else a <= b
    sign = (">=" if higher_better else "<=") if ok else ("<" if higher_better else ">")
    return Condition(text, ok, f"{cand.ref} {metric} = {a:.6g} {sign} {inc.ref} {metric} = {b:.6g}{where}")


def _dataset_label(conn, dv: int) -> str:
    from ..store.schema import dataset_versions, datasets

    row = conn.execute(select(datasets.c.name, dataset_versions.c.version)
                       .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
                       .where(dataset_versions.c.id == dv)).first()
    return f"{row[0]}@{row[1]}" if row else str(dv)
