"""The typed tree of an expression and its Python backend (three-valued, like SQL).

A parsed expression is a tree of :class:`Compare` leaves joined by :class:`And`,
:class:`Or` and :class:`Not`. Every leaf compares one :class:`Field` with a literal
(already checked and converted for the field's type) or with another numeric field.

:meth:`Expr.evaluate` answers ``True``, ``False`` or ``None`` (unknown) with SQL's
rules: a missing value makes a comparison unknown, ``not unknown`` is unknown,
``False and unknown`` is False, ``True or unknown`` is True. A filter keeps a row
only when the answer is ``True``; a gate passes only when it is ``True``. The SQL
backend (:mod:`.sql`) gives the same answers, which a property test checks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .nodes import And, Compare, Field, Node, Not
from .sql import to_sql

MISSING = object()


@dataclass(frozen=True)
class Expr:
    """A parsed expression: the text it came from, its tree, and the group bare names belong to."""

    text: str
    root: Node
    bare: str | None = None

    # -- walking --------------------------------------------------------------------------
    def conditions(self) -> list[Compare]:
        """Every comparison, left to right."""
        out: list[Compare] = []
        stack: list[Node] = [self.root]
        while stack:
            node = stack.pop()
            if isinstance(node, Compare):
                out.append(node)
            elif isinstance(node, Not):
                stack.append(node.item)
            else:
                stack.extend(reversed(node.items))
        return out

    def fields(self) -> list[Field]:
        """Every field named, once each, in order of appearance."""
        seen: dict[Field, None] = {}
        for c in self.conditions():
            seen.setdefault(c.field, None)
            if isinstance(c.value, Field):
                seen.setdefault(c.value, None)
        return list(seen)

    # -- the Python backend -----------------------------------------------------------------
    def lookup(self, values: Mapping[str, Any], f: Field) -> Any:
        """The value of ``f`` in ``values`` (nested ``{"metrics": {...}}``, flat
        ``{"metrics.acc": ...}``, or bare ``{"acc": ...}`` for the bare group); None if absent."""
        return lookup(values, f, self.bare)

    def evaluate(self, values: Mapping[str, Any]) -> bool | None:
        """True, False or None (unknown: a value it needs is missing)."""
        return _eval(self.root, values, self.bare)

    def matches(self, values: Mapping[str, Any]) -> bool:
        """Whether a filter keeps this row (the expression is True)."""
        return self.evaluate(values) is True

    def to_sql(self, column_for):
        """A SQLAlchemy boolean clause; ``column_for(field)`` gives each field's column."""
        return to_sql(self.root, column_for)

    def __str__(self) -> str:
        return self.text


def lookup(values: Mapping[str, Any], f: Field, bare: str | None = None) -> Any:
    v: Any = MISSING
    if f.group is None:
        v = values.get(f.key, MISSING)
    else:
        group = values.get(f.group)
        if isinstance(group, Mapping):
            v = group.get(f.key, MISSING)
        if v is MISSING:
            v = values.get(f"{f.group}.{f.key}", MISSING)
        if v is MISSING and f.group == bare:
            v = values.get(f.key, MISSING)
    if v is MISSING:
        return None
    if hasattr(v, "item") and getattr(v, "ndim", 1) == 0:  # numpy scalars
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None  # NaN is "not recorded", as in the database
    return v


def _eval(node: Node, values: Mapping[str, Any], bare: str | None) -> bool | None:
    if isinstance(node, Compare):
        return compare(node, values, bare)
    if isinstance(node, Not):
        r = _eval(node.item, values, bare)
        return None if r is None else not r
    results = [_eval(n, values, bare) for n in node.items]
    if isinstance(node, And):
        return False if False in results else (None if None in results else True)
    return True if True in results else (None if None in results else False)


def as_text(v: Any) -> str:
    """A value as the text column stores it (see ``store.runs.encode_param``)."""
    if isinstance(v, str):
        return v
    if isinstance(v, (bool, int, float)):
        return repr(v) if isinstance(v, float) else str(v)
    try:
        return json.dumps(v, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(v)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float))


def _operand(f: Field, v: Any, like: Any) -> Any:
    """``v`` (the field's value) in the form it is compared with ``like``; None: not comparable."""
    if v is None:
        return None
    if f.type == "any":  # params: numbers by number, everything else by its text
        if _is_number(like):
            return float(v) if _is_number(v) else None
        return as_text(v)
    if f.type in ("number", "int", "time"):
        return v if _is_number(v) else None
    return v if isinstance(v, str) else as_text(v)


_ORDER = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def compare(c: Compare, values: Mapping[str, Any], bare: str | None = None) -> bool | None:
    """One comparison with SQL's rules (None: unknown)."""
    raw = lookup(values, c.field, bare)
    op, lit = c.op, c.value
    if isinstance(lit, Field):
        a, b = _operand(c.field, raw, 0.0), _operand(lit, lookup(values, lit, bare), 0.0)
        return None if a is None or b is None else _ORDER[op](a, b)
    if lit is None:  # `is None` / `is not None`: never unknown
        return (raw is None) if op == "==" else (raw is not None)
    if op in ("contains", "not contains"):
        if raw is None:
            return None if op == "contains" else True
        found = lit.lower() in as_text(raw).lower()
        return found if op == "contains" else not found
    if op in ("in", "not in"):
        if not lit:  # SQL's empty IN: false, and its negation true, even for a missing value
            return op == "not in"
        v = _operand(c.field, raw, lit[0])
        if v is None:
            return None
        return (v in lit) if op == "in" else (v not in lit)
    v = _operand(c.field, raw, lit)
    return None if v is None else _ORDER[op](v, lit)


def all_of(*parts: Expr | None) -> Expr | None:
    """The expressions AND-ed as one tree (None parts are skipped; None when none is left).

    Each part was parsed on its own, so no part's text can change what another means.
    """
    items = [p for p in parts if p is not None]
    if not items:
        return None
    if len(items) == 1:
        return items[0]
    bare = {p.bare for p in items}
    if len(bare) > 1:
        raise ValueError("cannot combine expressions of different schemas")
    return Expr(" and ".join(f"({p.text})" for p in items), And(tuple(p.root for p in items)), bare.pop())
