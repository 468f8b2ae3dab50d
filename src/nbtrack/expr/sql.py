"""The SQL backend: a tree into a SQLAlchemy Core boolean clause.

The caller says where each field lives: ``column_for(field, kind)`` returns the
column to compare, where ``kind`` is ``"number"`` or ``"text"`` (a field of type
``any``, e.g. a run's params, keeps both a text and a numeric column). SQL's NULL
logic is exactly the three-valued logic of :meth:`Expr.evaluate
<nbtrack.expr.tree.Expr.evaluate>`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import String, and_, not_, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from .nodes import And, Compare, Field, Node, Not, Or

ColumnFor = Callable[[Field, str], Any]

_ORDER = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


class codepoints(FunctionElement):
    """A text column ordered by code point, as Python orders strings (PostgreSQL: ``COLLATE "C"``;
    SQLite's default BINARY collation already does)."""

    type = String()
    inherit_cache = True


@compiles(codepoints)
def _codepoints(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(codepoints, "postgresql")
def _codepoints_pg(element, compiler, **kw):
    return f'({compiler.process(element.clauses, **kw)}) COLLATE "C"'


def to_sql(node: Node, column_for: ColumnFor) -> ColumnElement:
    if isinstance(node, And):
        return and_(*(to_sql(n, column_for) for n in node.items))
    if isinstance(node, Or):
        return or_(*(to_sql(n, column_for) for n in node.items))
    if isinstance(node, Not):
        return not_(to_sql(node.item, column_for))
    return _compare(node, column_for)


def _kind(value: Any) -> str:
    return "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else "text"


def _compare(c: Compare, column_for: ColumnFor) -> ColumnElement:
    op, lit = c.op, c.value
    if isinstance(lit, Field):
        return _ORDER[op](column_for(c.field, "number"), column_for(lit, "number"))
    if lit is None:
        col = column_for(c.field, "text")
        return col.is_(None) if op == "==" else col.is_not(None)
    if op in ("contains", "not contains"):
        col = column_for(c.field, "text")
        match = col.icontains(lit, autoescape=True)
        return match if op == "contains" else or_(col.is_(None), not_(match))
    if op in ("in", "not in"):
        col = column_for(c.field, _kind(lit[0]) if lit else "text")
        return col.in_(list(lit)) if op == "in" else col.not_in(list(lit))
    col = column_for(c.field, _kind(lit))
    if _kind(lit) == "text" and op not in ("==", "!="):
        col = codepoints(col)  # "B" < "a", as in Python, whatever the database's collation
    return _ORDER[op](col, lit)
