"""Snapshots off the cell's path: new frames are encoded and stored by a background thread.

A tracked cell that makes a new DataFrame used to pay for encoding and storing
it before the cell returned. Now the data hook (:mod:`.data_hook`) pays only the
frame's fingerprint: a frame whose content is already stored (the encoding
cache, :mod:`nbtrack.snapshot.cache`) is linked at once as before; a new one
becomes a :class:`PendingFrame` holding ``frame.copy(deep=False)``. With pandas'
copy-on-write (the default in pandas 3) that shallow copy is a stable view: a
later cell that changes the frame in place copies the changed columns first, so
the pending snapshot stays what the cell produced.

The cell's run is written at once with status ``snapshotting`` (params,
metrics, stdout, its duration), and a :class:`RunJob` is queued for the
``nbtrack-snapshots`` thread, which encodes and stores the frames' chunks, then
writes in one transaction the dataset versions, the run's lineage edges, the
model versions trained or evaluated on those frames, and the run's final status
(``finished``, ``failed``...). Nothing is half-visible: until that transaction,
no version row names the frames. Chunks stored before it are content-addressed
objects nothing refers to yet (``gc``'s age guard keeps them).

* **Lineage.** A later cell that reads a frame still pending finds the same
  :class:`PendingFrame` (by content fingerprint and name); its run's edges are
  written by its own job, which the FIFO queue runs after the one that stores
  the frame, so it gets the version id that frame received.
* **Models.** A fitted model is mutable (a later ``fit`` changes it), so its
  archive is made and stored on the cell's path as before; only its version row
  waits when its training or evaluation frame is pending.
* **Back-pressure.** Pending frames count their memory; beyond
  ``NBTRACK_PENDING_SNAPSHOT_BYTES`` (default 1 GiB) the next frame waits for
  the queue to drain; a frame larger than the budget is stored on the cell's path.
  Frames under ``NBTRACK_BACKGROUND_MIN_BYTES`` (default 4 MiB, a few ms to encode)
  are stored on the cell's path too, and so are all frames in a pipeline's kernel
  (``nbtrack run``, sweeps); ``NBTRACK_BACKGROUND_SNAPSHOTS=0`` turns it off.
* **Failures** never reach the cell: a frame that cannot be encoded is noted on
  the run (``data_skipped.VAR``, as on the cell's path); a store that refuses
  the final write marks the run ``capture_failed``. Either way the user gets one
  warning line at the next tracked cell or :func:`flush`.
* **Exit.** At interpreter exit (a kernel shut down or restarted) the queue is
  flushed, waiting at most :data:`EXIT_WAIT_S`; runs whose snapshots could not
  be stored become ``capture_failed`` naming the frames lost. A kernel killed
  outright leaves ``snapshotting`` rows with a dead pid, which the next nbtrack
  process on the workspace (or ``nbtrack fsck``) marks the same way.
* **Fork.** A forked child (pipelines, sweeps) starts with an empty queue: the
  parent's pending snapshots are the parent's to store.
"""

from __future__ import annotations

import atexit
import collections
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..snapshot import pending as _pending_reads

if TYPE_CHECKING:
    from .run import ActiveRun

DEFAULT_BUDGET = 1 << 30
DEFAULT_MIN_BYTES = 4 << 20
EXIT_WAIT_S = 60.0
RESERVE_WAIT_S = 60.0  # longest back-pressure wait of a cell; then its frame is stored on its own path
STORE_ATTEMPTS = 3


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def enabled() -> bool:
    return os.environ.get("NBTRACK_BACKGROUND_SNAPSHOTS", "1").strip().lower() not in ("0", "false", "no", "off")


def budget() -> int:
    """Bytes of frame memory pending snapshots may hold before the next cell waits."""
    return _env_int("NBTRACK_PENDING_SNAPSHOT_BYTES", DEFAULT_BUDGET)


def min_bytes() -> int:
    """Frames smaller than this are stored on the cell's path (a few ms)."""
    return _env_int("NBTRACK_BACKGROUND_MIN_BYTES", DEFAULT_MIN_BYTES)


