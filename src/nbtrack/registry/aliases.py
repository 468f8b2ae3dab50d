"""Aliases: movable names (``production``, ``staging``, anything) for model versions.

Every move is a compare-and-set inside one write transaction: the caller says
which version it expects the alias to hold (``expected``), the row is updated
only if it still holds it, and the audit event is written in the same
transaction. Two processes racing from the same state: one wins, the other
gets :class:`~nbtrack.errors.Conflict` and nothing changes for it. On SQLite the
transaction starts with ``BEGIN IMMEDIATE``; on PostgreSQL the alias row is read
``FOR UPDATE`` and the update is conditional on the expected version.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..context import user
from ..errors import Conflict, Forbidden, InvalidInput, NotFound
from ..snapshot.models import ModelVersion, check_name, model_id, resolve
from ..store.schema import aliases, model_versions
from ..workspace import Workspace, get_workspace
from . import events, governance

ANY: Any = object()  # expected=ANY: move whatever the alias holds now
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,254}$")


@dataclass
class AliasChange:
    """What a move did: ``name@alias`` went from version ``previous`` to ``version``."""

    name: str
    alias: str
    version: int | None
    previous: int | None
    event_id: int | None  # None: the alias already held that version


def check_alias(alias: str) -> str:
    if not isinstance(alias, str) or not _ALIAS.match(alias) or alias == "latest":
        raise InvalidInput(f"alias {alias!r} must start with a letter and not be 'latest' or a number "
                           "(those name versions), e.g. 'production' or 'staging'")
    return alias


def held(conn: Connection, name: str, alias: str, lock: bool = False) -> tuple[int | None, int | None]:
    """``(version_id, version)`` the alias holds now, or ``(None, None)``."""
    mid = model_id(conn, name)
    if mid is None:
        return None, None
    q = select(aliases.c.version_id).where(aliases.c.model_id == mid, aliases.c.alias == alias)
    if lock and conn.dialect.name == "postgresql":
        # Lock the alias row alone: with a join, PostgreSQL re-checks the join against the
        # old row after waiting for a concurrent update and would report the alias unset.
        q = q.with_for_update()
    vid = conn.execute(q).scalar()
    if vid is None:
        return None, None
    return vid, conn.execute(select(model_versions.c.version).where(model_versions.c.id == vid)).scalar()


def move(conn: Connection, target: ModelVersion | None, name: str, alias: str, expected: Any, action: str,
         reason: str | None, detail: dict | None = None, workspace: Workspace | None = None) -> AliasChange:
    """Compare-and-set ``name@alias`` to ``target`` (None deletes) and record the event.

    With ``workspace``, its governance rules are checked first (:func:`.governance.check_move`:
    a protected alias, the approver role, four eyes) and :class:`Forbidden` may be raised.
    """
    mid = model_id(conn, name)
    if mid is None:
        raise NotFound(f"no model named {name!r}")
    current_id, current = held(conn, name, alias, lock=True)
    if expected is not ANY and expected != current:
        raise Conflict(_conflict(name, alias, expected, current), expected=expected, current=current)
    new_id = target.id if target is not None else None
    if new_id is not None and new_id == current_id:  # already there: no change, no event
        return AliasChange(name, alias, current, current, None)
    if workspace is not None:
        governance.check_move(conn, workspace, name, alias, target)
    now, who = time.time(), user()
    try:
        if new_id is None:
            done = conn.execute(aliases.delete().where(aliases.c.model_id == mid, aliases.c.alias == alias,
                                                       aliases.c.version_id == current_id)).rowcount
        elif current_id is None:
            conn.execute(insert(aliases).values(model_id=mid, alias=alias, version_id=new_id, updated=now,
                                                updated_by=who))
            done = 1
        else:
            done = conn.execute(update(aliases).where(and_(
                aliases.c.model_id == mid, aliases.c.alias == alias, aliases.c.version_id == current_id))
                .values(version_id=new_id, updated=now, updated_by=who)).rowcount
    except IntegrityError:  # PostgreSQL: someone inserted the alias first
        done = 0
    if done != 1:
        raise Conflict(f"{name}@{alias} changed concurrently while it was being moved; nothing was changed. "
                       f"Check `nbtrack events --target {name}@{alias}` and retry if still wanted",
                       expected=current, current=None)
    to = target.version if target is not None else None
    info = {"from": current, "to": to, **(detail or {})}
    eid = events.record(conn, action, events.alias_target(name, alias), info, reason, who)
    return AliasChange(name, alias, to, current, eid)


def _conflict(name: str, alias: str, expected: Any, current: Any) -> str:
    def label(v: Any) -> str:
        return "unset" if v is None else f"version {v}"

    return (f"{name}@{alias} changed concurrently: expected {label(expected)}, it holds {label(current)}; "
            f"nothing was changed. Check `nbtrack events --target {name}@{alias}` and retry if still wanted")


def _expected(conn: Connection, name: str, expected: Any) -> Any:
    """``expected`` as a version number (``"clf@2"`` and ``2`` both mean 2)."""
    if expected is ANY or expected is None:
        return expected
    if isinstance(expected, str):
        return resolve(conn, expected if "@" in expected else f"{name}@{expected}").version
    return int(expected)


def set_alias(name: str, alias: str, version: int | str, *, expected: Any = ANY, reason: str | None = None,
              workspace: Workspace | None = None) -> AliasChange:
    """Point ``name@alias`` at ``version`` (a number, ``"name@N"`` or another alias).

    Parameters
    ----------
    expected : int or None, optional
        The version the alias must hold now (None: must be unset); otherwise
        :class:`~nbtrack.errors.Conflict` is raised and nothing changes.
        By default the alias is moved from whatever it holds.
    reason : str, optional
        Why; goes to the audit log.
    """
    check_name(name), check_alias(alias)
    ws = workspace or get_workspace()
    try:
        with ws.meta.write() as conn:
            target = resolve(conn, _ref(name, version), ws)
            return move(conn, target, name, alias, _expected(conn, name, expected), "alias.set", reason,
                        workspace=ws)
    except Conflict as e:
        audit_conflict(ws, name, alias, "alias.set", e, str(version), reason)
        raise
    except Forbidden as e:
        audit_refusal(ws, name, alias, "alias.set", e, str(version), reason)
        raise


def audit_conflict(ws: Workspace, name: str, alias: str, action: str, e: Conflict, wanted: str,
                   reason: str | None) -> None:
    """A lost race is part of what happened: record it (in its own transaction; nothing else changes)."""
    detail = {"attempted": action, "wanted": wanted, "expected": e.fields.get("expected"),
              "current": e.fields.get("current")}
    with ws.meta.write() as conn:
        events.record(conn, "alias.conflict", events.alias_target(name, alias), detail, reason)


def audit_refusal(ws: Workspace, name: str, alias: str, action: str, e: Forbidden, wanted: str | None,
                  reason: str | None) -> None:
    """A move the governance rules refused is recorded (``alias.refused``, with why) in its own transaction."""
    detail = {"attempted": action, "wanted": wanted, "rule": e.fields.get("rule"), "refused": str(e)}
    with ws.meta.write() as conn:
        events.record(conn, "alias.refused", events.alias_target(name, alias), detail, reason)


def delete_alias(name: str, alias: str, *, expected: Any = ANY, reason: str | None = None,
                 workspace: Workspace | None = None) -> AliasChange:
    """Remove ``name@alias`` (recorded as ``alias.delete``)."""
    check_name(name), check_alias(alias)
    ws = workspace or get_workspace()
    try:
        with ws.meta.write() as conn:
            if held(conn, name, alias)[0] is None:
                raise NotFound(f"{name}@{alias} is not set")
            return move(conn, None, name, alias, _expected(conn, name, expected), "alias.delete", reason,
                        workspace=ws)
    except Forbidden as e:
        audit_refusal(ws, name, alias, "alias.delete", e, None, reason)
        raise


def _ref(name: str, version: int | str) -> str:
    if isinstance(version, int):
        return f"{name}@{version}"
    version = str(version)
    if "@" in version:
        if version.partition("@")[0] != name:
            raise InvalidInput(f"version {version!r} belongs to another model than {name!r}")
        return version
    return f"{name}@{version}"


def previous_version(conn: Connection, name: str, alias: str) -> int | None:
    """The version ``name@alias`` held before its current one, replaying its events.

    Sets and promotions push a version, rollbacks pop one, deletions clear the
    history: rolling back twice goes two steps back, not back and forth.
    """
    stack: list[int] = []
    for ev in events.alias_history(conn, name, alias):
        to = ev["detail"].get("to")
        if ev["action"] == "alias.delete":
            stack.clear()
        elif ev["action"] == "alias.rollback":
            if stack:
                stack.pop()
            if not stack or stack[-1] != to:
                stack.append(to)
        else:
            stack.append(to)
    return stack[-2] if len(stack) >= 2 else None


def rollback(name: str, alias: str = "production", *, reason: str | None = None,
             workspace: Workspace | None = None) -> AliasChange:
    """Move ``name@alias`` back to the version it held before (see :func:`previous_version`)."""
    check_name(name), check_alias(alias)
    ws = workspace or get_workspace()
    before = None
    try:
        with ws.meta.write() as conn:
            _, current = held(conn, name, alias)
            if current is None:
                raise NotFound(f"{name}@{alias} is not set: nothing to roll back")
            before = previous_version(conn, name, alias)
            if before is None:
                raise InvalidInput(f"{name}@{alias} has no earlier version to roll back to (it holds version "
                                   f"{current}; see `nbtrack events --target {name}@{alias}`)")
            target = resolve(conn, f"{name}@{before}", ws)
            return move(conn, target, name, alias, current, "alias.rollback", reason, workspace=ws)
    except Forbidden as e:
        audit_refusal(ws, name, alias, "alias.rollback", e, None if before is None else f"{name}@{before}", reason)
        raise
