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
number of rows, so it is prepared once per connection (the server plans it once). Anything
unusual (the first write of a process, an experiment not seen yet, a run that read dataset
versions, a replay, a value the text encoding below does not cover) returns False: the caller
takes the general path.

**One round trip per run.** Each thread writes runs on its own connection (:class:`_Writer`:
libpq through psycopg's ``pgconn``, autocommit, values sent as text; no pool checkout, no
cursor), and a start is *sent without waiting for its reply*: the server executes and commits
it as soon as it arrives (a running run is visible to every reader at once, as before), and
its result is read, already there, by the next use of that connection or by the first read or
write of this process on the same store (``MetaStore.before_use`` calls :func:`settle`), so
this process always reads its own writes and a run's rows never overtake its start. A start
that failed (a dropped connection, a server error) is sent again, idempotently
(``ON CONFLICT (id) DO NOTHING``), then waited for; if that fails too the error is raised
there as :class:`StoreUnavailable`. The end is always waited for: a finished run is committed
when ``end()`` returns. Durability is the server's own (``synchronous_commit`` is not touched).
"""

from __future__ import annotations

import _thread
import atexit
import functools
import heapq
import itertools
import math
import os
import re
import select
import threading
import time
import weakref
from typing import Any

from ..errors import StoreUnavailable
from . import pg_summary

_sql: dict[tuple, str] = {}
_names: dict[str, bytes] = {}  # SQL text -> its prepared statement's name (the same on every connection)


@functools.cache
def _run_columns() -> frozenset[str]:
    from .schema import runs  # SQLAlchemy: only on PostgreSQL (the SQLite first run never imports it)

    return frozenset(c.name for c in runs.columns)


def usable(meta: Any) -> bool:
    return getattr(meta, "dialect", None) == "postgresql" and hasattr(meta, "read_engine")


def write_start(meta: Any, payload: dict, memo: dict) -> bool:
    """Insert a run's row (payload of ``journal.start_payload``); False when not handled here."""
    if not usable(meta):
        return False
    exp_id = memo.get(("experiment", payload["experiment"]))
    if exp_id is None:
        return False
    known = _run_columns()
    row = {k: v for k, v in payload["row"].items() if k in known}  # as SQLAlchemy's insert: others ignored
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
        sql = _sql[key] = _positional(f"INSERT INTO runs ({names}) VALUES ({values})")
    args = [_param(v) for v in row.values()]
    if cell:
        args.append(args[cols.index("cell_key")])
    if _UNSUPPORTED in args:
        return False
    _no_nul(meta, args)
    _writer(meta).defer(row["id"], row, cell, sql, args)
    return True


# The start's commit does not wait for its WAL flush (synchronous_commit=off for that one
# transaction, like SQLite's provisional start): the end's synchronous commit flushes the WAL up
# to itself, the start's record included. Sent again (waited for) it is idempotent.
_ASYNC = " RETURNING set_config('synchronous_commit', 'off', true)"
_AGAIN = " ON CONFLICT (id) DO NOTHING"
_started: dict[str, tuple[str, list]] = {}  # run id -> its start sent again, until its end is written


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
    parts = "".join(k for k, rows in (("p", params), ("t", tags), ("m", metrics), ("a", arts)) if rows)
    if not parts and not cols:
        return True  # nothing to write
    args = [_param(payload["run_id"])]
    if "p" in parts:
        texts, vtypes = zip(*params.values())
        args += (_texts(params), _texts(texts), _nums(map(_num, texts, vtypes)), _texts(vtypes))
    if "t" in parts:
        args += (_texts(tags), _texts(tags.values()))
    if "m" in parts:
        keys, vals, steps, tss = zip(*metrics)
        args += (_texts(keys), _nums(vals), _ints(steps), _nums(tss))
        if len(last) < len(metrics):  # a key logged more than once: its latest row apart
            lk, lv, ls, lt = zip(*last.values())
            args += (_texts(lk), _nums(lv), _ints(ls), _nums(lt))
        else:  # each key once: the latest rows are the history rows (the same parameters)
            parts = parts.replace("m", "n")
    if "a" in parts:
        args += (_texts(a["name"] for a in arts), _texts(a["oid"] for a in arts), _texts(a["kind"] for a in arts),
                 _texts(a.get("media_type") for a in arts), _ints(a.get("size") for a in arts))
    sql = _sql.get(("flush", cols, parts))
    if sql is None:
        sql = _sql[("flush", cols, parts)] = _flush_sql(cols, parts)
    args[1:] = [a.encode() for a in args[1:]]
    args += [_param(v) for v in values.values()]
    if _UNSUPPORTED in args:
        return False
    _no_nul(meta, args)
    run_id = payload["run_id"]
    w = _writer(meta)
    if values and _whole(w, run_id, parts, args[:len(args) - len(values)], values, args[len(args) - len(values):]):
        return True
    start = _started.pop(run_id, None) if values else _started.get(run_id)
    try:
        n = w.execute(sql, args)
    except StoreUnavailable:
        if start is None or w.sqlstate != "23503":  # not a foreign key violation
            raise
        n = 0
    if n == 0 and start is not None and (cols or w.sqlstate == "23503"):
        # the run's row is not there: its start (committed without waiting for its WAL flush)
        # was lost in a server crash; written again, then this (nothing of it was written)
        w.execute(*start)
        w.execute(sql, args)
    return True


