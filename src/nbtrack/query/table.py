"""The params and metrics columns of ``runs()``, built column-wise (no per-row Python).

Rows come from the DBAPI cursor as plain tuples (long format: run, key, value); they are
placed by a vectorised lookup of each run's position in the table and decoded per value
type in one call per (key, type): numpy parses ints and floats, one ``json.loads`` parses
every JSON value of a key. The resulting columns have the dtypes the row-by-row build had
(pandas infers them from the same Python values).
"""

from __future__ import annotations

import json
from itertools import repeat
from typing import Any

from sqlalchemy import select

from ..store.schema import latest_metrics, params

SMALL = 500  # up to this many runs: an IN list of their ids; beyond it a subquery


def fetch_tuples(conn, stmt) -> list[tuple]:
    """All rows of ``stmt`` as plain tuples (SQLite: straight from the DBAPI cursor, no Row objects)."""
    result = conn.execute(stmt)
    cursor = getattr(result, "cursor", None)
    if cursor is not None and conn.dialect.name == "sqlite":  # plain tuples: no Row objects
        try:
            return cursor.fetchall()
        finally:
            result.close()
    return [tuple(r) for r in result.all()]


def _restrict(stmt, column, ids: list[str] | None, id_query):
    """Only the rows of the table's runs: all rows (``id_query is None``), an IN list, or a subquery
    (also when the ids are not known yet: ``ids=None``)."""
    if id_query is None:
        return stmt
    if ids is not None and len(ids) <= SMALL:
        return stmt.where(column.in_(ids))
    return stmt.where(column.in_(id_query))


def positions(ids: list[str]) -> dict[str, int]:
    """Each run's row in the table (built once, shared by the params and metrics columns)."""
    return {rid: i for i, rid in enumerate(ids)}


def _place(index: dict[str, int], run_ids) -> Any:
    """Rows of ``run_ids`` in the table (-1: not in it), looked up in C (``map`` of ``dict.get``):
    3-4x faster than a pandas index of Python strings."""
    import numpy as np

    return np.fromiter(map(index.get, run_ids, repeat(-1)), dtype=np.int64, count=len(run_ids))


def _decode(values: list, vtype: str) -> list:
    """Decoded param values of one type (as ``store.runs.decode_param``, vectorised)."""
    import numpy as np

    if vtype == "none":
        return [None] * len(values)
    if vtype == "bool":
        return (np.asarray(values, dtype=object) == "True").tolist()
    if vtype == "int":
        try:
            return np.asarray(values, dtype=str).astype(np.int64).tolist()
        except (OverflowError, ValueError):  # beyond 64 bits: Python ints, exactly
            return [None if v is None else int(v) for v in values]
    if vtype == "float":
        return np.asarray(values, dtype=str).astype(np.float64).tolist()
    if vtype == "json":
        return json.loads("[" + ",".join(values) + "]")
    return list(values)


_PAGE_SQL = (  # PostgreSQL: one array parameter, so the text (and the server's prepared plan) never changes
    f"SELECT run_id, key, value, vtype FROM {params.name} WHERE run_id = ANY(%s)",
    f"SELECT run_id, key, value FROM {latest_metrics.name} WHERE run_id = ANY(%s)",
)


def page_values(conn, ids: list[str], id_query) -> tuple[list[tuple], list[tuple]] | None:
    """PostgreSQL: the params and latest metrics rows of the page's runs, both in one round trip
    (psycopg's pipeline mode); None elsewhere (the caller reads them one query at a time)."""
    driver = conn.connection.driver_connection
    if conn.dialect.name != "postgresql" or not hasattr(driver, "pipeline"):
        return None
    if id_query is not None and len(ids) <= SMALL:
        if not ids:
            return [], []
        cursors = [driver.cursor(), driver.cursor()]
        try:
            with driver.pipeline():
                for cur, sql in zip(cursors, _PAGE_SQL):
                    cur.execute(sql, (ids,))
            return cursors[0].fetchall(), cursors[1].fetchall()
        finally:
            for cur in cursors:
                cur.close()
    p, m = fetch_together(conn, [params_query(ids, id_query), metrics_query(ids, id_query)])
    return p, m


