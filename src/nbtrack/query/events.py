"""Reading the audit log (written by :mod:`nbtrack.registry.events`)."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select

from ..errors import InvalidInput
from ..store.schema import events as events_t
from ..workspace import Workspace, get_workspace


def events(target: str | None = None, action: str | None = None, actor: str | None = None,
           since: float | str | None = None, limit: int | None = None, workspace: Workspace | None = None,
           hashes: bool = False):
    """The audit log as a DataFrame, oldest first.

    Parameters
    ----------
    target : str, optional
        ``"churn"`` (everything about model or pipeline ``churn``), ``"churn@production"``
        (one alias) or an exact target such as ``"model:churn@production"``.
    action : str, optional
        An action or a prefix ending in ``.`` (``"alias."``).
    actor : str, optional
        Only events by this user.
    since : float or str, optional
        A timestamp or an ISO date/time.
    limit : int, optional
        Only the newest ``limit`` events (still oldest first).

    hashes : bool
        Add the hash chain's ``prev_hash`` and ``hash`` columns (for a SIEM export).

    Returns
    -------
    pandas.DataFrame
        Columns ``id, time, actor, action, target, detail, reason`` (then ``prev_hash, hash``);
        ``detail`` holds dicts.
    """
    import pandas as pd

    ws = workspace or get_workspace()
    q = select(events_t)
    if target:
        q = q.where(_target_filter(target))
    if action:
        q = q.where(events_t.c.action.startswith(action) if action.endswith(".") else events_t.c.action == action)
    if actor:
        q = q.where(events_t.c.actor == actor)
    if since is not None:
        q = q.where(events_t.c.ts >= _timestamp(since))
    q = q.order_by(events_t.c.id.desc())
    if limit:
        q = q.limit(limit)
    with ws.meta.read() as conn:
        rows = list(conn.execute(q).mappings())[::-1]
    columns = ["id", "time", "actor", "action", "target", "detail", "reason"]
    columns += ["prev_hash", "hash"] if hashes else []
    df = pd.DataFrame([{
        "id": r["id"], "time": pd.Timestamp(r["ts"], unit="s", tz="UTC"), "actor": r["actor"],
        "action": r["action"], "target": r["target"], "detail": json.loads(r["detail"] or "{}"),
        "reason": r["reason"], "prev_hash": r["prev_hash"], "hash": r["hash"]} for r in rows], columns=columns)
    return df


def _target_filter(target: str):
    if ":" in target:
        return events_t.c.target == target
    if "@" in target:
        return events_t.c.target.in_([f"model:{target}", f"pipeline:{target}"])
    return (events_t.c.target.in_([f"model:{target}", f"pipeline:{target}"])
            | events_t.c.target.startswith(f"model:{target}@") | events_t.c.target.startswith(f"pipeline:{target}@"))


def _timestamp(value: float | str) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise InvalidInput(f"since={value!r} is not an ISO date/time such as '2026-11-23T10:00'") from None