def _whole(w: _Writer, run_id: str, parts: str, cte_args: list, values: dict, value_args: list) -> bool:
    """A run ending before its start was sent: its row (start and end values together) and
    everything else in ONE statement. False when its start was sent already. The arguments
    come encoded and checked: the start's row by write_start, the rest by write_flush."""
    owner = _deferred_by_run.get(run_id)
    if owner is None:
        return False
    with owner.lock:
        d = owner.deferred.pop(run_id, None)
        _deferred_by_run.pop(run_id, None)
        owner.forget_if_done()
    if d is None:
        return False
    row, cell, start_args = d[0], d[1], d[3]
    encoded = dict(zip(row, start_args))  # the start row's values, in its order (not the cell key again)
    encoded.update(zip(values, value_args))  # the end's values: as {**row, **values}
    cols = tuple(encoded)
    key = ("whole", cols, parts, cell)
    sql = _sql.get(key)
    if sql is None:
        sql = _sql[key] = _flush_sql(cols, parts, insert=True, cell=cell)
    del encoded["id"]  # parameter 1 (in cte_args)
    args = cte_args + list(encoded.values())
    try:
        w.execute(sql, args, again=True)
    except BaseException:  # not written: the start waits again (a retried end or settle() sends it)
        w.defer(run_id, *d)
        raise
    return True


# Rows go as PostgreSQL array literals ('{"a","b"}'), one text parameter per column: cheaper to
# build than psycopg's typed lists, and unnest() of arrays costs the server less than JSON.
def _texts(items) -> str:
    items = tuple(items)
    if None not in items:  # the usual case: joined at once, escaped only if a quote or backslash is in it
        raw = "".join(items)
        if "\\" not in raw and '"' not in raw:
            return '{"' + '","'.join(items) + '"}' if items else "{}"
    return "{" + ",".join("NULL" if s is None else '"' + _escape(s) + '"' for s in items) + "}"


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"') if ("\\" in s or '"' in s) else s


def _nums(items) -> str:
    items = tuple(items)
    if None not in items:
        return "{" + ",".join(map(repr, map(float, items))) + "}"  # repr: exact
    return "{" + ",".join("NULL" if x is None else repr(float(x)) for x in items) + "}"


def _ints(items) -> str:
    items = tuple(items)
    if None not in items:
        return "{" + ",".join(map(str, map(int, items))) + "}"
    return "{" + ",".join("NULL" if x is None else str(int(x)) for x in items) + "}"


# the CTE of each kind of row (only those a flush has rows for are in its statement); "n": metrics
# whose keys are each logged once, so the latest rows are the history rows (the same parameters)
_CTES = {
    "p": ("pk", "pv", "pn", "pt"),
    "t": ("tk", "tv"),
    "m": ("mk", "mv", "ms", "mt", "lk", "lv", "ls", "lt"),
    "n": ("mk", "mv", "ms", "mt"),
    "a": ("an", "ao", "ak", "am", "az"),
}


def _metrics_cte(k: str, v: str, s: str, t: str) -> str:
    """The metrics history insert, then the latest-metrics insert of the arrays named k, v, s, t."""
    return ("m AS (INSERT INTO metrics (run_id, key, value, step, ts) "
            "SELECT %(r)s, * FROM unnest(%(mk)s::text[], %(mv)s::float8[], %(ms)s::int8[], %(mt)s::float8[])), "
            "l AS (INSERT INTO latest_metrics AS o (run_id, key, value, step, ts) "
            f"SELECT %(r)s, * FROM unnest(%({k})s::text[], %({v})s::float8[], %({s})s::int8[], %({t})s::float8[])")


