"""The audit log's hash chain: each event carries the hash of the one before it.

``hash = sha256(json([prev_hash, ts, actor, action, target, detail, reason]))``; the first
event's ``prev_hash`` is :data:`GENESIS`. Editing an event changes its hash; deleting one
breaks the link of the next. :func:`append` reads the newest hash and inserts in the
caller's transaction, so the chain cannot fork: SQLite write transactions are serialized
(``BEGIN IMMEDIATE``); on PostgreSQL, a transaction-scoped advisory lock serializes the
writers of events until they commit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.engine import Connection

from .keys import inserted_id
from .schema import events

GENESIS = "0" * 64
FIELDS = ("ts", "actor", "action", "target", "detail", "reason")
_PG_LOCK = 0x6E627472_61756474 & 0x7FFFFFFFFFFFFFFF  # "nbtraudt": one lock key for the audit chain


def event_hash(row: Mapping[str, Any], prev_hash: str) -> str:
    payload = json.dumps([prev_hash, *(row[f] for f in FIELDS)], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def append(conn: Connection, row: Mapping[str, Any]) -> int:
    """Insert event ``row`` (the :data:`FIELDS`) chained to the newest event; returns its id."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
    prev = conn.execute(select(events.c.hash).order_by(events.c.id.desc()).limit(1)).scalar() or GENESIS
    values = {f: row.get(f) for f in FIELDS}
    values.update(prev_hash=prev, hash=event_hash(values, prev))
    return inserted_id(conn.execute(insert(events).values(**values)))


def rechain(rows: Iterable[Mapping[Any, Any]]) -> Iterator[tuple[int, str, str]]:
    """``(id, prev_hash, hash)`` for rows given oldest first (what migration 0004 back-fills)."""
    prev = GENESIS
    for r in rows:
        h = event_hash(r, prev)
        yield r["id"], prev, h
        prev = h


def check(rows: Iterable[Mapping[Any, Any]]) -> tuple[int, str | None, int | None, str]:
    """Walk rows oldest first: ``(events checked, problem or None, id of the first bad event, head hash)``."""
    prev, prev_id, n = GENESIS, None, 0
    for r in rows:
        n += 1
        if r["hash"] is None or event_hash(r, r["prev_hash"] or "") != r["hash"]:
            return n, f"event {r['id']} was edited: its content does not match its hash", r["id"], prev
        if r["prev_hash"] != prev:
            where = f"after event {prev_id}" if prev_id is not None else "at the start of the log"
            return n, (f"event {r['id']}: its link to the event before it is broken: an event {where} was deleted, "
                       f"or event {prev_id} was rewritten" if prev_id is not None else
                       f"event {r['id']}: its link to the event before it is broken: an event {where} was "
                       "deleted"), r["id"], prev
        prev, prev_id = r["hash"], r["id"]
    return n, None, None, prev
