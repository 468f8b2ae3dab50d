"""Keeping a workspace healthy: ``fsck`` verifies (and repairs), ``gc`` removes what nothing uses."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select, text

from .errors import CorruptObject, InvalidInput, NbtrackError, StoreUnavailable
from .store import pg_summary, refs
from .store.durability import backup as backup_store
from .store.objects import REFRESH_S, ObjectStore, hash_bytes
from .store.runs import mark_interrupted
from .store.schema import artifacts, dataset_versions, latest_metrics, metrics, params, runs, tags
from .workspace import Workspace, get_workspace

SHOW = 10  # stray files and repairs listed one by one; the rest are counted


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
    stray: list[str] = field(default_factory=list)  # files under objects/ that are not objects
    set_aside: list[str] = field(default_factory=list)  # objects a stopped gc left renamed aside
    unreferenced: int = 0
    unreferenced_bytes: int = 0
    repaired: dict[str, str] = field(default_factory=dict)  # oid -> where the healthy copy came from
    removed: list[str] = field(default_factory=list)  # corrupt objects nothing used, deleted by --repair
    notes: list[str] = field(default_factory=list)
    versions_decoded: int | None = None  # with deep=True: dataset versions loaded back
    undecodable: dict[str, str] = field(default_factory=dict)  # "name@N" -> why it does not load
    stale_summaries: list[str] = field(default_factory=list)  # PostgreSQL: runs whose params/metrics JSON differ
    summaries_rebuilt: int = 0

    @property
    def ok(self) -> bool:
        return self.database_ok and not (self.corrupt or self.missing or self.orphan_rows or self.undecodable
                                         or self.stale_summaries)

    def lines(self) -> list[str]:
        out = [f"checked {self.objects_checked} objects; database integrity: {self.database_message}"]
        for oid, who in sorted(self.corrupt.items()):
            out.append(f"CORRUPT {oid} (hash mismatch), used by {', '.join(who) or 'nothing'}")
        for oid, who in sorted(self.missing.items()):
            out.append(f"MISSING {oid}, used by {', '.join(who)}")
        for table, n in sorted(self.orphan_rows.items()):
            out.append(f"ORPHAN {n} row(s) in {table} refer to runs that do not exist")
        if self.stale_summaries:
            out.append(f"STALE params/metrics summary of {len(self.stale_summaries)} run(s) "
                       f"({', '.join(self.stale_summaries[:SHOW])}): "
                       "`nbtrack fsck --repair` rebuilds it from their rows")
        if self.summaries_rebuilt:
            out.append(f"rebuilt the params/metrics summary of {self.summaries_rebuilt} run(s) from their rows")
        if self.versions_decoded is not None:
            out.append(f"decoded {self.versions_decoded} dataset version(s)")
        for ref, why in sorted(self.undecodable.items()):
            out.append(f"UNLOADABLE dataset {ref}: {why}")
        out += [f"REPAIRED {oid} from {where}" for oid, where in sorted(self.repaired.items())]
        if self.removed:
            out.append(f"removed {len(self.removed)} corrupt object(s) that nothing used")
        out += [f"STRAY {p} (not an nbtrack object; left alone)" for p in self.stray[:SHOW]]
        if len(self.stray) > SHOW:
            out.append(f"... and {len(self.stray) - SHOW} more stray file(s)")
        if self.set_aside:
            out.append(f"{len(self.set_aside)} object(s) set aside by a gc that stopped midway "
                       "(`nbtrack fsck --repair` puts back those still used)")
        if self.interrupted:
            out.append(f"marked {len(self.interrupted)} run(s) whose process died as interrupted")
        if self.unreferenced:
            out.append(f"{self.unreferenced} unreferenced object(s), {self.unreferenced_bytes:,} bytes "
                       "(`nbtrack gc` lists what it would delete)")
        if self.stale_temporaries:
            out.append(f"{len(self.stale_temporaries)} temporary file(s) from interrupted writes "
                       "(harmless; `nbtrack gc --force` removes them)")
        out += self.notes
        if self.corrupt or self.missing:
            out.append("to repair: `nbtrack fsck --repair --from BACKUP` copies healthy objects from a backup "
                       "(`nbtrack backup`) or another workspace; storing the same content again (re-running the "
                       "snapshot or run) also repairs a damaged object")
        out.append("workspace is clean" if self.ok else "workspace has problems")
        return out


def fsck(workspace: Workspace | None = None, progress=None, repair: bool = False,
         sources: Iterable[str] = (), deep: bool = False) -> FsckReport:
    """Verify every object's hash, every reference and the database itself.

    Parameters
    ----------
    repair : bool
        Restore damaged or missing objects from healthy copies (``sources``, objects
        a stopped gc left aside, temporary files holding the right bytes), mark the
        rest so that the next writer of the same content replaces them, and delete
        corrupt objects nothing refers to.
    sources : list of str
        Other object stores to copy healthy objects from: a folder (another
        workspace's ``.nbtrack/objects``, a backup) or an fsspec URL.
    deep : bool
        Also load every dataset version back (as ``nbtrack.load`` would) and report
        the ones that do not decode (``undecodable``).
    """
    ws = workspace or get_workspace(create=False)
    rep = FsckReport()
    referenced = _check_database(ws, rep, repair)
    present, leftovers = _check_objects(ws, rep, progress)
    if referenced is not None:
        for oid, who in referenced.items():
            if oid not in present:
                rep.missing[oid] = who
        unused = [oid for oid in present if oid not in referenced]
        rep.unreferenced = len(unused)
        rep.unreferenced_bytes = sum(ws.objects.size(o) for o in unused)
    for oid in rep.corrupt:
        ws.objects.mark_damaged(oid)
    if repair:
        _repair(ws, rep, referenced, leftovers, [_source(s, ws.objects.cipher) for s in sources])
    if deep and referenced is not None:
        _decode_datasets(ws, rep, progress)
    return rep


def _decode_datasets(ws: Workspace, rep: FsckReport, progress=None) -> None:
    """Load every dataset version back, as ``nbtrack.load`` would; record those that fail."""
    from .snapshot.datasets import version_by_id

    with ws.meta.read() as conn:
        ids = list(conn.execute(select(dataset_versions.c.id).order_by(dataset_versions.c.id)).scalars())
    rep.versions_decoded = 0
    for vid in (progress(ids) if progress else ids):
        ref = str(vid)
        try:
            version = version_by_id(vid, ws)
            ref = str(version)
            version.load()
            rep.versions_decoded += 1
        except Exception as e:  # whatever stops a load is what the user would hit
            rep.undecodable[ref] = f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:200]}"


def _check_database(ws: Workspace, rep: FsckReport, repair: bool = False) -> dict[str, list[str]] | None:
    """Integrity, orphan rows and the reference map (None when the database cannot be read)."""
    from .context import HOST, pid_alive

    try:
        if ws.meta.read_only:
            rep.notes.append(f"{'full disk' if ws.meta.read_only == 'full' else 'read-only workspace'}: "
                             "runs whose process died were not marked interrupted")
        else:
            from .capture import journal

            with ws.meta.write() as conn:  # writes a dead process left waiting first, then close its runs
                replayed = journal.replay(ws, conn)
                rep.interrupted = mark_interrupted(conn, HOST, pid_alive)
            for path in replayed:
                journal.discard(path)
        with ws.meta.read() as conn:
            if conn.dialect.name == "sqlite":
                msg = conn.execute(text("PRAGMA integrity_check")).scalar()
                rep.database_ok, rep.database_message = msg == "ok", str(msg)
            referenced = refs.all_references(conn)
            for table in (params, metrics, latest_metrics, tags, artifacts):
                n = conn.execute(
                    select(text("count(*)")).select_from(table).where(table.c.run_id.not_in(select(runs.c.id)))
                ).scalar()
                if n:
                    rep.orphan_rows[table.name] = n
            rep.stale_summaries = pg_summary.stale(conn, limit=None)  # PostgreSQL: each run's JSON = its rows
        if rep.stale_summaries and repair and not ws.meta.read_only:
            with ws.meta.write() as conn:
                pg_summary.refresh(conn, rep.stale_summaries)
            rep.summaries_rebuilt, rep.stale_summaries = len(rep.stale_summaries), []
        return referenced
    except NbtrackError as e:
        rep.database_ok, rep.database_message = False, str(e)
        rep.notes.append("objects were verified, but which of them are used is unknown until the database is fixed")
        return None


def _check_objects(ws: Workspace, rep: FsckReport, progress) -> tuple[set[str], dict[str, list[str]]]:
    present = list(ws.objects)
    leftovers: dict[str, list[str]] = {}  # oid -> files that may hold its bytes
    for kind, oid, path in ws.objects.leftovers():
        if kind == "temporary":
            rep.stale_temporaries.append(path)
        elif kind == "tomb":
            rep.set_aside.append(path)
            leftovers.setdefault(oid, []).append(path)
        else:
            rep.stray.append(path)
    for oid in (progress(present) if progress else present):
        rep.objects_checked += 1
        if ws.objects.verify(oid) is not None:
            rep.corrupt[oid] = []
    if rep.corrupt:
        try:
            with ws.meta.read() as conn:
                for oid in rep.corrupt:
                    rep.corrupt[oid] = refs.referrers(conn, oid)
        except NbtrackError:
            pass
    return set(present), leftovers


def _repair(ws: Workspace, rep: FsckReport, referenced, leftovers: dict[str, list[str]],
            sources: list[ObjectStore]) -> None:
    if ws.meta.read_only:
        rep.notes.append("read-only workspace: nothing was repaired")
        return
    temps = None
    for damaged in (rep.corrupt, rep.missing):
        for oid in list(damaged):
            if referenced is not None and oid in rep.corrupt and oid not in referenced:
                ws.objects.delete(oid)  # nothing needs it; a future writer stores it anew
                ws.objects.unmark_damaged(oid)
                rep.removed.append(oid)
                del damaged[oid]
                continue
            if any(ws.objects.restore_tomb(oid, t) for t in leftovers.get(oid, [])):
                rep.repaired[oid] = "a copy a stopped gc had set aside"
                del damaged[oid]
                continue
            data, where = _healthy_copy(oid, sources)
            if data is None:
                temps = temps if temps is not None else _hashed(ws, rep.stale_temporaries, {*rep.corrupt, *rep.missing})
                data, where = temps.get(oid), "a temporary file of an interrupted write"
            if data is not None:
                ws.objects.mark_damaged(oid)  # so put() replaces a same-size damaged file
                ws.objects.put_with_oid(oid, data)
                rep.repaired[oid] = where
                del damaged[oid]
    if rep.corrupt or rep.missing:
        rep.notes.append(f"{len(rep.corrupt) + len(rep.missing)} object(s) have no healthy copy here: pass "
                         "--from with a backup, or store the same content again")


def _source(where: str, cipher=None) -> ObjectStore:
    """An objects folder, a workspace folder (``nbtrack backup DEST``, ``.nbtrack``) or an fsspec URL
    (read with the workspace's key when it is encrypted)."""
    import os

    store = ObjectStore(where)
    if "://" not in where:
        for sub in ("objects", os.path.join(".nbtrack", "objects")):
            if os.path.isdir(os.path.join(where, sub)):
                store = ObjectStore(os.path.join(where, sub))
                break
    store.cipher = cipher
    return store


def _healthy_copy(oid: str, sources: list[ObjectStore]) -> tuple[bytes | None, str]:
    for src in sources:
        try:
            return src.get(oid), src.url
        except (CorruptObject, OSError, NbtrackError):
            continue
    return None, ""


def _hashed(ws: Workspace, paths: list[str], wanted: set[str]) -> dict[str, bytes]:
    """The plaintext of the temporary files, by object id (an encrypted store: of the ``wanted``
    objects a temporary file authenticates as)."""
    out = {}
    for p in paths:
        try:
            data = ws.objects._read(p)
        except OSError:
            continue
        if ws.objects.cipher is None:
            out[hash_bytes(data)] = data
            continue
        for oid in wanted:
            plain = ws.objects.cipher.decrypt(oid, data)
            if plain is not None:
                out[oid] = plain
                break
    return out


@dataclass
class GcReport:
    unreferenced: list[str]
    bytes: int
    deleted: bool
    temporaries: list[str]
    young: int = 0  # unreferenced objects kept because they are younger than min_age
    young_bytes: int = 0
    adopted: list[str] = field(default_factory=list)  # re-checked right before deletion: in use again
    stray: list[str] = field(default_factory=list)
    set_aside: int = 0  # objects a stopped gc left aside: restored or removed
    min_age_s: float = 3600.0

    def lines(self) -> list[str]:
        verb = "deleted" if self.deleted else "would delete"
        out = [f"{verb} {len(self.unreferenced)} unreferenced object(s), {self.bytes:,} bytes"]
        if self.young:
            out.append(f"kept {self.young} unreferenced object(s), {self.young_bytes:,} bytes, younger than "
                       f"--min-age {self.min_age_s:g} s (a run may still be writing them)")
        if self.adopted:
            out.append(f"kept {len(self.adopted)} object(s) that a run stored again while gc ran")
        if self.temporaries:
            out.append(f"{verb} {len(self.temporaries)} temporary file(s) from interrupted writes")
        if self.set_aside:
            out.append(f"{'settled' if self.deleted else 'would settle'} {self.set_aside} object(s) left aside "
                       "by a gc that stopped midway")
        if self.stray:
            out.append(f"skipped {len(self.stray)} stray file(s) that are not objects, e.g. {self.stray[0]}")
        if not self.deleted and (self.unreferenced or self.temporaries):
            out.append("dry run: pass --force to delete")
        return out


def gc(force: bool = False, workspace: Workspace | None = None, min_age_s: float = 3600.0) -> GcReport:
    """Remove objects no metadata refers to (dry run unless ``force``).

    Objects younger than ``min_age_s`` are kept: a run being recorded writes its
    objects before the rows that refer to them, and storing existing content again
    makes it young. Each deletion re-checks age and references first (see
    :meth:`nbtrack.store.objects.ObjectStore.collect`), so a version committed while
    gc runs never loses an object.
    """
    if not min_age_s >= 0:
        raise InvalidInput(f"min_age_s must be 0 or more seconds, got {min_age_s!r}")
    ws = workspace or get_workspace(create=False)
    if force and ws.meta.read_only in ("ro", "immutable"):  # a full disk is what gc is for
        raise StoreUnavailable("the workspace is read-only: gc cannot delete anything (a dry run works)")
    started = time.time()
    if not ws.objects.local:  # writers there refresh only objects older than REFRESH_S
        min_age_s = max(min_age_s, 2 * REFRESH_S)
    cutoff = started - min_age_s
    with ws.meta.read() as conn:
        referenced = set(refs.all_references(conn))
    rep = GcReport([], 0, force, [], min_age_s=min_age_s)
    for oid in ws.objects:
        if oid in referenced:
            continue
        mtime, size = ws.objects.mtime(oid), ws.objects.file_size(ws.objects.path(oid))
        if mtime is not None and mtime <= cutoff:
            rep.unreferenced.append(oid)
            rep.bytes += size
        else:
            rep.young += 1
            rep.young_bytes += size
    tombs: list[tuple[str, str]] = []
    for kind, oid, path in ws.objects.leftovers():
        mtime = ws.objects.file_mtime(path)
        if kind == "temporary" and mtime is not None and mtime <= cutoff:
            rep.temporaries.append(path)
        elif kind == "tomb":
            tombs.append((oid, path))
        elif kind == "stray":
            rep.stray.append(path)
    rep.set_aside = len(tombs)
    if force:
        _collect(ws, rep, cutoff, tombs)
    return rep


def _collect(ws: Workspace, rep: GcReport, cutoff: float, tombs: list[tuple[str, str]]) -> None:
    def in_use(oid: str) -> bool:
        with ws.meta.read() as conn:  # a fresh transaction: sees what committed since gc started
            return bool(refs.referrers(conn, oid))

    candidates, rep.unreferenced = rep.unreferenced, []
    for oid in candidates:
        (rep.unreferenced if ws.objects.collect(oid, cutoff, in_use) else rep.adopted).append(oid)
    if rep.adopted:
        rep.bytes -= sum(ws.objects.size(o) for o in rep.adopted if ws.objects.exists(o))
    for path in rep.temporaries:
        ws.objects.remove_file(path)
    for oid, path in tombs:
        if ws.objects.exists(oid) or not (in_use(oid) and ws.objects.restore_tomb(oid, path)):
            ws.objects.remove_file(path)
    ws.objects.prune_adoptions(cutoff)  # remote stores: adoption marks gc no longer needs


def backup(dest: str, workspace: Workspace | None = None) -> dict:
    """Copy the workspace to the folder ``dest`` safely, even while it is in use.

    ``meta.db`` is copied with SQLite's online backup API (a consistent snapshot that
    includes what is still in the write-ahead log), then the objects it refers to
    (content-addressed, never modified) and ``config.toml``. The copy is a workspace:
    ``NBTRACK_URI=DEST nbtrack runs``. Returns what was copied.
    """
    import os


    ws = workspace or get_workspace(create=False)
    if not ws.objects._local:
        raise InvalidInput(f"objects live in {ws.objects.url}: back them up with that storage's own tools")
    objects_dir = ws.objects.url.removeprefix("file://")
    extra = [os.path.join(ws.root, "config.toml")] if ws.root else []
    return backup_store(ws.meta, objects_dir, dest, extra)
