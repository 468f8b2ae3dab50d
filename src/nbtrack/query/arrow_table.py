"""``runs()`` of a large SQLite workspace built from Arrow (issue 18, target 4).

The three queries of :func:`nbtrack.runs` (the runs, their params, their latest metrics) are read
into Arrow by :mod:`.arrow_fetch` (no Python object per cell); the params and metrics are pivoted
with Arrow and numpy on integer codes (each run's row by a hash lookup of its id, each key and
value type by dictionary encoding). The DataFrame is the one the ``sqlite3`` path builds, to the
dtype (tests/query/test_arrow_table.py compares both on awkward data): columns whose dtype is
obvious are made directly (int64, float64, bool, str); any other mix of value types goes through
the same Python values and pandas inference as :func:`.table.param_columns`.

Used above :data:`ARROW_MIN` runs; smaller tables and pages stay on ``sqlite3`` (faster there:
no child process).
"""

from __future__ import annotations

import json
from typing import Any

from .table import _decode

ARROW_MIN = 3000  # runs in the workspace (all runs) or asked for (a page) before the Arrow path pays
_STRING = ("string", "large_string")
_BASE_TYPES = {"id": _STRING, "name": _STRING, "experiment": _STRING, "kind": _STRING, "status": _STRING,
               "parent": _STRING, "notebook": _STRING, "cell_version": ("int64",),
               "started": ("double", "int64"), "duration": ("double", "int64")}


# structured filters that pick a few runs (a notebook's, a cell's history, a sweep's children): the
# child process (~25 ms) would cost more than it saves
NARROW = ("parent", "notebook", "cell_key", "name", "ids")


def source(meta, limit: int | None, matches: dict) -> tuple[str, bool] | None:
    """(path, immutable) of the SQLite file when the Arrow path should read this table, else None."""
    from ..store.meta import _direct_path

    if meta.dialect != "sqlite" or (limit and limit < ARROW_MIN) or any(matches.get(k) for k in NARROW):
        return None
    path = _direct_path(meta.url)
    return None if path is None else (path, meta.read_only == "immutable")


def worth_it(conn) -> bool:
    """The workspace holds at least ARROW_MIN runs (the rowid bound: one index step) and the driver
    is there (imported only now: never on the cold path of a small workspace)."""
    from . import arrow_fetch

    return (conn.exec_driver_sql("SELECT max(rowid) FROM runs").scalar() or 0) >= ARROW_MIN \
        and arrow_fetch.available()


def compile_sql(stmt, dialect) -> tuple[str, list] | None:
    """SQL text with ``?`` parameters and their values; None if a value is not plain (str/int/float)."""
    c = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    values = c.construct_params()
    order = c.positiontup or []
    params = [values[name] for name in order]
    if any(not isinstance(v, (str, int, float)) or isinstance(v, bool) for v in params):
        return None
    return c.string, params


def read(src: tuple[str, bool], q, id_query, dialect, base_columns: list[str], include_model: bool,
         model_prefix: str):
    """The DataFrame of ``runs()`` read through Arrow; None if the Arrow path cannot read it (the caller
    then reads with sqlite3). ``q``: the runs' select; ``id_query``: their ids (None: every run).

    A filtered or paged table is made once as a TEMP table of the child's connection, which the
    params and metrics queries then read: the filter runs once, not three times."""
    from . import arrow_fetch
    from ..store.schema import latest_metrics, params

    base = compile_sql(q, dialect)
    if base is None:
        return None
    if id_query is None:
        setup = []
        stmts = [base, (f"SELECT run_id, key, value, vtype FROM {params.name}", []),
                 (f"SELECT run_id, key, value FROM {latest_metrics.name}", [])]
    else:
        setup = [(f"CREATE TEMP TABLE {_ROWS} AS {base[0]}", base[1])]
        stmts = [(f"SELECT * FROM temp.{_ROWS} ORDER BY rowid", []),  # in the order the select inserted them
                 (f"SELECT run_id, key, value, vtype FROM {params.name} WHERE run_id IN "
                  f"(SELECT id FROM temp.{_ROWS})", []),
                 (f"SELECT run_id, key, value FROM {latest_metrics.name} WHERE run_id IN "
                  f"(SELECT id FROM temp.{_ROWS})", [])]
    tables = arrow_fetch.fetch(src[0], stmts, immutable=src[1], setup=setup)
    return None if tables is None else frame(tables, base_columns, include_model, model_prefix)


_ROWS = "nbtrack_rows"


def frame(tables: list, base_columns: list[str], include_model: bool, model_prefix: str):
    """The DataFrame of ``runs()`` from the Arrow tables of its three queries; None if a column has a
    type the sqlite3 path would read differently (the caller then reads with sqlite3)."""
    import pandas as pd

    base, prm, met = tables
    n = base.num_rows
    if n == 0 or base.num_columns != len(base_columns):
        return None
    base = base.rename_columns(base_columns)
    cols: dict[str, Any] = {}
    for name in base_columns:
        col = base.column(name)
        if col.null_count == n:  # all NULL: sqlite3 gives None, pandas an object column
            import numpy as np

            cols[name] = np.full(n, None, dtype=object)
        elif str(col.type) not in _BASE_TYPES[name]:
            return None
        else:
            cols[name] = col.to_pandas()
    df = pd.DataFrame(cols, index=pd.RangeIndex(n))
    df["started"] = pd.to_datetime(df["started"], unit="s", utc=True)
    ids = base.column("id").combine_chunks()
    ps = param_columns(ids, prm, include_model, model_prefix)
    ms = metric_columns(ids, met)
    if ps is None or ms is None:
        return None
    extra = {**ps, **ms}
    if extra:
        df = pd.concat([df, pd.DataFrame(extra, index=df.index)], axis=1)
    return df


