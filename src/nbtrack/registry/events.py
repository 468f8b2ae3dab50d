"""The append-only audit log: every registry change is one event.

An event is ``(ts, actor, action, target, detail, reason)``; ``detail`` is JSON
(versions before and after, gate numbers...). Events are written in the same
transaction as the change they describe, so the log never disagrees with the
registry, and chained by hash (:mod:`nbtrack.store.audit_chain`). Actions:
``model.register``, ``alias.set``, ``alias.delete``,
``alias.promote``, ``alias.promote_refused``, ``alias.rollback``, ``alias.refused`` (a
governance rule said no: :mod:`nbtrack.registry.governance`), ``alias.conflict`` (a lost race),
``pipeline.approve``, ``pipeline.revoke``. Reading the log: :func:`nbtrack.query.events.events`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ..context import user
from ..store import audit_chain
from ..store.schema import events as events_t

ALIAS_ACTIONS = ("alias.set", "alias.delete", "alias.promote", "alias.rollback")


def record(conn: Connection, action: str, target: str, detail: dict[str, Any] | None = None,
           reason: str | None = None, actor: str | None = None) -> int:
    """Append one event inside the caller's transaction; returns its id."""
    row = {"ts": time.time(), "actor": actor or user(), "action": action, "target": target,
           "detail": json.dumps(detail or {}, sort_keys=True, default=str), "reason": reason}
    return audit_chain.append(conn, row)


def alias_target(name: str, alias: str) -> str:
    return f"model:{name}@{alias}"


def alias_history(conn: Connection, name: str, alias: str) -> list[dict[str, Any]]:
    """Alias events of ``name@alias``, oldest first, with decoded detail."""
    q = (select(events_t).where(events_t.c.target == alias_target(name, alias),
                                events_t.c.action.in_(ALIAS_ACTIONS)).order_by(events_t.c.id))
    return [{**row, "detail": json.loads(row["detail"] or "{}")} for row in conn.execute(q).mappings()]