class PendingFrame:
    """A frame a cell read or made whose snapshot the background thread stores."""

    def __init__(self, ws: Any, name: str, fp: str, frame: Any, size: int, run_id: str | None,
                 reuse_any: bool, on_refused: Callable[[str], None] | None = None) -> None:
        self.ws, self.name, self.fp, self.size = ws, name, fp, size
        self.run_id, self.reuse_any = run_id, reuse_any
        self.frame: Any = frame  # a copy-on-write view, dropped once stored
        self.on_refused = on_refused  # told why, when the frame cannot be stored (warned once per object)
        self.version: Any = None  # the DatasetVersion, once committed
        self.error: str | None = None
        self.done = threading.Event()

    @property
    def id(self) -> int | None:
        return self.version.id if self.version is not None else None

    def __repr__(self) -> str:
        state = self.version or self.error or "pending"
        return f"<PendingFrame {self.name} {state}>"


Ref = Any  # int (a dataset version id) or PendingFrame


class RunJob:
    """What one cell's run still has to write once its pending frames are stored."""

    def __init__(self, run: ActiveRun) -> None:
        self.run = run
        self.frames: list[PendingFrame] = []  # stored by this job
        self.links: list[tuple[str, Ref, str | None]] = []  # (direction, version, variable)
        self.models: list[dict[str, Any]] = []  # prepared model versions waiting for a pending frame
        self.status = "finished"
        self.submitted = False

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.frames)

    def find(self, ws: Any, fp: str, name: str) -> PendingFrame | None:
        for f in self.frames:
            if f.ws is ws and f.fp == fp and f.name == name:
                return f
        return None

    def waits(self) -> bool:
        """Whether anything of this run waits for a pending frame."""
        refs = [r for _d, r, _v in self.links] + [m["train"] for m in self.models] + [m["test"] for m in self.models]
        return bool(self.frames or self.models) or any(isinstance(r, PendingFrame) for r in refs)

    def lost(self) -> str:
        names = [f.name for f in self.frames] + [f"model:{m['name']}" for m in self.models]
        return ", ".join(dict.fromkeys(names)) or "lineage"


def is_pending(ref: Any) -> bool:
    return isinstance(ref, PendingFrame)


def job_for(ctx: Any) -> RunJob:
    job = ctx.state.get("background")
    if job is None:
        job = ctx.state["background"] = RunJob(ctx.run)
    return job


def usable(run: Any) -> bool:
    """Whether ``run`` (a tracked cell's) can leave snapshots to the background thread."""
    from .run import ActiveRun

    # Not in a pipeline's kernel (`nbtrack run`, sweeps: NBTRACK_PARENT_RUN): nobody waits at its
    # cells, the pipeline reads its child runs as soon as the notebook ends, and a kernel shutdown
    # leaves only seconds before a kill.
    return (enabled() and type(run) is ActiveRun and run.kind == "cell" and not run.detached
            and not os.environ.get("NBTRACK_PARENT_RUN"))


# -- process-wide state ---------------------------------------------------------------------
_cond = threading.Condition()
_queue: collections.deque[RunJob] = collections.deque()
_registry: dict[tuple[str, str, str], PendingFrame] = {}  # (objects url, fingerprint, name) -> pending
_bytes = 0  # frame memory held by submitted, not yet stored frames
_thread: threading.Thread | None = None
_closing = False
_warnings: list[str] = []


def _reset_in_child() -> None:
    """A forked child starts with nothing pending: the parent's queue is the parent's to store."""
    global _cond, _queue, _registry, _bytes, _thread, _closing, _warnings
    _cond, _queue, _registry = threading.Condition(), collections.deque(), {}
    _bytes, _thread, _closing, _warnings = 0, None, False, []


os.register_at_fork(after_in_child=_reset_in_child)


def lookup(ws: Any, fp: str, name: str) -> PendingFrame | None:
    """The pending (or just stored) frame of this content and name, if any."""
    with _cond:
        return _registry.get((ws.objects.url, fp, name))


