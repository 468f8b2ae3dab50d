"""Filter and order expressions compiled to SQL.

``"metrics.acc > 0.9 and params.model == 'rf'"`` is parsed with :mod:`ast` (never
evaluated) and compiled to a SQLAlchemy expression with one outer join per
referenced metric, param or tag, so the database does the filtering.

Fields: ``metrics.NAME``, ``params.NAME``, ``tags.NAME`` (``metrics["val/acc"]``
for names that are not identifiers) and run attributes: ``id``, ``name``,
``kind``, ``status``, ``parent``, ``notebook``, ``cell_version``, ``started``,
``ended``, ``duration``, ``user``, ``experiment``. Operators: ``== != < <= > >=``,
``in``, ``not in``, ``is None``, ``is not None``, ``and``, ``or``, ``not``; a text
``in`` a field is a case-insensitive substring match (``'churn' in name``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, not_, or_
from sqlalchemy.sql import ColumnElement

from ..errors import InvalidInput
from ..store.schema import experiments, latest_metrics, params, runs, tags

ATTRIBUTES = {
    "id": runs.c.id,
    "name": runs.c.name,
    "kind": runs.c.kind,
    "status": runs.c.status,
    "parent": runs.c.parent_id,
    "notebook": runs.c.notebook,
    "cell_version": runs.c.cell_version,
    "started": runs.c.started,
    "ended": runs.c.ended,
    "duration": runs.c.duration,
    "user": runs.c.user,
    "experiment": experiments.c.name,
}
_TABLES = {"metrics": latest_metrics, "params": params, "tags": tags}
_OPS = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
}


@dataclass
class Field:
    group: str  # "metrics" | "params" | "tags" | "attr"
    key: str


@dataclass
class Compiled:
    where: ColumnElement | None = None
    joins: dict[tuple[str, str], Any] = field(default_factory=dict)

    def alias(self, group: str, key: str):
        k = (group, key)
        if k not in self.joins:
            self.joins[k] = _TABLES[group].alias(f"{group[0]}{len(self.joins)}")
        return self.joins[k]

    def apply(self, query):
        for (_group, key), a in self.joins.items():
            query = query.outerjoin(a, and_(a.c.run_id == runs.c.id, a.c.key == key))
        return query


def _field(node: ast.AST, text: str) -> Field | None:
    if isinstance(node, ast.Name):
        if node.id in ATTRIBUTES:
            return Field("attr", node.id)
        raise InvalidInput(
            f"unknown field {node.id!r} in filter {text!r}; use metrics.NAME, params.NAME, tags.NAME "
            f"or one of: {', '.join(sorted(ATTRIBUTES))}"
        )
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in _TABLES:
        return Field(node.value.id, node.attr)
    if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in _TABLES
            and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
        return Field(node.value.id, node.slice.value)
    return None


def _literal(node: ast.AST, text: str) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise InvalidInput(
            f"cannot read {ast.unparse(node)!r} in filter {text!r}: compare fields with literal values "
            "(quote strings: params.model == 'rf')"
        ) from None


def _column(c: Compiled, f: Field, value: Any):
    if f.group == "attr":
        col = ATTRIBUTES[f.key]
        if f.key in ("started", "ended") and isinstance(value, str):
            return col, _timestamp(value)
        return col, value
    a = c.alias(f.group, f.key)
    if f.group == "metrics":
        return a.c.value, value
    if f.group == "tags":
        return a.c.value, None if value is None else str(value)
    # params: numbers (and bools) compare on the numeric column, the rest on the text
    sample = value[0] if isinstance(value, (list, tuple)) and value else value
    if isinstance(sample, (int, float)):
        return a.c.num, ([float(v) for v in value] if isinstance(value, (list, tuple)) else float(value))
    return a.c.value, value


def _timestamp(s: str) -> float:
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise InvalidInput(f"{s!r} is not an ISO date/time (e.g. '2026-11-23' or '2026-11-23T10:00')") from None
    return dt.timestamp()


def _contains(c: Compiled, needle: ast.AST, op: ast.cmpop, f: Field, text: str) -> ColumnElement:
    """``'churn' in name``: the field's text contains the string (any case; % and _ are literal)."""
    value = _literal(needle, text)
    if not isinstance(value, str) or f.group == "metrics" or (f.group == "attr" and f.key in (
            "started", "ended", "duration", "cell_version")):
        raise InvalidInput(f"filter {text!r}: `'text' in FIELD` matches text inside a text field, "
                           "e.g. 'churn' in name or 'rf' in params.model")
    col = ATTRIBUTES[f.key] if f.group == "attr" else c.alias(f.group, f.key).c.value
    match = col.icontains(value, autoescape=True)
    return match if isinstance(op, ast.In) else or_(col.is_(None), not_(match))


