"""Keeping a workspace healthy: ``fsck`` verifies, ``gc`` removes what nothing uses."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from sqlalchemy import select, text

from .store import refs
from .store.runs import mark_interrupted
from .store.schema import artifacts, latest_metrics, metrics, params, runs, tags
from .workspace import Workspace, get_workspace


@dataclass
class FsckReport:
    objects_checked: int = 0
    corrupt: dict[str, list[str]] = field(default_factory=dict)  # oid -> referrers
    missing: dict[str, list[str]] = field(default_factory=dict)
    orphan_rows: dict[str, int] = field(default_factory=dict)  # table -> rows without a run
    interrupted: list[str] = field(default_factory=list)
    stale_temporaries: list[str] = field(default_factory=list)
    database_ok: bool = True
    database_message: str = "ok"

    @property
    def ok(self) -> bool:
        return self.database_ok and not (self.corrupt or self.missing or self.orphan_rows)

    def lines(self) -> list[str]:
        out = [f"checked {self.objects_checked} objects; database integrity: {self.database_message}"]
        for oid, who in sorted(self.corrupt.items()):
            out.append(f"CORRUPT {oid} (hash mismatch), used by {', '.join(who) or 'nothing'}")
        for oid, who in sorted(self.missing.items()):
            out.append(f"MISSING {oid}, used by {', '.join(who)}")
        for table, n in sorted(self.orphan_rows.items()):
            out.append(f"ORPHAN {n} row(s) in {table} refer to runs that do not exist")
        if self.interrupted:
            out.append(f"marked {len(self.interrupted)} run(s) whose process died as interrupted")
        if self.stale_temporaries:
            out.append(f"{len(self.stale_temporaries)} temporary file(s) from interrupted writes "
                       "(harmless; `nbtrack gc --force` removes them)")
        out.append("workspace is clean" if self.ok else "workspace has problems")
        return out


def fsck(workspace: Workspace | None = None, progress=None) -> FsckReport:
    """Verify every object's hash, every reference and the database itself."""
    from .context import HOST, pid_alive

    ws = workspace or get_workspace(create=False)
    rep = FsckReport()
    with ws.meta.write() as conn:
        rep.interrupted = mark_interrupted(conn, HOST, pid_alive)
    with ws.meta.read() as conn:
        if conn.dialect.name == "sqlite":
            msg = conn.execute(text("PRAGMA integrity_check")).scalar()
            rep.database_ok, rep.database_message = msg == "ok", msg
        referenced = refs.all_references(conn)
        for table in (params, metrics, latest_metrics, tags, artifacts):
            n = conn.execute(
                select(text("count(*)")).select_from(table).where(table.c.run_id.not_in(select(runs.c.id)))
            ).scalar()
            if n:
                rep.orphan_rows[table.name] = n
    present = set(ws.objects)
    todo = sorted(present)
    for oid in (progress(todo) if progress else todo):
        rep.objects_checked += 1
        if ws.objects.verify(oid) is not None:
            rep.corrupt[oid] = referenced.get(oid, [])
    for oid, who in referenced.items():
        if oid not in present:
            rep.missing[oid] = who
    rep.stale_temporaries = ws.objects.stale_temporaries()
    return rep


@dataclass
class GcReport:
    unreferenced: list[str]
    bytes: int
    deleted: bool
    temporaries: list[str]

    def lines(self) -> list[str]:
        verb = "deleted" if self.deleted else "would delete"
        out = [f"{verb} {len(self.unreferenced)} unreferenced object(s), {self.bytes:,} bytes"]
        if self.temporaries:
            out.append(f"{verb} {len(self.temporaries)} temporary file(s) from interrupted writes")
        if not self.deleted and (self.unreferenced or self.temporaries):
            out.append("dry run: pass --force to delete")
        return out


def gc(force: bool = False, workspace: Workspace | None = None, min_age_s: float = 3600.0) -> GcReport:
    """Remove objects no metadata refers to (dry run unless ``force``).

    Objects younger than ``min_age_s`` are kept: a run being recorded writes its
    objects before the rows that refer to them.
    """
    ws = workspace or get_workspace(create=False)
    with ws.meta.read() as conn:
        referenced = set(refs.all_references(conn))
    now = time.time()
    candidates = [oid for oid in ws.objects if oid not in referenced]
    old = []
    for oid in candidates:
        try:
            age = now - os.path.getmtime(ws.objects.path(oid)) if ws.objects._local else min_age_s
        except OSError:
            continue
        if age >= min_age_s:
            old.append(oid)
    size = sum(ws.objects.size(o) for o in old)
    temps = [t for t in ws.objects.stale_temporaries() if now - os.path.getmtime(t) >= min_age_s]
    if force:
        for oid in old:
            ws.objects.delete(oid)
        for t in temps:
            os.unlink(t)
    return GcReport(old, size, force, temps)