def has_pending(ws: Any, kind: str, name: str) -> bool:
    """Whether a queued job stores a version of dataset (or model) ``name`` in ``ws``: the next
    version of that name goes through the queue too, so versions keep the order of the cells."""
    with _cond:
        for job in _queue:
            if job.run.ws is not ws:
                continue
            names = [f.name for f in job.frames] if kind == "dataset" else [m["name"] for m in job.models]
            if name in names:
                return True
    return False


def reserve(size: int, local: int = 0) -> bool:
    """Wait until ``size`` more bytes fit in the budget (``local``: this cell's frames, not yet
    queued). False when they never can: the frame is then stored on the cell's path."""
    limit = budget()
    if size + local > limit:
        return False
    deadline = time.monotonic() + RESERVE_WAIT_S  # a writer stuck on a locked database never freezes the cell
    with _cond:
        while _bytes and _bytes + local + size > limit:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            _cond.wait(min(left, 0.5))
    return True


def pending() -> int:
    """Runs whose snapshots are still being stored."""
    with _cond:
        return len(_queue)


def submit(job: RunJob) -> None:
    """Queue ``job`` (its run is already written as ``snapshotting``)."""
    global _thread, _bytes
    with _cond:
        for f in job.frames:
            _registry[(f.ws.objects.url, f.fp, f.name)] = f
        _bytes += job.bytes
        job.submitted = True
        _queue.append(job)
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_work, name="nbtrack-snapshots", daemon=True)
            _thread.start()
        _cond.notify_all()


def abandon(job: RunJob, why: str) -> None:
    """A job that will not be queued: its frames are never stored."""
    for f in job.frames:
        f.error, f.frame = why, None
        f.done.set()


def _work() -> None:
    while True:
        with _cond:
            while not _queue or _closing:
                _cond.wait()
            job = _queue[0]  # stays queued while in flight: flush() waits for it
        try:
            _finalize(job)
        except BaseException as e:  # never let the thread die with jobs queued
            _note(f"storing the snapshots of run {job.run.id} failed ({type(e).__name__}: {e})")
        finally:
            _done(job)


def _done(job: RunJob) -> None:
    global _bytes
    with _cond:
        if _queue and _queue[0] is job:
            _queue.popleft()
        elif job in _queue:
            _queue.remove(job)
        for f in job.frames:
            key = (f.ws.objects.url, f.fp, f.name)
            if _registry.get(key) is f:
                del _registry[key]
            f.frame = None
            if f.version is None and f.error is None:
                f.error = "not stored"
        _bytes = max(0, _bytes - job.bytes)
        _cond.notify_all()
    for f in job.frames:
        f.done.set()


def _note(line: str) -> None:
    with _cond:
        _warnings.append(line)


def take_warning() -> str | None:
    """One line saying what went wrong in the background since the last call, or None."""
    with _cond:
        lines = list(dict.fromkeys(_warnings))
        _warnings.clear()
    if not lines:
        return None
    more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
    return f"nbtrack: {lines[0]}{more}"


def show_warning() -> None:
    line = take_warning()
    if line:
        print(line, file=sys.stderr)


# -- the job ---------------------------------------------------------------------------------
class _Changed(RuntimeError):
    """The frame's buffers changed between the cell and the encoding."""


class _Gone(Exception):
    """The run is no longer ``snapshotting`` (marked lost at exit): write nothing."""


def _ref_id(ref: Ref, stored: dict[int, Any]) -> int | None:
    if isinstance(ref, PendingFrame):
        v = stored.get(id(ref)) or ref.version
        return v.id if v is not None else None
    return ref


