"""Text to tree: read an expression with :mod:`ast` (never evaluated), check it, type its literals.

The grammar (``docs/expressions.md``) is a subset of Python expressions::

    expr     := expr "or" expr | expr "and" expr | "not" expr | "(" expr ")" | compare
    compare  := operand (OP operand)+          # chained: 0.8 < metrics.acc < 0.9
    OP       := == != < <= > >= in "not in" "is" "is not"
    operand  := field | literal
    field    := NAME | GROUP "." NAME | GROUP "[" STRING "]"
    literal  := number | string | True | False | None | "[" literal, ... "]"

Each comparison needs one field; a number may also be compared with another numeric
field (``metrics.train_acc - `` is *not* supported: no arithmetic). Literals are
checked against the field's type here, once, so both backends see clean values.
Every error is one :class:`~nbtrack.errors.InvalidInput` line naming the problem.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..errors import InvalidInput
from .nodes import And, Compare, Field, Node, Not, Or
from .tree import Expr

MAX_LENGTH = 10_000
MAX_DEPTH = 32
MAX_CONDITIONS = 64
MAX_FIELDS = 30  # each metric/param/tag field is one join; SQLite allows 64 tables per join
_INT_RANGE = 2**63
_OPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
        ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}
_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "==": "==", "!=": "!="}


@dataclass(frozen=True)
class Schema:
    """Which fields an expression may name and their types.

    ``attributes``: bare names (``status``) -> type; ``groups``: ``metrics``/``params``/...
    -> the type of their values; ``bare``: the group a bare name that is not an
    attribute belongs to (gates: ``auc`` means ``metrics.auc``). Types: ``number``,
    ``int``, ``text``, ``time`` (a number of seconds or an ISO date string), ``any``
    (numbers compare as numbers, anything else as text).
    """

    attributes: dict[str, str] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    bare: str | None = None
    what: str = "expression"  # "filter", "gate", "alert rule": named in messages

    def hint(self) -> str:
        parts = [f"{g}.NAME" for g in self.groups]
        if self.attributes:
            parts.append("one of: " + ", ".join(sorted(self.attributes)))
        return "use " + ", ".join(parts)


GATES = Schema(groups={"metrics": "number"}, bare="metrics", what="gate")


class _Parser:
    def __init__(self, text: str, schema: Schema) -> None:
        self.text, self.schema = text, schema
        self.count = 0

    def fail(self, why: str) -> InvalidInput:
        shown = self.text if len(self.text) <= 120 else self.text[:117] + "..."
        return InvalidInput(f"cannot read {self.schema.what} {shown!r}: {why}", expression=self.text)

    # -- booleans ---------------------------------------------------------------------------
    def node(self, n: ast.AST) -> Node:
        if isinstance(n, ast.BoolOp):
            items = tuple(self.node(v) for v in n.values)
            return And(items) if isinstance(n.op, ast.And) else Or(items)
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.Not):
            return Not(self.node(n.operand))
        if isinstance(n, ast.Compare):
            parts: list[Node] = []
            left = n.left
            for op, right in zip(n.ops, n.comparators):
                parts.append(self.compare(left, _OPS.get(type(op)), right))
                left = right
            return parts[0] if len(parts) == 1 else And(tuple(parts))
        raise self.fail("write comparisons joined by and/or/not, e.g. "
                        + ("\"metrics.acc > 0.9 and params.model == 'rf'\"" if self.schema.groups.get("params")
                           else "'metrics.auc >= 0.9 and metrics.f1 > 0.5'"))

    # -- one comparison -----------------------------------------------------------------------
    def compare(self, left: ast.AST, op: str | None, right: ast.AST) -> Compare:
        self.count += 1
        if self.count > MAX_CONDITIONS:
            raise self.fail(f"more than {MAX_CONDITIONS} comparisons; split it or use `in [...]`")
        if op is None:
            raise self.fail("operators are == != < <= > >= in, not in, is None, is not None")
        text = f"{ast.unparse(left)} {op} {ast.unparse(right)}"
        lf, rf = self.field(left), self.field(right)
        if lf is None and rf is not None and op in ("in", "not in"):
            return self.contains(self.literal(left), op, rf, text)
        if lf is None and rf is not None:
            if op in ("is", "is not"):
                raise self.fail("write FIELD is None")
            left, right, lf, rf, op = right, left, rf, lf, _FLIP[op]
        if lf is None:
            raise self.fail(f"each comparison needs a field such as metrics.acc ({self.schema.hint()})")
        if rf is not None:
            return self.between_fields(lf, op, rf, text)
        value = self.literal(right)
        if op in ("is", "is not"):
            if value is not None:
                raise self.fail("`is` only works with None (FIELD is None, FIELD is not None)")
            return Compare(lf, "==" if op == "is" else "!=", None, text)
        if op in ("in", "not in"):
            return Compare(lf, op, self.member_list(lf, value), text)
        if value is None:
            if op not in ("==", "!="):
                raise self.fail(f"{op} None is not a comparison; write FIELD is None")
            return Compare(lf, op, None, text)
        if isinstance(value, (list, tuple)):
            raise self.fail(f"{lf} {op} needs a single value; use `{lf} in [...]` for a list")
        return Compare(lf, op, self.typed(lf, value), text)

    def between_fields(self, a: Field, op: str, b: Field, text: str) -> Compare:
        numeric = ("number", "int", "time")
        if op not in _FLIP or a.type not in numeric or b.type not in numeric:
            raise self.fail("compare a field with a value; only two numeric fields (metrics.a > metrics.b) "
                            "may be compared with each other")
        return Compare(a, op, b, text)

    def contains(self, needle: Any, op: str, f: Field, text: str) -> Compare:
        if not isinstance(needle, str) or f.type not in ("text", "any"):
            raise self.fail("`'text' in FIELD` matches text inside a text field, e.g. 'churn' in name "
                            "or 'rf' in params.model")
        return Compare(f, "contains" if op == "in" else "not contains", needle, text)

    def member_list(self, f: Field, value: Any) -> tuple:
        if not isinstance(value, (list, tuple, set)):
            raise self.fail(f"`in` needs a list, e.g. {f} in ['a', 'b'] (or 'text' in {f} to match text)")
        items = list(value)
        if any(v is None for v in items):
            raise self.fail("None cannot be in an `in` list; add `or FIELD is None`")
        kinds = {"number" if isinstance(v, (int, float)) and not isinstance(v, bool) else type(v).__name__
                 for v in items}
        if len(kinds) > 1:
            raise self.fail(f"the list mixes {' and '.join(sorted(kinds))} values; use one type")
        return tuple(self.typed(f, v) for v in items)

    # -- fields and literals ------------------------------------------------------------------
    def field(self, n: ast.AST) -> Field | None:
        s = self.schema
        if isinstance(n, ast.Name):
            if n.id in s.attributes:
                return Field(None, n.id, s.attributes[n.id])
            if s.bare:
                return Field(s.bare, n.id, s.groups[s.bare])
            raise self.fail(f"unknown field {n.id!r}; {s.hint()}")
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name):
            if n.value.id in s.groups:
                return Field(n.value.id, n.attr, s.groups[n.value.id])
            raise self.fail(f"unknown field {ast.unparse(n)!r}; {s.hint()}")
        if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) and n.value.id in s.groups:
            if isinstance(n.slice, ast.Constant) and isinstance(n.slice.value, str):
                return Field(n.value.id, n.slice.value, s.groups[n.value.id])
            raise self.fail(f"write {n.value.id}['NAME'] with a quoted name")
        return None

    def literal(self, n: ast.AST) -> Any:
        if isinstance(n, ast.Constant):
            v = n.value
            if v is None or isinstance(v, (bool, str)):
                return v
            if isinstance(v, (int, float)):
                return v
            raise self.fail(f"{ast.unparse(n)} is not a number, string, True, False or None")
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.UAdd)) and \
                isinstance(n.operand, ast.Constant) and isinstance(n.operand.value, (int, float)) and \
                not isinstance(n.operand.value, bool):
            return -n.operand.value if isinstance(n.op, ast.USub) else n.operand.value
        if isinstance(n, (ast.List, ast.Tuple, ast.Set)):
            return [self.literal(e) for e in n.elts]
        raise self.fail(f"cannot read {ast.unparse(n)[:60]!r}: compare fields with literal values "
                        "(quote strings: params.model == 'rf'; no calls, names or arithmetic)")

    def typed(self, f: Field, v: Any) -> Any:
        """``v`` checked and converted for ``f``'s type."""
        if isinstance(v, list):
            raise self.fail(f"{f} cannot be compared with a list")
        t = f.type
        if t == "time" and isinstance(v, str):
            try:
                return datetime.fromisoformat(v).timestamp()
            except ValueError:
                raise self.fail(f"{v!r} is not an ISO date/time (e.g. '2026-11-23' or '2026-11-23T10:00')") from None
        if t in ("number", "int", "time"):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise self.fail(f"{f} is a number; {v!r} is not")
            return self.number(f, v, integer=(t == "int"))
        if t == "text":
            if not isinstance(v, str):
                raise self.fail(f"{f} is text; quote the value: {f} == {str(v)!r}")
            return v
        # "any": numbers (and bools) compare on their numeric value, strings on the text
        if isinstance(v, (bool, int, float)):
            return self.number(f, float(v) if isinstance(v, bool) else v, integer=False)
        return v

    def number(self, f: Field, v: int | float, integer: bool) -> int | float:
        if isinstance(v, int) and not -_INT_RANGE < v < _INT_RANGE:
            raise self.fail(f"{v} is out of range for {f}")
        if isinstance(v, float) and math.isnan(v):
            raise self.fail("NaN cannot be compared; use FIELD is None for missing values")
        if integer:
            return v
        try:
            return float(v)
        except OverflowError:
            raise self.fail(f"{v} is out of range for {f}") from None


