"""Verifying the audit log's hash chain (:mod:`nbtrack.store.audit_chain`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from ..store import audit_chain
from ..store.schema import events as events_t
from ..workspace import Workspace, get_workspace


@dataclass
class AuditCheck:
    """The outcome of :func:`verify_audit`; truthy when the chain is intact."""

    events: int  # events checked (up to and including the first bad one)
    problem: str | None
    first_bad: int | None  # id of the first event that fails
    head: str  # hash of the newest good event: keep it elsewhere to detect a truncated log later

    def __bool__(self) -> bool:
        return self.problem is None

    def summary(self) -> str:
        if self.problem:
            return f"audit log damaged: {self.problem}"
        return f"audit log intact: {self.events} events, head {self.head}"


def verify_audit(expect_head: str | None = None, workspace: Workspace | None = None) -> AuditCheck:
    """Recompute the audit log's hash chain: edited and deleted events are found.

    Parameters
    ----------
    expect_head : str, optional
        A head hash saved earlier (``AuditCheck.head``): it must still be in the chain, which
        also catches events deleted from the end of the log.
    """
    ws = workspace or get_workspace()
    q = select(events_t).order_by(events_t.c.id)
    with ws.meta.read() as conn:
        rows = list(conn.execute(q).mappings())
    n, problem, bad, head = audit_chain.check(rows)
    if problem is None and expect_head and expect_head != head and all(r["hash"] != expect_head for r in rows):
        problem = (f"the saved head {expect_head} is no longer in the log: events were deleted from its end "
                   f"(the log now ends at event {rows[-1]['id'] if rows else 'none'})")
    return AuditCheck(n, problem, bad, head)