def _finalize(job: RunJob) -> None:
    from ..errors import StoreUnavailable
    from ..snapshot.datasets import encode_frame
    from ..snapshot.fingerprint import fingerprint
    from . import writer

    run, ws = job.run, job.run.ws
    while writer.pending(ws):  # the run's `snapshotting` write may wait for a locked database
        time.sleep(0.05)
    encoded = []
    skipped: dict[str, str] = {}
    for f in job.frames:
        try:
            enc = encode_frame(f.frame, f.name, ws)
            if fingerprint(f.frame) != f.fp:  # written through a path copy-on-write does not cover
                raise _Changed("the frame was changed in place (e.g. through Series.array) before its "
                               "snapshot was stored; snapshot it with nbtrack.snapshot() to keep a version")
            encoded.append((f, enc))
        except Exception as e:
            first = str(e).splitlines()[0][:200] if str(e) else ""
            f.error = first if isinstance(e, _Changed) else f"{type(e).__name__}: {first}"
            skipped[f.name] = f.error
            if not isinstance(e, _Changed):  # the object itself can be stored: no refusal to remember
                _refused(f)
        f.frame = None  # stored (or not storable): the view goes, and with it any memory it kept
    last: BaseException | None = None
    stored: dict[int, Any] | None = None
    for attempt in range(STORE_ATTEMPTS):
        try:
            stored = _commit(job, encoded, skipped)
            break
        except _Gone:
            return
        except StoreUnavailable as e:
            last = e
            time.sleep(0.2 * (attempt + 1))
        except Exception as e:  # a bug, not the store: do not retry
            last = e
            break
    if stored is None:
        _failed(job, last)
        return
    from ..snapshot import cache

    for f, enc in encoded:
        f.version = stored.get(id(f))
        if f.version is not None:
            cache.remember(ws, f.fp, enc)
    run.status = job.status
    if skipped:
        _note(f"capturing {', '.join(f'dataset {n!r} ({r})' for n, r in skipped.items())} failed; "
              f"run {run.id} was recorded without it")


def _refused(f: PendingFrame) -> None:
    """Tell the data hook, so later cells reading the same object only tag their run."""
    if f.on_refused is not None and f.error:
        try:
            f.on_refused(f.error)
        except Exception:
            pass


def _commit(job: RunJob, encoded: list, skipped: dict[str, str]) -> dict[int, Any]:
    from sqlalchemy import delete, select

    from ..snapshot.datasets import commit_frame
    from ..snapshot.models import commit_model, record_evaluations
    from ..store import runs as store_runs
    from ..store.lineage import link
    from ..store.schema import runs, tags

    run, ws = job.run, job.run.ws
    stored: dict[int, Any] = {}
    notes: list[str] = []
    with ws.meta.write() as conn:
        status = conn.execute(select(runs.c.status).where(runs.c.id == run.id)).scalar()
        if status != "snapshotting":
            raise _Gone(status)
        for f, enc in encoded:
            stored[id(f)] = commit_frame(conn, ws, f.name, enc, run_id=f.run_id, reuse_any=f.reuse_any)
        done: set[tuple[str, int, str | None]] = set()
        for direction, ref, var in job.links:
            vid = _ref_id(ref, stored)
            if vid is None:
                if ref not in job.frames:  # this job's own frames are noted as skipped
                    notes.append(f"{direction} {getattr(ref, 'name', var)!r} was not stored")
                continue
            if (direction, vid, var) not in done:
                done.add((direction, vid, var))
                link(conn, run.id, direction, vid, var)
        for m in job.models:
            train, test = _ref_id(m["train"], stored), _ref_id(m["test"], stored)
            version = commit_model(conn, ws, m["name"], m["values"], train, m["variable"])
            if test is not None and m["metrics"]:
                record_evaluations(conn, version.id, test, m["metrics"], run.id)
        extra = {f"data_skipped.{n}": r for n, r in skipped.items()}
        if skipped or notes:
            old = conn.execute(select(tags.c.value).where(tags.c.run_id == run.id,
                                                          tags.c.key == "capture_warnings")).scalar()
            more = [f"dataset {n!r} ({r})" for n, r in skipped.items()] + notes
            extra["capture_warnings"] = "; ".join(([old] if old else []) + more)[:2000]
        if extra:
            store_runs.write_tags(conn, run.id, extra)
        conn.execute(delete(tags).where(tags.c.run_id == run.id, tags.c.key == store_runs.PENDING_SNAPSHOTS_TAG))
        store_runs.update_run(conn, run.id, status=job.status)
    return stored


