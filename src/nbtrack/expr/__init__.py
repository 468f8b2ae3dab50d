"""The one expression language of nbtrack: parse once, then SQL or Python.

>>> from nbtrack import expr
>>> e = expr.parse("metrics.auc >= 0.9 and f1 > 0.5")     # a gate: bare names are metrics
>>> e.evaluate({"auc": 0.93, "f1": 0.6})
True
>>> expr.check("auc >= 0.9", {"auc": 0.85}).conditions[0].detail
'auc = 0.85, needs >= 0.9'

Run filters (``nbtrack.runs(filter=...)``) parse with the runs schema
(:data:`nbtrack.query.filters.RUNS`) and compile to SQL with :meth:`Expr.to_sql`;
gates (promotion, pipelines, CI, alert rules) evaluate the same trees on dicts with
:func:`check`. The grammar is documented in ``docs/expressions.md``.
"""

from __future__ import annotations

from .gates import Condition, Verdict, check
from .parse import GATES, MAX_CONDITIONS, MAX_DEPTH, MAX_FIELDS, MAX_LENGTH, Schema, parse, parse_field
from .nodes import And, Compare, Field, Not, Or
from .tree import Expr, all_of

__all__ = ["And", "Compare", "Condition", "Expr", "Field", "GATES", "MAX_CONDITIONS", "MAX_DEPTH", "MAX_FIELDS",
           "MAX_LENGTH", "Not", "Or", "Schema", "Verdict", "all_of", "check", "parse",
           "parse_field"]
