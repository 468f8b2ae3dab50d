"""Run filters and order expressions compiled to SQL.

``"metrics.acc > 0.9 and params.model == 'rf'"`` is parsed by :mod:`nbtrack.expr`
(the one expression language, never evaluated as Python) against the runs schema
:data:`RUNS` and compiled to a SQLAlchemy expression with one outer join per
referenced metric, param or tag, so the database does the filtering.

Fields: ``metrics.NAME``, ``params.NAME``, ``tags.NAME`` (``metrics["val/acc"]``
for names that are not identifiers) and run attributes: ``id``, ``name``,
``kind``, ``status``, ``parent``, ``notebook``, ``cell_version``, ``started``,
``ended``, ``duration``, ``user``, ``experiment``. Operators: ``== != < <= > >=``,
``in``, ``not in``, ``is None``, ``is not None``, ``and``, ``or``, ``not``; a text
``in`` a field is a case-insensitive substring match (``'churn' in name``).
"""

from __future__ import annotations

import dataclasses

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_
from sqlalchemy.sql import ColumnElement

from ..errors import InvalidInput
from ..expr import MAX_FIELDS, Expr, Schema, parse, parse_field
from ..expr import Field as ExprField
from ..expr.nodes import And, Compare
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


@dataclass
class Compiled:
    where: ColumnElement | None = None
    joins: dict[tuple[str, str], Any] = field(default_factory=dict)
    # (group, key) fields the filter only keeps when they hold a value: ordering by them needs no
    # NULLS LAST, which lets PostgreSQL walk the (key, value) index instead of sorting every row
    non_null: set[tuple[str, str]] = field(default_factory=set)

    def alias(self, group: str, key: str):
        k = (group, key)
        if k not in self.joins:
            self.joins[k] = _TABLES[group].alias(f"{group[0]}{len(self.joins)}")
        return self.joins[k]

    def apply(self, query):
        for (_group, key), a in self.joins.items():
            query = query.outerjoin(a, and_(a.c.run_id == runs.c.id, a.c.key == key))
        return query


RUNS = Schema(
    attributes={"id": "text", "name": "text", "kind": "text", "status": "text", "parent": "text",
                "notebook": "text", "cell_version": "int", "started": "time", "ended": "time",
                "duration": "number", "user": "text", "experiment": "text"},
    groups={"metrics": "number", "params": "any", "tags": "text"},
    what="filter",
)

ORDER = dataclasses.replace(RUNS, what="sort field")  # runs(order_by=...): errors never speak of a "filter"


def parse_filter(text: str) -> Expr:
    """A run filter parsed (and checked) once; see :mod:`nbtrack.expr`."""
    return parse(text, RUNS)


def _columns(c: Compiled):
    def column_for(f: ExprField, kind: str):
        if f.group is None:
            return ATTRIBUTES[f.key]
        a = c.alias(f.group, f.key)
        if f.group == "params" and kind == "number":
            return a.c.num  # numbers (and bools) compare on the numeric column, the rest on the text
        return a.c.value
    return column_for


def compile_filter(text: str | Expr | None, c: Compiled | None = None) -> Compiled:
    """Compile a filter (text or parsed) into ``c.where`` plus the joins it needs, AND-ed with
    what ``c`` already holds (structured filters and user filters stay separate trees)."""
    c = c or Compiled()
    if text is None or (isinstance(text, str) and not text.strip()):
        return c
    expr = text if isinstance(text, Expr) else parse_filter(text)
    where = expr.to_sql(_columns(c))
    c.where = where if c.where is None else and_(c.where, where)
    c.non_null |= _required(expr.root)
    if len(c.joins) > MAX_FIELDS:
        raise InvalidInput(f"the filter names {len(c.joins)} different metrics/params/tags; the limit is {MAX_FIELDS}")
    return c


_REQUIRES_VALUE = ("==", "<", "<=", ">", ">=", "in", "contains")


def _required(node) -> set[tuple[str, str]]:
    """Metrics a row must hold (non-NULL) to pass: those compared with a value in a top-level ``and``."""
    items = node.items if isinstance(node, And) else (node,)
    return {(n.field.group, n.field.key) for n in items
            if isinstance(n, Compare) and n.field.group == "metrics" and n.op in _REQUIRES_VALUE
            and n.value is not None}


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
                f = parse_field(words[0], ORDER)
            except InvalidInput as e:
                why = str(e)
                prefix = f"cannot read {ORDER.what} "
                if why.startswith(prefix) and "': " in why:  # said once: "cannot order by 'x': unknown field 'x'"
                    why = why.split("': ", 1)[1]
                raise InvalidInput(f"cannot order by {part[:80]!r}: {why}") from None
            if f.group is None:
                cols = [ATTRIBUTES[f.key]]
            elif f.group == "params":  # numbers by value, then text
                a = c.alias(f.group, f.key)
                cols = [a.c.num, a.c.value]
            else:
                cols = [c.alias(f.group, f.key).c.value]
                if (f.group, f.key) in c.non_null:  # no NULL passes the filter: a plain order uses the index
                    out += [col.desc() if desc else col.asc() for col in cols]
                    continue
            out += [col.desc().nulls_last() if desc else col.asc().nulls_last() for col in cols]
    return out + [runs.c.started.desc()]
