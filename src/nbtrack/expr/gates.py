"""The one gate: an expression checked against values, every condition reported with its numbers.

``check("metrics.auc >= 0.9 and metrics.f1 > 0.5", {"auc": 0.93, "f1": 0.4})`` is used
by gated promotion (``nbtrack promote``), pipeline gates (``nbtrack run --gate``, so CI
exit codes) and monitoring alert rules. A gate passes only when the expression is
true; a value that is missing (not recorded, or NaN) makes its comparison fail,
and the verdict says which value was missing and what was recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .parse import GATES, Schema, parse
from .nodes import Compare, Field
from .tree import Expr, compare, lookup


@dataclass
class Condition:
    """One checked comparison (or a registry condition such as "not worse than production").

    ``condition`` is its text; ``observed`` the value seen (None: missing);
    ``threshold`` what it was compared with (a literal, the other field's value, or
    the alias holder's value); ``detail`` one human line with the numbers.
    """

    condition: str
    passed: bool
    detail: str
    field: str | None = None
    op: str | None = None
    observed: Any = None
    threshold: Any = None

    # the names pipeline results used before there was one gate engine
    @property
    def gate(self) -> str:
        return self.condition

    @property
    def metric(self) -> str | None:
        return self.field

    @property
    def value(self) -> Any:
        return self.observed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.condition}: {self.detail}"


@dataclass
class Verdict:
    """The result of :func:`check`: truthy when the gate passed."""

    expression: str
    passed: bool
    conditions: list[Condition] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.passed

    def summary(self) -> str:
        return "; ".join(str(c) for c in self.conditions)

    def to_dict(self) -> dict[str, Any]:
        return {"expression": self.expression, "passed": self.passed,
                "conditions": [c.to_dict() for c in self.conditions]}


def _num(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else repr(v) if isinstance(v, str) else str(v)


def _name(f: Field, bare: str | None) -> str:
    return f.key if f.group == bare and f.group is not None else f.ref


def _recorded(values: Mapping[str, Any], f: Field, bare: str | None) -> str:
    group = values.get(f.group) if f.group else None
    keys = group.keys() if isinstance(group, Mapping) else [k for k in values if not isinstance(values[k], Mapping)]
    return ", ".join(sorted(str(k) for k in keys)) or "none"


def condition(c: Compare, values: Mapping[str, Any], bare: str | None = None) -> Condition:
    """Check one comparison and describe it."""
    ok = compare(c, values, bare) is True
    name = _name(c.field, bare)
    seen = lookup(values, c.field, bare)
    other = c.value
    if isinstance(other, Field):
        threshold = lookup(values, other, bare)
        shown = f"{_name(other, bare)} = {_num(threshold)}" if threshold is not None else _name(other, bare)
    else:
        threshold = other
        shown = _num(other) if not isinstance(other, tuple) else repr(list(other))
    missing = [(f, v) for f, v in ((c.field, seen),) + (((other, threshold),) if isinstance(other, Field) else ())
               if v is None]
    if other is None:  # FIELD is None / is not None
        detail = f"{name} is {'not recorded' if seen is None else _num(seen)}"
    elif missing and c.op != "not contains":
        f = missing[0][0]
        what = "metric" if f.group == "metrics" else "value"
        detail = f"{what} {_name(f, bare)!r} not recorded (has: {_recorded(values, f, bare)})"
    elif ok:
        detail = f"{name} = {_num(seen)} {_symbol(c.op)} {shown}"
    else:
        detail = f"{name} = {_num(seen)}, needs {_symbol(c.op)} {shown}"
    return Condition(c.text or str(c), ok, detail, name, c.op, seen, threshold)


def _symbol(op: str) -> str:
    return {"contains": "containing", "not contains": "not containing"}.get(op, op)


def check(expression: str | Expr, values: Mapping[str, Any], schema: Schema = GATES) -> Verdict:
    """Check a gate expression against ``values``.

    Parameters
    ----------
    expression : str or Expr
        ``"metrics.auc >= 0.9 and metrics.f1 > 0.5"`` (``metrics.`` may be left
        out), or an expression already parsed with :func:`nbtrack.expr.parse`.
    values : mapping
        ``{"auc": 0.93}``, ``{"metrics": {"auc": 0.93}}`` or ``{"metrics.auc": 0.93}``.
    schema : Schema
        The fields the expression may name (default: metrics).

    Returns
    -------
    Verdict
        ``passed`` and one :class:`Condition` per comparison, with the observed
        value, the threshold and a line of text.

    Raises
    ------
    InvalidInput
        The expression does not parse (one line).
    """
    expr = expression if isinstance(expression, Expr) else parse(expression, schema)
    conds = [condition(c, values, expr.bare) for c in expr.conditions()]
    if len(conds) == 1:  # a single comparison is shown as it was written
        conds[0].condition = expr.text
    return Verdict(expr.text, expr.evaluate(values) is True, conds)
