"""PostgreSQL: a page of ``runs()`` (``limit`` up to :data:`MAX_PAGE`) in one statement.

The general path builds the SQLAlchemy query at every call, fetches the page, then its params
and metrics in a second round trip, and assembles the table with numpy/pandas group-bys sized
for 100,000 runs. For a page, the fixed costs dominate. Here:

* the statement is built once per distinct call (filter text, order, paging and structured
  filters are the cache key) with its values written into the SQL text as literals, quoted by
  the driver (``PQescapeLiteral``): a statement without parameters, prepared once per
  connection and planned once with the real values. Bound parameters let the server switch to
  a *generic* plan after five calls, planned for unknown values: at 10,000 runs that plan
  joined every ``acc > 0.5`` run with every ``model == 'rf'`` run and sorted 1,666 rows
  for a page of 100 (6,300 buffers instead of 2,700, 2x the time); at 100,000 runs the generic
  plan was dearer than the custom one, so every call was planned again (0.6-1 ms);
* each run's params and latest metrics come in the same row: the JSON kept on the run's row
  (``runs.summary_params``/``summary_ptypes``/``summary_metrics``, migration 0009, kept exact by
  every writer: store/pg_summary.py) instead of two index scans per run of the page; the page's
  JSON texts are parsed by one ``json.loads``;
* the columns are built typed (numpy arrays, pandas string arrays) when their Python values
  have one type, so pandas infers nothing; any other column is given to pandas as a list and
  inferred as the general path infers it; the DataFrame is made once.

The table is the one the general path returns (same columns, order, values and dtypes:
tests/query/test_pg_page.py compares both on the same data).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, literal_column

from ..store import pg_summary
from ..store.runs import decode_param

MAX_PAGE = 1000
_cache: dict[tuple, str] = {}
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


def statement(conn, build: Callable[[], Any]) -> str:
    """The page's SQL with its values as literals (no parameters); ``build()`` gives the page's select."""
    q = build()
    # each run's params and latest metrics, kept as JSON on its row (migration 0009, store/pg_summary.py)
    null: Any = literal_column("'null'")  # a run without params or metrics: JSON's null, joined as is
    q = q.add_columns(*(func.coalesce(func.cast(literal_column(f"runs.{c}"), _text()), null)
                        for c in (pg_summary.PARAMS, pg_summary.PTYPES, pg_summary.METRICS)))
    compiled = q.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    return inline(compiled.string, compiled.params, conn.connection.driver_connection)


def inline(sql: str, values: dict[str, Any], driver) -> str:
    """``sql`` (pyformat placeholders, ``%%`` for a percent sign) with each value written in as a
    literal quoted by the driver for this connection (``PQescapeLiteral``: quotes, backslashes,
    encoding), in parentheses: ``(-7)::VARCHAR`` stays a cast of the number."""
    from psycopg.sql import Literal

    def literal(m: re.Match) -> str:
        name = m.group(1)
        if name is None:
            return "%"
        v = values[name]
        if type(v) is float and math.isfinite(v):  # float8, as the driver binds it (not numeric)
            return f"('{v!r}'::float8)"
        return f"({Literal(v).as_string(driver)})"

    return _PLACEHOLDER.sub(literal, sql)


_PLACEHOLDER = re.compile(r"%\(([^)]+)\)s|%%")


def frame(conn, key: tuple, build: Callable[[], Any], base_columns: list[str], model_prefix: str):
    """The page as the DataFrame ``runs()`` returns; ``build()`` gives the page's select (on a miss)."""
    import numpy as np
    import pandas as pd

    sql = _cache.get(key)
    if sql is None:
        sql = statement(conn, build)
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[key] = sql
    rows = _fetch(conn, sql)
    n, nb = len(rows), len(base_columns)
    if not n:  # as the general path makes it (object columns)
        df = pd.DataFrame.from_records([], columns=base_columns, nrows=0)
        df["started"] = pd.to_datetime(df["started"], unit="s", utc=True)
        return df
    cols = list(zip(*rows))
    data: dict[str, Any] = {}
    for i, c in enumerate(base_columns):
        data[c] = started_array(cols[i]) if c == "started" else typed(cols[i])
    # every row's params and metrics JSON in one parse
    blobs = json.loads("[" + ",".join(cols[nb] + cols[nb + 1] + cols[nb + 2]) + "]")
    include_model = key[4]
    pcols: dict[str, list] = {}
    decoded: dict[tuple, Any] = {}
    for i, (pdict, vtypes) in enumerate(zip(blobs[:n], blobs[n:2 * n])):
        if not pdict:
            continue
        for k, text in pdict.items():
            col = pcols.get(k)
            if col is None:
                if not include_model and k.startswith(model_prefix):
                    continue
                col = pcols[k] = [None] * n
            if text is None:
                continue
            vtype = vtypes[k]
            dk = (text, vtype)
            v = decoded.get(dk, _MISSING)
            if v is _MISSING:
                v = decode_param(text, vtype)
                if vtype != "json":  # a JSON value is mutable: each cell gets its own
                    decoded[dk] = v
            col[i] = v
    mcols: dict[str, list] = {}
    for i, mdict in enumerate(blobs[2 * n:]):
        if not mdict:
            continue
        for k, v in mdict.items():
            mcol = mcols.get(k)
            if mcol is None:
                mcol = mcols[k] = [math.nan] * n
            mcol[i] = v  # the float8's text ("NaN", "Infinity" too); None (SQL NULL) becomes NaN
    for k in sorted(pcols):
        data[f"params.{k}"] = typed(pcols[k])
    for k in sorted(mcols):
        data[f"metrics.{k}"] = np.array(mcols[k], dtype=np.float64)
    return _assemble(data, n)