_LATEST_UPSERT = (" ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, step = excluded.step, "
                  "ts = excluded.ts WHERE excluded.step > o.step OR (excluded.step = o.step AND excluded.ts >= o.ts)")
_CTE_SQL = {  # (the insert, what makes it an upsert)
    "p": ("p AS (INSERT INTO params (run_id, key, value, num, vtype) "
          "SELECT %(r)s, * FROM unnest(%(pk)s::text[], %(pv)s::text[], %(pn)s::float8[], %(pt)s::text[])",
          " ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, num = excluded.num, "
          "vtype = excluded.vtype"),
    "t": ("t AS (INSERT INTO tags (run_id, key, value) SELECT %(r)s, * FROM unnest(%(tk)s::text[], %(tv)s::text[])",
          " ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value"),
    "m": (_metrics_cte("lk", "lv", "ls", "lt"), _LATEST_UPSERT),
    "n": (_metrics_cte("mk", "mv", "ms", "mt"), _LATEST_UPSERT),
    "a": ("a AS (INSERT INTO artifacts (run_id, name, oid, kind, media_type, size) "
          "SELECT %(r)s, * FROM unnest(%(an)s::text[], %(ao)s::text[], %(ak)s::text[], %(am)s::text[], "
          "%(az)s::int8[])",
          " ON CONFLICT (run_id, name) DO UPDATE SET oid = excluded.oid, kind = excluded.kind, "
          "media_type = excluded.media_type, size = excluded.size"),
}


def _summary(parts: str, insert: bool) -> list[tuple[str, str]]:
    """The run's params and latest metrics JSON (migration 0009, store/pg_summary.py) as
    (column, expression) from this statement's own array parameters: ``jsonb_object`` (one C call,
    no aggregate). A run written before gets them merged in (``||``: a key's new value replaces
    its old one); its latest metrics are then the rows the upsert returns (a value of an older
    step than the stored one is not written, so not returned)."""
    out = []
    if "p" in parts:
        out += [(pg_summary.PARAMS, "jsonb_object(%(pk)s::text[], %(pv)s::text[])"),
                (pg_summary.PTYPES, "jsonb_object(%(pk)s::text[], %(pt)s::text[])")]
    if "m" in parts or "n" in parts:
        if not insert:
            out.append((pg_summary.METRICS, "(SELECT jsonb_object_agg(key, value::text) FROM l)"))
        else:  # a new run: the latest rows are all written (each key once)
            k, v = ("mk", "mv") if "n" in parts else ("lk", "lv")
            out.append((pg_summary.METRICS, f"jsonb_object(%({k})s::text[], %({v})s::float8[]::text[])"))
    return out


def _flush_sql(cols: tuple[str, ...], parts: str = "ptma", insert: bool = False, cell: bool = False) -> str:
    """One statement: a CTE per kind of row in ``parts``, the run's UPDATE (``cols``) as its main
    clause — or (``insert``) the run's whole row as an INSERT (a foreign key is checked at the end
    of the statement: it sees the row). A new run (``insert``) has no rows yet, and each kind of
    row comes without duplicate keys: plain inserts (no ON CONFLICT: no speculative insertion).
    Sent again after a lost connection, a committed first try makes it fail as a unique violation."""
    latest = "" if insert else " RETURNING key, value"  # the latest metrics the upsert did write
    head = ("WITH " + ", ".join(_CTE_SQL[k][0] + ("" if insert else _CTE_SQL[k][1])
                                + (latest if k in "mn" else "") + ")" for k in parts) + " ") if parts else ""
    summary = _summary(parts, insert)
    names = ("r", *(n for k in parts for n in _CTES[k]), *(f"v{i}" for i, c in enumerate(cols)
                                                          if not (insert and c == "id")))
    if insert:  # the run's id is parameter r (the first), the other columns follow
        cnames = ", ".join(_quote(c) for c in cols)
        cvalues = ", ".join("%(r)s" if c == "id" else f"%(v{i})s" for i, c in enumerate(cols))
        if cell:  # cell_version as in the start
            cnames += ", cell_version"
            cvalues += (", (SELECT coalesce(max(cell_version), 0) + 1 FROM runs WHERE cell_key = "
                        f"%(v{cols.index('cell_key')})s)")
        for c, e in summary:  # a new run: its rows are all this statement's
            cnames += f", {c}"
            cvalues += f", {e}"
        sql = head + f"INSERT INTO runs ({cnames}) VALUES ({cvalues})"
    elif not cols and not summary:
        sql = head + "SELECT 1"
    else:
        sets = ", ".join([f"{_quote(c)} = %(v{i})s" for i, c in enumerate(cols)]
                         + [f"{c} = coalesce(coalesce({c}, '{{}}') || {e}, {c})" for c, e in summary])  # merged
        sql = head + f"UPDATE runs SET {sets} WHERE id = %(r)s"
    order = {k: i + 1 for i, k in enumerate(names)}
    return re.sub(r"%\((\w+)\)s", lambda m: f"${order[m.group(1)]}", sql)