def _failed(job: RunJob, e: BaseException | None) -> None:
    """The job could not be written: the run says so (when the store takes that much)."""
    from ..store import runs as store_runs

    run = job.run
    why = f"storing its snapshots failed ({type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''})"
    try:
        with run.ws.meta.write() as conn:
            store_runs.mark_snapshots_lost(conn, run.id, why)
        run.status = "capture_failed"
    except Exception:
        pass
    _note(f"run {run.id}: {why}; it is marked capture_failed")


# -- waiting ---------------------------------------------------------------------------------
def flush(timeout: float | None = None) -> bool:
    """Wait until the snapshots tracked cells left to the background writer are stored.

    A tracked cell returns once its new DataFrames are fingerprinted; they are
    encoded and stored after it, and the cell's run shows ``snapshotting`` until
    they are (then ``finished``, or ``failed`` for a cell that raised). Call
    ``flush()`` before reading those runs from another process, timing a cell, or
    ending a script early. What failed in the background is printed as one line.

    Parameters
    ----------
    timeout : float, optional
        Longest wait in seconds (default: as long as it takes).

    Returns
    -------
    bool
        True when nothing is left pending (also run writes queued behind a locked
        database, see :mod:`nbtrack.capture.writer`).
    """
    done = wait(timeout)
    if done and "nbtrack.capture.writer" in sys.modules:
        from . import writer

        done = writer.flush(writer.EXIT_WAIT_S if timeout is None else timeout)
    show_warning()
    return done


def wait(timeout: float | None = None) -> bool:
    """Wait until every pending snapshot is stored (at most ``timeout`` s); True if none is left."""
    deadline = None if timeout is None else time.monotonic() + timeout
    with _cond:
        while _queue:
            if _thread is None or not _thread.is_alive():
                break
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            _cond.wait(0.5 if left is None else min(left, 0.5))
        return not _queue


def _at_exit() -> None:
    """Flush at interpreter exit; what is still pending after :data:`EXIT_WAIT_S` is recorded lost."""
    global _closing
    if not _queue:
        return
    if wait(EXIT_WAIT_S):
        return
    with _cond:
        _closing = True  # the thread takes no new job; the one in flight finds its run marked
        left = list(_queue)
    from ..store import runs as store_runs

    for job in left:
        try:
            with job.run.ws.meta.write() as conn:
                store_runs.mark_snapshots_lost(conn, job.run.id, "the kernel exited before its snapshots were stored")
        except Exception:
            pass  # the next process marks it (dead pid)


def _wait_for(kind: str, name: str | None) -> None:
    """Return once no queued job stores a dataset (or model) ``name`` (None: any); at most
    :data:`EXIT_WAIT_S`. Called by reads (:mod:`nbtrack.snapshot.pending`)."""
    if threading.current_thread() is _thread or not _queue:
        return

    def stores(job: RunJob) -> bool:
        names = [f.name for f in job.frames] if kind == "dataset" else [m["name"] for m in job.models]
        return bool(names) and (name is None or name in names)

    deadline = time.monotonic() + EXIT_WAIT_S
    with _cond:
        mine = [job for job in _queue if stores(job)]
        while any(job in _queue for job in mine) and _thread is not None and _thread.is_alive():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            _cond.wait(min(left, 0.5))


def _register_exit() -> None:
    """Flush before ``concurrent.futures`` refuses new work (frames are encoded in a thread pool):
    threading's exit hooks run before ``atexit``'s, the last registered first."""
    import concurrent.futures.thread  # noqa: F401  (registers its hook first, so ours runs before it)

    register = getattr(threading, "_register_atexit", None)
    try:
        if register is None:
            raise AttributeError
        register(_at_exit)
    except (AttributeError, RuntimeError):
        atexit.register(_at_exit)


_register_exit()
_pending_reads.register(_wait_for)


def stats() -> dict[str, Any]:
    """Pending runs and bytes (for tests and diagnostics)."""
    with _cond:
        return {"runs": len(_queue), "bytes": _bytes, "frames": len(_registry)}


