"""PostgreSQL: a run's start and its end each written as ONE prepared statement, one round trip.

The general write path (``MetaStore.write()`` + :mod:`nbtrack.capture.journal`) costs, per
run, two SQLAlchemy transactions (BEGIN, several statements, COMMIT), a plan per statement
and a foreign-key check per row. On PostgreSQL the two hot writes of every run go here instead:

* the start: ``INSERT INTO runs ... VALUES (...)`` (the cell's next version computed in the
  same statement);
* the end (or a periodic flush): params, tags, metrics, latest metrics and artifacts as
  ``unnest()`` of array parameters inside data-modifying CTEs, and the run's final values as
  the statement's ``UPDATE runs`` — a single statement, so a single implicit transaction:
  all of it or nothing, exactly like the transaction it replaces.

The SQL text of each statement depends only on which run columns are written, never on the
number of rows, so psycopg prepares it once per connection (the server plans it once). The
statements run on a connection of the store's AUTOCOMMIT pool (the same pool, idle ping and
reconnect as every read). Durability is the server's own (``synchronous_commit`` is not
touched). Anything unusual (the first write of a process, an experiment not seen yet, a run
that read dataset versions, a replay) returns False: the caller takes the general path.
"""

from __future__ import annotations

import math
from typing import Any

_sql: dict[tuple, str] = {}


def usable(meta: Any) -> bool:
    return getattr(meta, "dialect", None) == "postgresql" and hasattr(meta, "read_engine")


def write_start(meta: Any, payload: dict, memo: dict) -> bool:
    """Insert a run's row (payload of ``journal.start_payload``); False when not handled here."""
    if not usable(meta):
        return False
    exp_id = memo.get(("experiment", payload["experiment"]))
    if exp_id is None:
        return False
    row = dict(payload["row"])
    row["experiment_id"] = exp_id
    cell = bool(row.get("cell_key"))
    if cell:
        row.pop("cell_version", None)
    cols = tuple(row)
    key = ("start", cols, cell)
    sql = _sql.get(key)
    if sql is None:
        names = ", ".join(_quote(c) for c in cols)
        values = ", ".join(["%s"] * len(cols))
        if cell:  # cell_version: 1 + the highest of this cell's history (index-only lookup)
            names += ", cell_version"
            values += ", (SELECT coalesce(max(cell_version), 0) + 1 FROM runs WHERE cell_key = %s)"
        sql = _sql[key] = f"INSERT INTO runs ({names}) VALUES ({values})"
    args = list(row.values())
    if cell:
        args.append(row["cell_key"])
    _execute(meta, sql, args)
    return True


def write_flush(meta: Any, payload: dict) -> bool:
    """Write a flush/end payload (``journal.flush_payload``); False when not handled here."""
    if not usable(meta) or payload["inputs"] or not meta._migrated:
        return False
    params = payload["params"]
    tags = payload["tags"]
    metrics = payload["metrics"]
    last: dict[str, Any] = {}
    for m in metrics:  # the latest per key: highest step, then newest
        cur = last.get(m[0])
        if cur is None or (m[2], m[3]) >= (cur[2], cur[3]):
            last[m[0]] = m
    arts = list({a["name"]: a for a in payload["artifacts"]}.values())  # a row is updated once: last wins
    values = payload["run_values"] or {}
    cols = tuple(values)
    sql = _sql.get(("flush", cols))
    if sql is None:
        sql = _sql[("flush", cols)] = _flush_sql(cols)
    pv = params.values()
    lv = last.values()
    args: dict[str, Any] = {
        "r": payload["run_id"],
        "pk": _texts(params), "pv": _texts(t for t, _ in pv), "pn": _nums(_num(t, v) for t, v in pv),
        "pt": _texts(v for _, v in pv),
        "tk": _texts(tags), "tv": _texts(tags.values()),
        "mk": _texts(m[0] for m in metrics), "mv": _nums(m[1] for m in metrics),
        "ms": _ints(m[2] for m in metrics), "mt": _nums(m[3] for m in metrics),
        "lk": _texts(last), "lv": _nums(m[1] for m in lv), "ls": _ints(m[2] for m in lv),
        "lt": _nums(m[3] for m in lv),
        "an": _texts(a["name"] for a in arts), "ao": _texts(a["oid"] for a in arts),
        "ak": _texts(a["kind"] for a in arts), "am": _texts(a.get("media_type") for a in arts),
        "az": _ints(a.get("size") for a in arts),
        **{f"v{i}": v for i, v in enumerate(values.values())},
    }
    _execute(meta, sql, args)
    return True