def _positional(sql: str) -> str:
    """``%s`` placeholders as ``$1, $2...`` for libpq."""
    counter = iter(range(1, sql.count("%s") + 1))
    return re.sub("%s", lambda m: f"${next(counter)}", sql)


_UNSUPPORTED: Any = object()


def _param(v: Any) -> Any:
    """A value as a text parameter (bytes; None is NULL); ``_UNSUPPORTED`` for another type."""
    t = v.__class__
    if t is str:  # the usual types first (exact), then subclasses
        return v.encode()
    if t is float and v - v == 0.0:  # finite
        return repr(v).encode()
    if v is None:
        return None
    if isinstance(v, str):
        return v.encode()
    if isinstance(v, bool):
        return b"true" if v else b"false"
    if isinstance(v, int):
        return str(v).encode()
    if isinstance(v, float):
        return repr(v).encode() if math.isfinite(v) else (b"NaN" if v != v else b"Infinity" if v > 0 else b"-Infinity")
    return _UNSUPPORTED


def _no_nul(meta: Any, args: list) -> None:
    """PostgreSQL text cannot hold a NUL byte, and libpq would cut a text parameter there: the
    same error as psycopg's (which the general path raises), as StoreUnavailable."""
    if b"\0" in b"".join(filter(None, args)):
        import psycopg

        from .meta import _unavailable

        raise _unavailable(meta.url, psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"))


class _Writer:
    """One thread's connection for run writes; a start is sent, and its reply read later."""

    def __init__(self, meta: Any) -> None:
        self.meta = meta
        self.lock = threading.Lock()
        self.conn: Any = None  # psycopg.Connection, used through its pgconn only
        self.prepared: set[bytes] = set()
        self.pending: tuple[str, list] | None = None  # a start sent whose reply is not read yet
        self.deferred: dict[str, tuple] = {}  # run id -> (row, cell, sql, args): a start not sent yet
        self.used = 0.0
        self.sqlstate: str | None = None  # of the last statement's error
        self.pid = os.getpid()
        self.pend = _pending(meta)  # the writers of meta with a start to send or a reply to read

    def pid_ok(self) -> bool:
        return self.pid == os.getpid()

    # -- the writes ------------------------------------------------------------------------
    def defer(self, run_id: str, row: dict, cell: bool, sql: str, args: list) -> None:
        """Keep a start to send within :data:`DEFER_S` (or with the run's end, if sooner)."""
        with self.lock:
            self.deferred[run_id] = (row, cell, sql, args)
            _deferred_by_run[run_id] = self
            self.pend.add(self)
        _schedule(self, run_id)

    def send_start(self, run_id: str) -> None:
        """Send the start of ``run_id`` if it is still waiting (the scheduler's thread)."""
        with self.lock:
            if run_id in self.deferred:
                self._send_start(run_id)

    def execute(self, sql: str, args: list, again: bool = False) -> int:
        """Run ``sql`` and wait for it: the number of rows of its main clause. ``again``: the
        statement inserts the run's row, so it is sent once more if the connection failed (if
        the first one was committed after all, the second finds the row and writes nothing)."""
        if self.pend:  # every start of this process first (another thread's too)
            _settle_all(self.pend)
        with self.lock:
            self._send(sql, args)
            try:
                return self._reply()
            except StoreUnavailable:
                if not again or self.conn is not None:  # a server error, not a lost connection
                    raise
            self._send(sql, args)
            try:
                return self._reply()
            except StoreUnavailable:
                if self.sqlstate == "23505":  # the run's row exists: the first one was committed
                    return 1
                raise

    def settle(self) -> None:
        """Send the starts still waiting, then read every reply."""
        with self.lock:
            for run_id in list(self.deferred):
                self._send_start(run_id)
            self._settle()
            self.forget_if_done()

    def forget_if_done(self) -> None:
        if self.pending is None and not self.deferred:
            self.pend.discard(self)

    def _send_start(self, run_id: str) -> None:
        row, cell, sql, args = self.deferred[run_id]
        self._settle()  # one reply outstanding at most
        self._send(sql + _ASYNC, args)
        del self.deferred[run_id]
        _deferred_by_run.pop(run_id, None)
        self.pending = (sql + _AGAIN, args)
        if len(_started) >= 10_000:  # runs never ended (their end failed): forget the oldest
            _started.pop(next(iter(_started)), None)
        _started[run_id] = (sql + _AGAIN, args)

    # -- the protocol --------------------------------------------------------------------
    def _settle(self) -> None:
        if self.pending is None:
            return
        sql, args = self.pending
        self.pending = None
        try:
            self._reply()
        except Exception:  # not written, or not known to be: once more, idempotently, and wait
            self._send(sql, args)
            self._reply()

    def _send(self, sql: str, args: list) -> None:
        """Send one prepared statement (prepared first if this connection has not yet): a
        broken connection is replaced and the statement sent again (a statement whose sending
        failed never ran: without its Sync message the server commits nothing)."""
        if self.conn is not None and time.monotonic() - self.used > _ping_idle_s():
            try:  # idle for long: the server may have dropped it (as the pool checks)
                self._exec(b"SELECT 1")
            except Exception:
                self._close()
        for attempt in (1, 2):
            try:
                if self.conn is None or self.conn.pgconn.status != 0:  # 0: CONNECTION_OK
                    self._connect()
                pg = self.conn.pgconn
                name = _names.get(sql)
                if name is None:
                    name = _names.setdefault(sql, f"nbtrack_{len(_names)}".encode())
                if name not in self.prepared:
                    self._check(pg.prepare(name, sql.encode()))
                    self.prepared.add(name)
                pg.send_query_prepared(name, args)
                while pg.flush():
                    select.select([], [pg.socket], [])
                self.used = time.monotonic()
                return
            except Exception as e:
                broken = _broken(e) or self.conn is None or self.conn.pgconn.status != 0
                self._close()
                if attempt == 2 or not broken:
                    raise self._error(e) from e

    def _reply(self) -> int:
        """Wait for the reply of what was sent: the rows its main clause wrote; a server error
        is raised as StoreUnavailable (its SQLSTATE in ``self.sqlstate``)."""
        pg = self.conn.pgconn
        error: Exception | None = None
        rows, self.sqlstate = 0, None
        try:
            pg.consume_input()
            while True:
                while pg.is_busy():
                    select.select([pg.socket], [], [])
                    pg.consume_input()
                res = pg.get_result()
                if res is None:
                    break
                if res.status in (1, 2):  # COMMAND_OK, TUPLES_OK
                    rows = res.command_tuples or 0
                elif error is None:
                    error = _db_error(res.error_message)
                    self.sqlstate = (res.error_field(67) or b"").decode()  # 67: PG_DIAG_SQLSTATE ('C')
        except Exception as e:
            error = e
        if error is not None:
            if pg.status != 0:
                self._close()
            raise self._error(error) from error
        return rows

    def _exec(self, sql: bytes) -> None:
        self._check(self.conn.pgconn.exec_(sql))

    @staticmethod
    def _check(res: Any) -> None:
        if res.status not in (1, 2):
            raise _db_error(res.error_message)

    def _connect(self) -> None:
        import psycopg

        engine = self.meta.read_engine
        _, kw = engine.dialect.create_connect_args(engine.url)
        kw.pop("context", None)
        self.conn = psycopg.connect(autocommit=True, **kw)
        self.prepared = set()

    def _close(self) -> None:
        conn, self.conn, self.prepared = self.conn, None, set()
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def _error(self, e: Exception) -> Exception:
        from .meta import _unavailable

        return e if isinstance(e, StoreUnavailable) else _unavailable(self.meta.url, e)


@functools.cache
def _ping_idle_s() -> float:
    from .meta import PING_IDLE_S

    return PING_IDLE_S


def _db_error(message: bytes) -> Exception:
    import psycopg

    return psycopg.DatabaseError(message.decode(errors="replace").strip() or "unknown server error")


def _broken(e: Exception) -> bool:
    import psycopg

    return isinstance(e, psycopg.OperationalError)


_locals: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # meta -> threading.local
_all: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # meta -> every writer it has had (close())
_pendings: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # meta -> writers with a reply to read
_registry_lock = threading.Lock()


_last: tuple[Any, Any] = (lambda: None, None)  # (weak reference to the last meta, its thread-locals)


def _writer(meta: Any) -> _Writer:
    global _last
    ref, local = _last
    if ref() is not meta:
        local = _locals.get(meta)
        if local is None:
            with _registry_lock:
                local = _locals.setdefault(meta, threading.local())
        _last = (weakref.ref(meta), local)
    w = getattr(local, "w", None)
    if w is None or not w.pid_ok():  # a forked child never uses its parent's connection
        w = local.w = _Writer(meta)
        with _registry_lock:
            _all.setdefault(meta, weakref.WeakSet()).add(w)
        if meta.before_use is None:
            ref = weakref.ref(meta)
            meta.before_use = lambda: _call(settle, ref)
            meta.on_dispose = lambda: _call(close, ref)
    return w


def _call(fn: Any, ref: Any) -> None:
    meta = ref()
    if meta is not None:
        fn(meta)


def _pending(meta: Any) -> set:
    p = _pendings.get(meta)
    if p is None:
        with _registry_lock:
            p = _pendings.setdefault(meta, set())
    return p


# A start waits at most this long to be sent (a run ending sooner is written as ONE statement):
# a running run is visible to other readers within a few milliseconds.
DEFER_S = 0.003
_deferred_by_run: dict[str, _Writer] = {}  # run id -> the writer holding its unsent start
_sched_lock = threading.Lock()  # guards the heap
_sched_wake = _thread.allocate_lock()  # released to wake the scheduler: a raw lock, no Condition (cheaper)
_sched_wake.acquire()
_sched_heap: list = []
_sched_seq = itertools.count()
_sched_pid = 0  # the process whose scheduler thread runs (none in a forked child)


def _schedule(w: _Writer, run_id: str) -> None:
    global _sched_pid
    with _sched_lock:
        if _sched_pid != os.getpid():  # none yet, or not in this (forked) process
            _sched_heap.clear()
            threading.Thread(target=_send_due, name="nbtrack-pg-starts", daemon=True).start()
            _sched_pid = os.getpid()
        wake = not _sched_heap  # else the thread waits for an earlier deadline already
        heapq.heappush(_sched_heap, (time.monotonic() + DEFER_S, next(_sched_seq), w, run_id))
    if wake:
        try:
            _sched_wake.release()
        except RuntimeError:  # released already: the thread wakes anyway
            pass


def _send_due() -> None:
    while True:
        with _sched_lock:
            due = _sched_heap[0][0] - time.monotonic() if _sched_heap else -1.0
            item = heapq.heappop(_sched_heap) if _sched_heap and due <= 0 else None
        if item is None:
            _sched_wake.acquire(timeout=due if due > 0 else -1)  # woken early by a new first deadline
            continue
        _, _, w, run_id = item
        if run_id in w.deferred:
            try:
                w.send_start(run_id)
            except Exception:  # kept: the run's end (or the next read) sends it and reports the error
                pass


def _send_all_at_exit() -> None:
    for metas in list(_pendings.values()):
        for w in list(metas):
            if w.pid_ok():
                try:
                    w.settle()
                except Exception:
                    pass


atexit.register(_send_all_at_exit)


def _after_fork_in_child() -> None:  # the parent sends its own waiting starts
    global _sched_lock, _sched_wake, _sched_pid
    _sched_lock, _sched_wake, _sched_pid = threading.Lock(), _thread.allocate_lock(), 0
    _sched_wake.acquire()
    _sched_heap.clear()
    _deferred_by_run.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def settle(meta: Any) -> None:
    """Send every start still waiting and read every reply, on ``meta`` (before any other read
    or write: this process reads its own writes, in order). Raises StoreUnavailable if one could
    not be written even when sent again."""
    p = _pendings.get(meta)
    if p:
        _settle_all(p)


def _settle_all(p: set) -> None:
    for w in list(p):
        if w.pid_ok():
            w.settle()


def close(meta: Any) -> None:
    """Close the run-writing connections of ``meta`` (replies still to read are read first)."""
    try:
        settle(meta)
    finally:
        for w in list(_all.get(meta, ())):
            if w.pid_ok():  # never a parent's connection in a forked child (it is the parent's socket)
                with w.lock:
                    w._close()


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