def _depth(tree: ast.AST) -> int:
    """Nesting depth of an AST, without recursion (a hostile text cannot overflow the stack)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        n, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((c, d + 1) for c in ast.iter_child_nodes(n))
    return deepest


def parse(text: str, schema: Schema = GATES) -> Expr:
    """Parse ``text`` into an :class:`~nbtrack.expr.tree.Expr` checked against ``schema``.

    Raises
    ------
    InvalidInput
        One line saying what is wrong: syntax, an unknown field, a literal of the
        wrong type, or a limit (length, nesting depth, number of comparisons or
        of distinct fields).
    """
    if not isinstance(text, str):
        raise InvalidInput(f"{schema.what} must be text, got {type(text).__name__}")
    src = text.strip()
    p = _Parser(src, schema)
    if not src:
        raise p.fail("empty")
    if len(src) > MAX_LENGTH:
        raise InvalidInput(f"{schema.what} is {len(src)} characters long; the limit is {MAX_LENGTH}")
    if "\n" in src or "\r" in src:
        src = " ".join(src.split())
        p.text = src
    try:
        tree = ast.parse(src, mode="eval").body
    except SyntaxError as e:
        raise p.fail(f"not a valid expression ({e.msg})") from None
    except (RecursionError, MemoryError, ValueError):
        raise p.fail(f"nested too deeply (the limit is {MAX_DEPTH} levels)") from None
    if _depth(tree) > MAX_DEPTH:
        raise p.fail(f"nested too deeply (the limit is {MAX_DEPTH} levels)")
    root = p.node(tree)
    expr = Expr(src, root, schema.bare)
    grouped = [f for f in expr.fields() if f.group is not None]
    if len(grouped) > MAX_FIELDS:
        raise p.fail(f"names {len(grouped)} different metrics/params/tags; the limit is {MAX_FIELDS}")
    return expr


def parse_field(text: str, schema: Schema) -> Field:
    """One field reference (``metrics.acc``, ``metrics['val/acc']``, ``status``), e.g. to order by."""
    src = str(text).strip()
    p = _Parser(src, schema)
    try:
        node = ast.parse(src, mode="eval").body if len(src) <= 1000 else None
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        node = None
    f = p.field(node) if node is not None else None
    if f is None:
        raise InvalidInput(f"{src[:80]!r} is not a field name; {schema.hint()}")
    return f