def _compare(c: Compiled, left: ast.AST, op: ast.cmpop, right: ast.AST, text: str) -> ColumnElement:
    lf, rf = _field(left, text), _field(right, text)
    if lf is None and rf is not None and isinstance(op, (ast.In, ast.NotIn)):
        return _contains(c, left, op, rf, text)
    if lf is None and rf is not None:  # 0.9 < metrics.acc
        flipped = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE}
        left, right, lf, rf = right, left, rf, lf
        op = flipped.get(type(op), type(op))()
    if lf is None:
        raise InvalidInput(f"filter {text!r}: each comparison needs a field such as metrics.acc")
    if rf is not None:
        raise InvalidInput(f"filter {text!r}: compare a field with a value, not with another field")
    value = _literal(right, text)
    col, value = _column(c, lf, value)
    if isinstance(op, (ast.Is, ast.IsNot)):
        if value is not None:
            raise InvalidInput(f"filter {text!r}: `is` only works with None")
        return col.is_(None) if isinstance(op, ast.Is) else col.is_not(None)
    if isinstance(op, (ast.In, ast.NotIn)):
        if not isinstance(value, (list, tuple, set)):
            raise InvalidInput(f"filter {text!r}: `in` needs a list, e.g. params.model in ['rf', 'svm']")
        return col.in_(list(value)) if isinstance(op, ast.In) else col.not_in(list(value))
    if value is None:
        return col.is_(None) if isinstance(op, ast.Eq) else col.is_not(None)
    fn = _OPS.get(type(op))
    if fn is None:
        raise InvalidInput(f"filter {text!r}: operator {type(op).__name__} is not supported")
    return fn(col, value)


def _compile(c: Compiled, node: ast.AST, text: str) -> ColumnElement:
    if isinstance(node, ast.BoolOp):
        parts = [_compile(c, v, text) for v in node.values]
        return and_(*parts) if isinstance(node.op, ast.And) else or_(*parts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not_(_compile(c, node.operand, text))
    if isinstance(node, ast.Compare):
        parts, left = [], node.left
        for op, right in zip(node.ops, node.comparators):
            parts.append(_compare(c, left, op, right, text))
            left = right
        return and_(*parts)
    raise InvalidInput(
        f"cannot understand filter {text!r}: write comparisons joined by and/or, "
        "e.g. \"metrics.acc > 0.9 and params.model == 'rf'\""
    )


def compile_filter(text: str | None, c: Compiled | None = None) -> Compiled:
    c = c or Compiled()
    if not text or not text.strip():
        return c
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise InvalidInput(f"filter {text!r} is not a valid expression: {e.msg}") from None
    c.where = _compile(c, tree.body, text)
    return c


def compile_order(order_by: str | list[str] | None, c: Compiled) -> list:
    """``"metrics.acc desc"``, ``"-duration"`` or a list of those."""
    if not order_by:
        return [runs.c.started.desc()]
    items = [order_by] if isinstance(order_by, str) else list(order_by)
    out = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            desc = part.startswith("-")
            words = part.lstrip("-").split()
            if len(words) == 2 and words[1].lower() in ("asc", "desc"):
                desc = words[1].lower() == "desc"
            elif len(words) != 1:
                raise InvalidInput(f"cannot order by {part!r}: use 'FIELD', 'FIELD desc' or '-FIELD'")
            try:
                node = ast.parse(words[0], mode="eval").body
            except SyntaxError:
                raise InvalidInput(f"cannot order by {words[0]!r}: not a field name") from None
            f = _field(node, part)
            if f is None:
                raise InvalidInput(f"cannot order by {words[0]!r}: not a field name")
            if f.group == "attr":
                cols = [ATTRIBUTES[f.key]]
            elif f.group == "params":  # numbers by value, then text
                a = c.alias(f.group, f.key)
                cols = [a.c.num, a.c.value]
            else:
                cols = [c.alias(f.group, f.key).c.value]
            out += [col.desc().nulls_last() if desc else col.asc().nulls_last() for col in cols]
    return out + [runs.c.started.desc()]