def fetch_together(conn, stmts: list) -> list[list[tuple]]:
    """The rows of independent statements. PostgreSQL: sent together in one round trip (psycopg's
    pipeline mode); elsewhere one after the other."""
    driver = conn.connection.driver_connection
    if conn.dialect.name != "postgresql" or not hasattr(driver, "pipeline"):
        return [fetch_tuples(conn, s) for s in stmts]
    compiled = [s.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True}) for s in stmts]
    cursors = [driver.cursor() for _ in compiled]
    try:
        with driver.pipeline():
            for cur, c in zip(cursors, compiled):
                cur.execute(c.string, c.params)
        return [cur.fetchall() for cur in cursors]
    finally:
        for cur in cursors:
            cur.close()


def params_query(ids: list[str] | None, id_query):
    return _restrict(select(params.c.run_id, params.c.key, params.c.value, params.c.vtype),
                     params.c.run_id, ids, id_query)


def metrics_query(ids: list[str] | None, id_query):
    return _restrict(select(latest_metrics.c.run_id, latest_metrics.c.key, latest_metrics.c.value),
                     latest_metrics.c.run_id, ids, id_query)


def param_columns(conn, ids: list[str], id_query, include_model: bool, model_prefix: str,
                  index: dict[str, int] | None = None, rows: list[tuple] | None = None) -> dict[str, list]:
    """``{"params.KEY": values in the order of ids}`` (None where a run has no such param);
    ``rows``: the rows of :func:`params_query`, if already fetched."""
    import numpy as np
    import pandas as pd

    n = len(ids)
    if rows is None:
        rows = fetch_tuples(conn, params_query(ids, id_query))
    if not rows or not n:
        return {}
    table = np.array(rows, dtype=object)  # one C call; columns are views
    rid, key, value, vtype = table[:, 0], table[:, 1], table[:, 2], table[:, 3]
    pos = _place(index if index is not None else positions(ids), rid)
    # grouped by integer codes of (key, type): no string columns for pandas to convert
    kc, keys = pd.factorize(key)
    tc, types = pd.factorize(vtype)
    types = [str(t) for t in types] + ["none"]  # a NULL text decodes to None whatever its type
    tc = np.where(pd.isna(value), len(types) - 1, tc)
    found = pos >= 0
    code = (kc * len(types) + tc)[found]
    group = pd.Series(code).groupby(code, sort=False).indices
    out: dict[str, np.ndarray] = {}
    value, pos = value[found], pos[found]
    for c, where in group.items():
        k, t = keys[c // len(types)], types[c % len(types)]
        if k.startswith(model_prefix) and not include_model:
            continue
        col = out.get(k)
        if col is None:
            col = out[k] = np.full(n, None, dtype=object)
        decoded = _decode(value[where].tolist(), t)
        target = pos[where]
        if t == "none":
            continue
        tmp = np.empty(len(decoded), dtype=object)
        if t == "json":  # numpy would make a list of lists 2-d: one by one keeps each value whole
            for i, v in enumerate(decoded):
                tmp[i] = v
        else:
            tmp[:] = decoded
        col[target] = tmp
    return {f"params.{k}": out[k].tolist() for k in sorted(out)}


def metric_columns(conn, ids: list[str], id_query, index: dict[str, int] | None = None,
                   rows: list[tuple] | None = None) -> dict[str, Any]:
    """``{"metrics.KEY": float64 array in the order of ids}`` (NaN where missing); ``rows``: the
    rows of :func:`metrics_query`, if already fetched."""
    import numpy as np
    import pandas as pd

    n = len(ids)
    if rows is None:
        rows = fetch_tuples(conn, metrics_query(ids, id_query))
    if not rows or not n:
        return {}
    table = np.array(rows, dtype=object)
    pos = _place(index if index is not None else positions(ids), table[:, 0])
    vals = table[:, 2].astype(np.float64)  # None -> NaN
    codes, keys = pd.factorize(table[:, 1])
    found = pos >= 0
    groups = pd.Series(codes[found]).groupby(codes[found], sort=False).indices
    pos, vals = pos[found], vals[found]
    out = {}
    for c, where in sorted(groups.items(), key=lambda kv: keys[kv[0]]):
        col = np.full(n, np.nan)
        col[pos[where]] = vals[where]
        out[f"metrics.{keys[c]}"] = pd.array(col, dtype="float64")
    return out