def _positions(ids, run_ids):
    """Each row's run: its row in the table (-1: not in it), by a hash lookup in Arrow."""
    import pyarrow.compute as pc

    return pc.fill_null(pc.index_in(run_ids, value_set=ids), -1).to_numpy()


def _codes(column):
    """Dictionary codes (numpy) and the distinct values (Python) of a string column."""
    enc = column.combine_chunks().dictionary_encode() if hasattr(column, "combine_chunks") \
        else column.dictionary_encode()
    return enc.indices.to_numpy(zero_copy_only=False), enc.dictionary.to_pylist()


def _groups(code):
    """{code: indices of the rows with that code}, with numpy (a stable sort, split at changes)."""
    import numpy as np

    if not len(code):
        return {}
    order = np.argsort(code, kind="stable")
    ordered = code[order]
    cuts = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    return {int(ordered[s]): order[s:e] for s, e in zip([0, *cuts], [*cuts, len(code)])}


def param_columns(ids, prm, include_model: bool, model_prefix: str) -> dict[str, Any] | None:
    """``{"params.KEY": column}`` as :func:`.table.param_columns` makes them, from Arrow."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(ids)
    if prm.num_rows == 0:
        return {}
    if prm.num_columns != 4 or any(str(prm.column(i).type) not in (*_STRING, "null") for i in (1, 3)):
        return None
    value = prm.column(2)
    if value.null_count != len(value) and str(value.type) not in _STRING:
        return None
    if str(prm.column(1).type) == "null" or str(prm.column(3).type) == "null":
        return None
    value = value.combine_chunks()
    pos = _positions(ids, prm.column(0))
    kc, keys = _codes(prm.column(1))
    tc, types = _codes(prm.column(3))
    types = [str(t) for t in types] + ["none"]  # a NULL text decodes to None whatever its type
    none = len(types) - 1
    if value.null_count:
        tc = np.where(value.is_null().to_numpy(zero_copy_only=False), none, tc)
    found = pos >= 0
    code = (kc.astype(np.int64) * len(types) + tc)
    by_key: dict[str, dict[str, Any]] = {}
    for c, where in _groups(np.where(found, code, -1)).items():
        if c < 0:
            continue
        k, t = keys[c // len(types)], types[c % len(types)]
        if k.startswith(model_prefix) and not include_model:
            continue
        by_key.setdefault(k, {})[t] = where
    out = {}
    for k in sorted(by_key):
        col = _param_column(by_key[k], n, pos, value, np, pa, pc)
        if col is None:
            return None
        out[f"params.{k}"] = col
    return out


def _param_column(groups: dict[str, Any], n: int, pos, value, np, pa, pc):
    """One param's column: typed directly where its dtype is certain, else Python values (pandas
    infers the dtype, as on the sqlite3 path)."""
    kinds = set(groups) - {"none"}
    covered = sum(len(w) for w in groups.values())
    full = covered == n and "none" not in groups
    if len(kinds) == 1:
        (t,) = kinds
        where = groups[t]
        try:
            if t == "int":
                ints = pc.cast(value.take(pa.array(where)), pa.int64()).to_numpy()
                if full:
                    col = np.empty(n, dtype=np.int64)
                    col[pos[where]] = ints
                    return col
                col = np.full(n, np.nan)
                col[pos[where]] = ints.astype(np.float64)  # a list of ints and None: pandas makes float64
                return col
            if t == "float":
                col = np.full(n, np.nan)
                col[pos[where]] = pc.cast(value.take(pa.array(where)), pa.float64()).to_numpy()
                return col
            if t == "bool" and full:
                col = np.empty(n, dtype=bool)
                col[pos[where]] = pc.equal(value.take(pa.array(where)), "True").to_numpy(zero_copy_only=False)
                return col
            if t == "str":
                src = np.full(n, -1, dtype=np.int64)
                src[pos[where]] = where
                return value.take(pa.array(src, mask=src < 0)).to_pandas().array  # None: NaN, as pandas infers
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OverflowError):
            pass  # e.g. an int beyond 64 bits: Python ints below
    col = np.full(n, None, dtype=object)
    for t, where in groups.items():
        if t == "none":
            continue
        vals = value.take(pa.array(where)).to_pylist()
        decoded = json.loads("[" + ",".join(vals) + "]") if t == "json" else _decode(vals, t)
        tmp = np.empty(len(decoded), dtype=object)
        for i, v in enumerate(decoded):  # one by one: a list value stays one cell
            tmp[i] = v
        col[pos[where]] = tmp
    return col.tolist()


def metric_columns(ids, met) -> dict[str, Any] | None:
    """``{"metrics.KEY": float64 array}`` (NaN where missing), from Arrow."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    n = len(ids)
    if met.num_rows == 0:
        return {}
    if met.num_columns != 3 or str(met.column(1).type) not in _STRING:
        return None
    value = met.column(2)
    if str(value.type) not in ("double", "int64"):
        return None
    if str(value.type) != "double":
        if value.null_count != len(value):  # integers in a REAL column: not what sqlite3 reads
            return None
        value = value.cast(pa.float64())
    vals = value.combine_chunks().to_numpy(zero_copy_only=False)  # NULL -> NaN
    pos = _positions(ids, met.column(0))
    codes, keys = _codes(met.column(1))
    found = pos >= 0
    out = {}
    for c, where in sorted(_groups(np.where(found, codes.astype(np.int64), -1)).items(),
                           key=lambda kv: "" if kv[0] < 0 else keys[kv[0]]):
        if c < 0:
            continue
        col = np.full(n, np.nan)
        col[pos[where]] = vals[where]
        out[f"metrics.{keys[c]}"] = pd.array(col, dtype="float64")
    return out
