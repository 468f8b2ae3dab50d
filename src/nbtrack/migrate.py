"""Copy a workspace (metadata and objects) to another backend: ``nbtrack migrate-store``.

SQLite -> PostgreSQL, a local objects folder -> S3, and back. Everything is copied as it is:
run ids, numeric ids, timestamps, the audit log with its hash chain, and objects byte for byte
in meaning (an encrypted store stays encrypted under the same key; object ids do not change).

* **Objects first**, then metadata, so the new metadata never refers to an object the new
  store lacks. An object already in the target is not copied again; each write is atomic
  (see :mod:`nbtrack.store.objects`), so a kill leaves no partial object. Objects are streamed
  (``ObjectStore.copy_to``), never held whole in memory.
* **Metadata** table by table (parents first), in primary-key order, in batches. Each batch
  commits together with its progress row in ``nbtrack_migration`` (a bookkeeping table in the
  target, dropped when the copy is verified), so a migration killed at any point continues
  where it stopped when run again, without duplicating a row.
* **Verified at the end**: every table's row count and an order-independent digest of its rows
  (SHA-256 per row) equal the source's; every object in the target reads back and matches its
  id (a plain store: the BLAKE3 of its bytes; an encrypted store: AES-GCM authentication);
  the audit chain verifies.

Stop writers (kernels, pipelines, servers) on the source while it is copied: rows written
meanwhile make the verification fail, and a re-run then says what differs.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .errors import CorruptObject, InvalidInput, NbtrackError, StoreUnavailable
from .store import audit_chain, pg_summary
from .store.meta import MetaStore, _safe_url
from .store.objects import ObjectStore
from .store.schema import events, metadata
from .workspace import Workspace, get_workspace

BATCH = 5000
# Bookkeeping in the target while a migration is under way (not part of nbtrack's schema).
_progress_md = sa.MetaData()
PROGRESS = sa.Table(
    "nbtrack_migration", _progress_md,
    sa.Column("tbl", sa.String(64), primary_key=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("last_key", sa.Text),  # JSON: the primary key of the last row copied
    sa.Column("copied", sa.Integer, nullable=False),
    sa.Column("done", sa.Boolean, nullable=False),
)

# progress(phase, done, total): phase is "objects", a table name, or "verify"
Progress = Callable[[str, int, int], None]


@dataclass
class MigrationReport:
    """What :func:`migrate_store` did."""

    meta_url: str
    objects_url: str
    objects_copied: int = 0
    objects_present: int = 0  # already in the target (a resumed or shared store)
    bytes_copied: int = 0
    rows_copied: dict[str, int] = field(default_factory=dict)
    resumed: bool = False
    encrypted: bool = False
    objects_verified: int = 0
    missing_in_source: list[str] = field(default_factory=list)  # referenced, absent from the source
    audit_events: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        out = [f"{'resumed and ' if self.resumed else ''}copied {sum(self.rows_copied.values()):,} row(s) "
               f"into {_safe_url(self.meta_url)}",
               f"objects: {self.objects_copied:,} copied ({self.bytes_copied:,} bytes), "
               f"{self.objects_present:,} already there, into {self.objects_url}"
               + (" (encrypted with the same key)" if self.encrypted else "")]
        out.append(f"verified: every table's rows and digest, {self.objects_verified:,} object(s) by hash, "
                   f"the audit chain ({self.audit_events} events)")
        if self.missing_in_source:
            out.append(f"WARNING {len(self.missing_in_source)} object(s) the metadata refers to were missing in the "
                       "source already (`nbtrack fsck` there says which)")
        out.append("to use it: " + use_hint(self.meta_url, self.objects_url))
        return out


def use_hint(meta_url: str, objects_url: str) -> str:
    if meta_url.startswith("sqlite:///"):
        folder = Path(meta_url.removeprefix("sqlite:///")).parent
        return f"NBTRACK_URI={folder}"
    return (f"[store] meta = \"{_safe_url(meta_url)}\" and objects = \"{objects_url}\" in .nbtrack/config.toml "
            f"(or NBTRACK_URI and NBTRACK_OBJECTS)")


def migrate_store(to: str, objects: str | None = None, *, workspace: Workspace | None = None,
                  progress: Progress | None = None, batch: int = BATCH) -> MigrationReport:
    """Copy the current workspace to the metadata database ``to`` and the object store ``objects``.

    Parameters
    ----------
    to : str
        A database URL (``postgresql+psycopg://user@host/db``, ``sqlite:///path/meta.db``) or a
        folder, which becomes a workspace folder (``meta.db`` and ``objects/`` inside).
    objects : str, optional
        Where the objects go: a folder or an fsspec URL (``s3://bucket/prefix``). Default: the
        folder's ``objects/`` when ``to`` is a folder, else the workspace's own object store
        (only the metadata moves).
    progress : callable, optional
        Called as ``progress(phase, done, total)``.

    Raises
    ------
    InvalidInput
        The target is the source, or already holds another workspace's data.
    StoreUnavailable
        The target cannot be reached or written.
    """
    t0 = time.perf_counter()
    ws = workspace or get_workspace(create=False)
    meta_url, objects_url, folder = _target(to, objects, ws)
    if _same_db(meta_url, ws.meta_url):
        raise InvalidInput(f"{_safe_url(meta_url)} is this workspace's own database: migrate to another one")
    src_objects = ws.objects
    same_objects = _same_objects(objects_url, ws.objects_url)
    dst = _open_target_objects(objects_url, src_objects, same_objects)
    target = _open_target_meta(meta_url)
    try:
        ws.meta.migrate()
        source_id = f"{_safe_url(ws.meta_url)} {ws.objects_url}"
        resumed = _check_target(target, ws, source_id)
        rep = MigrationReport(meta_url, objects_url, resumed=resumed, encrypted=src_objects.cipher is not None)
        if same_objects:
            rep.objects_present = sum(1 for _ in src_objects)
        else:
            _copy_objects(src_objects, dst, rep, progress)
        _copy_tables(ws.meta, target, source_id, rep, progress, batch)
        _verify(ws, target, dst, rep, progress)
        with target.write() as conn:
            pg_summary.refresh(conn, None)  # PostgreSQL: each run's params/metrics JSON from the copied rows
            PROGRESS.drop(conn, checkfirst=True)
        if folder is not None and not _same_objects(objects_url, str(folder / "objects")):
            (folder / "config.toml").write_text(f'[store]\nobjects = "{objects_url}"\n')
    finally:
        target.dispose()
    rep.seconds = time.perf_counter() - t0
    return rep


# -- targets ------------------------------------------------------------------------
def _target(to: str, objects: str | None, ws: Workspace) -> tuple[str, str, Path | None]:
    if not isinstance(to, str) or not to.strip():
        raise InvalidInput("--to must be a database URL (postgresql+psycopg://..., sqlite:///...) or a folder")
    if "://" in to and not to.startswith("file://"):
        return to, objects or ws.objects_url, None
    folder = Path(to.removeprefix("file://")).expanduser().resolve()
    if folder.name != ".nbtrack" and (folder / ".nbtrack").is_dir():
        folder = folder / ".nbtrack"
    try:
        (folder / "objects").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreUnavailable(f"cannot create the target folder {folder}: {e.strerror or e}") from e
    return f"sqlite:///{folder / 'meta.db'}", objects or str(folder / "objects"), folder


def _same_db(a: str, b: str) -> bool:
    def norm(u: str) -> str:
        if u.startswith("sqlite:///"):
            return "sqlite:" + os.path.realpath(u.removeprefix("sqlite:///").split("?", 1)[0])
        return u.replace("postgresql+psycopg://", "postgresql://").rstrip("/")

    return norm(a) == norm(b)


def _same_objects(a: str, b: str) -> bool:
    def norm(u: str) -> str:
        u = u.removeprefix("file://")
        return u.rstrip("/") if "://" in u else os.path.realpath(u)

    return norm(a) == norm(b)


def _open_target_meta(url: str) -> MetaStore:
    try:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///").split("?", 1)[0]).parent.mkdir(parents=True, exist_ok=True)
        meta = MetaStore(url)
        meta.migrate()  # creates nbtrack's schema (or checks it): also proves the server is reachable
    except NbtrackError as e:
        raise StoreUnavailable(f"cannot use the target database: {e}") from e
    except OSError as e:
        raise StoreUnavailable(f"cannot create the target database {_safe_url(url)}: {e.strerror or e}") from e
    return meta


def _open_target_objects(url: str, src: ObjectStore, same: bool) -> ObjectStore:
    if same:
        return src
    try:
        dst = ObjectStore(url)
        marker = dst.read_marker()
    except NbtrackError:
        raise
    except Exception as e:  # unreachable endpoint, missing bucket, no credentials
        raise StoreUnavailable(f"cannot reach the target object store {url}: {type(e).__name__}: {e}") from e
    src_marker = src.read_marker()
    if src.cipher is not None:
        if marker is None:
            _require_empty(dst, src)
            dst.write_marker(src_marker or b"")  # same key check, same naming key: object ids do not change
        elif marker != src_marker:
            raise InvalidInput(f"{url} is encrypted under another key than this workspace: migrate into an "
                               "empty object store")
        dst.cipher = src.cipher
    elif marker is not None:
        raise InvalidInput(f"{url} holds an encrypted store and this workspace is not encrypted: migrate into an "
                           "empty object store")
    return dst


def _require_empty(dst: ObjectStore, src: ObjectStore) -> None:
    for oid in dst:
        if not src.exists(oid):
            raise InvalidInput(f"the target object store {dst.url} holds objects of another workspace "
                               f"(e.g. {oid[:12]}): migrate into an empty store")
        break


def _check_target(target: MetaStore, ws: Workspace, source_id: str) -> bool:
    """True if a migration from this source is under way there (resume); raise if the
    target holds anything else."""
    with target.read() as conn:
        if sa.inspect(conn).has_table(PROGRESS.name):
            sources = set(conn.execute(sa.select(PROGRESS.c.source)).scalars())
            if sources and sources != {source_id}:
                raise InvalidInput(f"{_safe_url(target.url)} is being filled from another workspace "
                                   f"({', '.join(sorted(sources))}); finish that migration or use an empty database")
            return True  # a migration from here started and stopped: continue it
        counts = {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                  for t in metadata.sorted_tables}
    if any(counts.values()):
        what = ", ".join(f"{n:,} {t}" for t, n in counts.items() if n)
        raise InvalidInput(f"{_safe_url(target.url)} is not empty ({what}): migrate into an empty database "
                           "(a new PostgreSQL database, a new folder)")
    with target.write() as conn:
        PROGRESS.create(conn, checkfirst=True)
        conn.execute(sa.insert(PROGRESS).values(tbl="*", source=source_id, copied=0, done=False))  # whose copy
    return False


# -- objects --------------------------------------------------------------------------
def _copy_objects(src: ObjectStore, dst: ObjectStore, rep: MigrationReport, progress: Progress | None) -> None:
    try:
        there = set(dst)
    except Exception as e:
        raise StoreUnavailable(f"cannot list the target object store {dst.url}: {type(e).__name__}: {e}") from e
    extra = next((o for o in there if not src.exists(o)), None)
    if extra is not None:
        raise InvalidInput(f"the target object store {dst.url} holds objects of another workspace "
                           f"(e.g. {extra[:12]}): migrate into an empty store")
    todo = [oid for oid in src if oid not in there]
    rep.objects_present = len(there)
    for i, oid in enumerate(todo, 1):
        try:
            rep.bytes_copied += _copy_object(src, dst, oid)
        except CorruptObject as e:
            raise StoreUnavailable(f"object {oid[:12]} of this workspace is damaged ({e}): run `nbtrack fsck "
                                   "--repair --from BACKUP` first, then migrate again (it resumes)") from e
        except OSError as e:
            raise StoreUnavailable(f"cannot write object {oid[:12]} to {dst.url}: {e}") from e
        rep.objects_copied += 1
        if progress:
            progress("objects", i, len(todo))


def _copy_object(src: ObjectStore, dst: ObjectStore, oid: str) -> int:
    """Stream one object across (never whole in memory); both sides check it against its id."""
    src.copy_to(oid, dst)
    return src.size(oid)


# -- metadata ---------------------------------------------------------------------------
def _pk(table: sa.Table) -> list[sa.Column]:
    return list(table.primary_key.columns)


def _copy_tables(src: MetaStore, dst: MetaStore, source_id: str, rep: MigrationReport,
                 progress: Progress | None, batch: int) -> None:
    for table in metadata.sorted_tables:
        with dst.read() as conn:
            state = conn.execute(sa.select(PROGRESS).where(PROGRESS.c.tbl == table.name)).mappings().first()
        if state is not None and state["done"]:
            rep.rows_copied[table.name] = state["copied"]
            continue
        started = state is not None
        last_key: str | None = state["last_key"] if state is not None else None
        copied: int = state["copied"] if state is not None else 0
        with src.read() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0
        pk = _pk(table)
        while True:
            q = sa.select(table).order_by(*pk).limit(batch)
            if last_key is not None:
                q = q.where(sa.tuple_(*pk) > sa.tuple_(*(sa.literal(v) for v in json.loads(last_key))))
            with src.read() as conn:
                rows = [dict(r) for r in conn.execute(q).mappings()]
            if rows:
                last_key = json.dumps([rows[-1][c.name] for c in pk])
            try:
                with dst.write() as conn:  # the rows and the progress that says so commit together
                    if rows:
                        conn.execute(sa.insert(table), rows)
                    copied += len(rows)
                    values = {"source": source_id, "last_key": last_key, "copied": copied, "done": not rows}
                    if started:
                        conn.execute(sa.update(PROGRESS).where(PROGRESS.c.tbl == table.name).values(**values))
                    else:
                        conn.execute(sa.insert(PROGRESS).values(tbl=table.name, **values))
                    if not rows:
                        _continue_sequence(conn, table)
            except NbtrackError as e:
                raise StoreUnavailable(f"copying {table.name} into {_safe_url(dst.url)} failed: {e}") from e
            started = True
            if progress:
                progress(table.name, copied, total)
            if not rows:
                break
        rep.rows_copied[table.name] = copied


def _continue_sequence(conn: Connection, table: sa.Table) -> None:
    """PostgreSQL: the id sequence continues after the copied ids (new rows must not collide)."""
    if conn.dialect.name != "postgresql" or "id" not in table.c or not isinstance(table.c.id.type, sa.Integer):
        return
    if table.c.id.autoincrement is False:
        return
    conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                         f"COALESCE((SELECT max(id) FROM {table.name}), 0) + 1, false)"))


# -- verification -----------------------------------------------------------------------
def table_digest(conn: Connection, table: sa.Table, batch: int = BATCH) -> tuple[int, str]:
    """(rows, digest): the digest does not depend on row order nor on the database."""
    n, acc = 0, 0
    for part in conn.execute(sa.select(table)).mappings().partitions(batch):
        for r in part:
            h = hashlib.sha256(json.dumps([r[c.name] for c in table.columns], default=str).encode()).digest()
            acc = (acc + int.from_bytes(h[:16], "big")) % (1 << 128)
            n += 1
    return n, f"{acc:032x}"


def _verify(ws: Workspace, target: MetaStore, dst: ObjectStore, rep: MigrationReport,
            progress: Progress | None) -> None:
    from .store import refs

    tables = metadata.sorted_tables
    for i, table in enumerate(tables, 1):
        with ws.meta.read() as a, target.read() as b:
            want, got = table_digest(a, table), table_digest(b, table)
        if want != got:
            raise StoreUnavailable(
                f"verification failed: {table.name} has {want[0]:,} row(s) here and {got[0]:,} in "
                f"{_safe_url(target.url)}{' with other content' if want[0] == got[0] else ''}. Was the workspace "
                "written to during the migration? Stop every writer and migrate into a new, empty target")
        if progress:
            progress("verify", i, len(tables))
    with target.read() as conn:
        referenced = set(refs.all_references(conn))
        chain = list(conn.execute(sa.select(events).order_by(events.c.id)).mappings())
    n, problem, _, _ = audit_chain.check(chain)
    if problem:
        raise StoreUnavailable(f"verification failed: the copied audit log does not verify: {problem}")
    rep.audit_events = n
    present = list(dst)
    for j, oid in enumerate(present, 1):
        why = dst.verify(oid)
        if why is not None:
            dst.delete(oid)  # the next run copies it again
            raise StoreUnavailable(f"verification failed: object {oid[:12]} in {dst.url}: {why}; migrate again "
                                   "(it resumes and re-copies what is missing)")
        if progress:
            progress("verify objects", j, len(present))
    rep.objects_verified = len(present)
    have = set(present)
    rep.missing_in_source = sorted(o for o in referenced if o not in have)