def _assemble(data: dict[str, Any], n: int):
    """``pd.DataFrame(data, index=RangeIndex(n))``. When every column is already an array of ``n``
    values (the usual page), straight from the arrays (``DataFrame._from_arrays`` without the
    per-column checks: 180 -> 70 us for 14 columns) with the column index reused from the last
    page of the same columns (pandas 3 infers its ``str`` dtype anew each time: 50 us); a list
    column (mixed types) goes through the constructor, which infers it as the general path does."""
    import numpy as np
    import pandas as pd

    arrays = list(data.values())
    if all(isinstance(a, (np.ndarray, pd.api.extensions.ExtensionArray)) and a.ndim == 1 and len(a) == n
           for a in arrays):
        names = tuple(data)
        columns = _columns.get(names)
        if columns is None:
            if len(_columns) >= _CACHE_SIZE:
                _columns.clear()
            columns = _columns[names] = pd.Index(names)
        try:
            return pd.DataFrame._from_arrays(arrays, columns=columns.copy(), index=pd.RangeIndex(n),
                                             verify_integrity=False)
        except (AttributeError, TypeError):  # another pandas: the public constructor
            pass
    return pd.DataFrame(data, index=pd.RangeIndex(n), copy=False)


_columns: dict[tuple[str, ...], Any] = {}
_MISSING = object()
_NONE = type(None)


def typed(values) -> Any:
    """A column's values as pandas would infer them from the Python objects, built directly when
    they all have one simple type (str, None, float, int within 64 bits, bool); otherwise the list,
    for pandas to infer (mixed types, ints beyond 64 bits, JSON values...)."""
    import numpy as np

    kinds = set(map(type, values))
    if len(kinds) == 1:
        kind = kinds.pop()
        if kind is str:
            return _strings(values)
        if kind is _NONE:
            out = np.empty(len(values), dtype=object)
            out[:] = None
            return out
        if kind is float:
            return np.array(values, dtype=np.float64)
        if kind is bool:
            return np.array(values, dtype=bool)
        if kind is int:
            try:
                return np.array(values, dtype=np.int64)
            except OverflowError:
                pass
    return list(values)


_str_kind: list = []


def _strings(values) -> Any:
    """Texts as the column pandas infers from them (pandas 3: its ``str`` dtype, arrow-backed when
    pyarrow is there, made here straight from a pyarrow array of the same type; pandas 2: object)."""
    import numpy as np

    if not _str_kind:
        import pandas as pd

        probe = pd.Series(["x"]).array
        dtype = probe.dtype
        pa_type = getattr(getattr(probe, "_pa_array", None), "type", None)
        _str_kind.append((dtype, None if dtype == object else dtype.construct_array_type(), pa_type))
    dtype, cls, pa_type = _str_kind[0]
    if cls is None:
        return np.array(values, dtype=object)
    if pa_type is not None:
        import pyarrow as pa

        return cls(pa.array(values, type=pa_type), dtype=dtype)
    return cls._from_sequence(values, dtype=dtype)


_utc: list = []


def started_array(values) -> Any:
    """``pd.to_datetime(values, unit="s", utc=True)`` (epoch seconds, float) as the general path makes
    it. pandas 3 converts floats that are not all whole with ``cast_from_unit_vectorized``; called
    here directly (50 us instead of 260 for a page). Whole or NaN values, and other pandas versions,
    go through ``to_datetime`` itself."""
    import numpy as np
    import pandas as pd

    arr = np.array(values, dtype=np.float64)
    if not _utc:
        try:
            from pandas._libs.tslibs.conversion import cast_from_unit_vectorized

            ok = pd.__version__.split(".")[0] == "3"
        except ImportError:
            cast_from_unit_vectorized, ok = None, False
        _utc.append((cast_from_unit_vectorized if ok else None, pd.DatetimeTZDtype("ns", "UTC")))
    cast, dtype = _utc[0]
    if cast is not None and not np.isnan(arr).any() and not (arr == np.trunc(arr)).all() \
            and np.abs(arr).max() < 9.2e9:  # within datetime64[ns]'s range (year 2262)
        return pd.arrays.DatetimeArray._simple_new(cast(arr, unit="s").view("M8[ns]"), dtype=dtype)
    return pd.to_datetime(arr, unit="s", utc=True).array


def _fetch(conn, sql: str) -> list[tuple]:
    """The rows, straight from the psycopg cursor; a driver error as the general path reports it."""
    import psycopg

    from ..store.meta import _unavailable

    driver: Any = conn.connection.driver_connection
    try:
        with driver.cursor(binary=True) as cur:  # binary rows: floats and ints without parsing text (-30 us)
            cur.execute(sql, prepare=True)
            return cur.fetchall()
    except psycopg.Error as e:
        if isinstance(e, psycopg.OperationalError) or driver.closed:
            conn.invalidate()  # a broken connection never goes back to the pool
        raise _unavailable(str(conn.engine.url), e) from e


def _text():
    from sqlalchemy import Text

    return Text()
