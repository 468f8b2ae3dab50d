"""PostgreSQL: a page of ``runs()`` (``limit`` up to :data:`MAX_PAGE`) in one statement.

The general path builds the SQLAlchemy query at every call, fetches the page, then its params
and metrics in a second round trip, and assembles the table with numpy/pandas group-bys sized
for 100,000 runs. For a page, the fixed costs dominate. Here:

* the statement is built and compiled once per distinct call (filter text, order, paging and
  structured filters are the cache key; values stay bound parameters) and sent straight to the
  psycopg cursor, prepared by the server after a few uses;
* each run's params and latest metrics come in the same row, aggregated by correlated
  subqueries that the planner evaluates after ORDER BY/LIMIT (only for the page's rows), as
  JSON text parsed by one ``json.loads`` for the whole page;
* the columns are filled in plain Python (a page is small) and the DataFrame is made once.

The table is the one the general path returns (same columns, order, values and dtypes:
tests/query/test_pg_page.py compares both on the same data).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from ..store.runs import decode_param
from ..store.schema import latest_metrics, params, runs as runs_t

MAX_PAGE = 1000
_cache: dict[tuple, tuple[str, dict]] = {}
_CACHE_SIZE = 512


def cache_key(filter: Any, order_by: Any, limit: int | None, offset: int | None, model_params: bool,
              matches: dict[str, Any]) -> tuple | None:
    """The call as a hashable key; None when this path does not apply (no page, an Expr filter)."""
    if not limit or limit > MAX_PAGE or not (filter is None or isinstance(filter, str)):
        return None
    if isinstance(order_by, list):
        order_by = tuple(order_by)
    items = []
    for k, v in sorted(matches.items()):
        if isinstance(v, (list, tuple, set, frozenset)):
            if not all(isinstance(x, str) for x in v):
                return None  # the general path says what is wrong
            v = tuple(v) if not isinstance(v, (set, frozenset)) else ("set", tuple(sorted(v)))
        elif v is not None and not isinstance(v, str):
            return None
        items.append((k, v))
    return (filter, order_by, limit, offset or 0, model_params, tuple(items))


def frame(conn, key: tuple, build: Callable[[], Any], base_columns: list[str], model_prefix: str):
    """The page as the DataFrame ``runs()`` returns; ``build()`` gives the page's select (on a miss)."""
    import numpy as np
    import pandas as pd

    hit = _cache.get(key)
    if hit is None:
        q = build()
        pa = (select(func.json_agg(func.json_build_array(params.c.key, params.c.value, params.c.vtype)))
              .where(params.c.run_id == runs_t.c.id).scalar_subquery())
        ma = (select(func.json_object_agg(latest_metrics.c.key, latest_metrics.c.value))
              .where(latest_metrics.c.run_id == runs_t.c.id).scalar_subquery())
        q = q.add_columns(func.cast(pa, _text()), func.cast(ma, _text()))
        compiled = q.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        hit = _cache[key] = (compiled.string, dict(compiled.params))
    sql, args = hit
    rows = _fetch(conn, sql, args)
    n, nb = len(rows), len(base_columns)
    if not n:  # as the general path makes it (object columns)
        df = pd.DataFrame.from_records([], columns=base_columns, nrows=0)
        df["started"] = pd.to_datetime(df["started"], unit="s", utc=True)
        return df
    cols = list(zip(*rows))
    data: dict[str, Any] = {c: list(cols[i]) for i, c in enumerate(base_columns)}
    started = base_columns.index("started")
    data["started"] = pd.to_datetime(np.array(cols[started], dtype=np.float64), unit="s", utc=True)
    # every row's params and metrics JSON in one parse
    blobs = json.loads("[" + ",".join("null" if t is None else t for t in cols[nb] + cols[nb + 1]) + "]")
    pcols: dict[str, list] = {}
    decoded: dict[tuple, Any] = {}
    for i, plist in enumerate(blobs[:n]):
        for k, text, vtype in plist or ():
            if not model_params_ok(k, key[4], model_prefix):
                continue
            col = pcols.get(k)
            if col is None:
                col = pcols[k] = [None] * n
            if text is None or vtype == "none":
                continue
            dk = (text, vtype)
            v = decoded.get(dk, _MISSING)
            if v is _MISSING:
                v = decode_param(text, vtype)
                if vtype not in ("json",):  # a JSON value is mutable: each cell gets its own
                    decoded[dk] = v
            col[i] = v
    mcols: dict[str, Any] = {}
    for i, mdict in enumerate(blobs[n:]):
        for k, v in (mdict or {}).items():
            mcol = mcols.get(k)
            if mcol is None:
                mcol = mcols[k] = np.full(n, np.nan)
            mcol[i] = math.nan if v is None else v
    for k in sorted(pcols):
        data[f"params.{k}"] = pcols[k]
    for k in sorted(mcols):
        data[f"metrics.{k}"] = pd.array(mcols[k], dtype="float64")
    return pd.DataFrame(data, index=pd.RangeIndex(n))


_MISSING = object()


def _fetch(conn, sql: str, args: dict) -> list[tuple]:
    """The rows, straight from the psycopg cursor; a driver error as the general path reports it."""
    import psycopg

    from ..store.meta import _unavailable

    driver: Any = conn.connection.driver_connection
    try:
        with driver.cursor() as cur:
            cur.execute(sql, args, prepare=True)
            return cur.fetchall()
    except psycopg.Error as e:
        if isinstance(e, psycopg.OperationalError) or driver.closed:
            conn.invalidate()  # a broken connection never goes back to the pool
        raise _unavailable(str(conn.engine.url), e) from e


def model_params_ok(key: str, include: bool, prefix: str) -> bool:
    return include or not key.startswith(prefix)


def _text():
    from sqlalchemy import Text

    return Text()