# Rows go as PostgreSQL array literals ('{"a","b"}'), one text parameter per column: cheaper to
# build than psycopg's typed lists, and unnest() of arrays costs the server less than JSON.
def _texts(items) -> str:
    return "{" + ",".join("NULL" if s is None else '"' + _escape(s) + '"' for s in items) + "}"


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"') if ("\\" in s or '"' in s) else s


def _nums(items) -> str:
    return "{" + ",".join("NULL" if x is None else repr(float(x)) for x in items) + "}"  # repr: exact


def _ints(items) -> str:
    return "{" + ",".join("NULL" if x is None else str(int(x)) for x in items) + "}"


def _flush_sql(cols: tuple[str, ...]) -> str:
    head = (
        "WITH p AS (INSERT INTO params (run_id, key, value, num, vtype) "
        "SELECT %(r)s, * FROM unnest(%(pk)s::text[], %(pv)s::text[], %(pn)s::float8[], %(pt)s::text[]) "
        "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, num = excluded.num, "
        "vtype = excluded.vtype), "
        "t AS (INSERT INTO tags (run_id, key, value) SELECT %(r)s, * FROM unnest(%(tk)s::text[], %(tv)s::text[]) "
        "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value), "
        "m AS (INSERT INTO metrics (run_id, key, value, step, ts) "
        "SELECT %(r)s, * FROM unnest(%(mk)s::text[], %(mv)s::float8[], %(ms)s::int8[], %(mt)s::float8[])), "
        "l AS (INSERT INTO latest_metrics AS o (run_id, key, value, step, ts) "
        "SELECT %(r)s, * FROM unnest(%(lk)s::text[], %(lv)s::float8[], %(ls)s::int8[], %(lt)s::float8[]) "
        "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, step = excluded.step, ts = excluded.ts "
        "WHERE excluded.step > o.step OR (excluded.step = o.step AND excluded.ts >= o.ts)), "
        "a AS (INSERT INTO artifacts (run_id, name, oid, kind, media_type, size) "
        "SELECT %(r)s, * FROM unnest(%(an)s::text[], %(ao)s::text[], %(ak)s::text[], %(am)s::text[], "
        "%(az)s::int8[]) "
        "ON CONFLICT (run_id, name) DO UPDATE SET oid = excluded.oid, kind = excluded.kind, "
        "media_type = excluded.media_type, size = excluded.size) "
    )
    if not cols:
        return head + "SELECT 1"
    sets = ", ".join(f"{_quote(c)} = %(v{i})s" for i, c in enumerate(cols))
    return head + f"UPDATE runs SET {sets} WHERE id = %(r)s"


def _execute(meta: Any, sql: str, args: list | dict) -> None:
    from sqlalchemy.exc import DatabaseError

    from .meta import _unavailable

    try:
        with meta.read_engine.connect() as conn:  # AUTOCOMMIT: the statement is its own transaction
            driver: Any = conn.connection.driver_connection
            try:
                with driver.cursor() as cur:
                    cur.execute(sql, args, prepare=True)
            except Exception as e:
                import psycopg

                if isinstance(e, psycopg.OperationalError) or driver.closed:
                    conn.invalidate()  # a broken connection never goes back to the pool
                if isinstance(e, psycopg.Error):
                    raise _unavailable(meta.url, e) from e
                raise
    except DatabaseError as e:  # checking a connection out (connect, idle ping)
        raise _unavailable(meta.url, e) from e


def _num(text: str | None, vtype: str) -> float | None:
    """The number of a param stored as (text, type): what ``runs.encode_param`` gives."""
    if text is None:
        return None
    if vtype == "bool":
        return float(text == "True")
    if vtype == "int":
        try:
            return float(int(text))
        except (OverflowError, ValueError):  # 2**1279; or more digits than int() parses
            return None
    if vtype == "float":
        f = float(text)
        return f if math.isfinite(f) else None
    return None


def _quote(col: str) -> str:
    return '"' + col.replace('"', '""') + '"'
