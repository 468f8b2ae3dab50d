"""Where the runs of a sweep execute: in this process, local worker processes, or Dask.

Every executor runs :func:`run_one` on a plain-dict spec (picklable, no open
handles) and yields its outcome dict as soon as it is done. Each worker opens the
workspace itself; SQLite in WAL mode with ``BEGIN IMMEDIATE`` (or PostgreSQL)
makes concurrent writers from many processes safe.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import NbtrackError

_workspaces: dict[tuple[str, str], Any] = {}
_kernels: Any = None  # this worker's WarmKernels (local executors only)


def _warm_kernels():
    global _kernels
    if _kernels is None:
        from .kernels import WarmKernels

        _kernels = WarmKernels()
    return _kernels


def _close_kernels() -> None:
    if _kernels is not None:
        _kernels.close()


def _workspace(spec: dict):
    from ..workspace import Workspace

    key = (spec["meta"], spec["objects"])
    ws = _workspaces.get(key)
    if ws is None:
        ws = _workspaces[key] = Workspace(spec["meta"], spec["objects"], spec["root"])
    return ws


def run_one(spec: dict) -> dict:
    """Execute one parameter set as a pipeline run under the sweep; never raises for a failed run.

    With ``spec["warm"]`` (local executors), the run uses the kernel this worker
    launched for it, if any, and when the value is true launches the next one.
    """
    from .run import run_pipeline
    from .timeline import mark

    mark("worker.run.begin", index=spec["index"])
    out = {"index": spec["index"], "params": spec["params"], "run_id": None, "metrics": {}, "error": None}
    try:
        if spec.get("env") is not None:
            _adopt_env(spec)
        res = run_pipeline(spec["name"], params=spec["params"], version=spec["version"],
                           param_texts=spec.get("texts"), parent=spec["parent"], timeout=spec.get("timeout"),
                           tags={"nbtrack.sweep": spec["parent"], **spec.get("tags", {})}, workspace=_workspace(spec),
                           kernels=_warm_kernels() if "warm" in spec else None, warm_next=bool(spec.get("warm")),
                           run_id=spec.get("run_id"), started=_noter(spec))
        out.update(run_id=res.run_id, metrics=res.metrics, status="finished")
    except NbtrackError as e:
        out.update(run_id=e.fields.get("run_id"), status="failed", error=str(e))
    except Exception as e:  # a broken worker must not stop the sweep
        out.update(status="failed", error=f"{type(e).__name__}: {e}")
    mark("worker.run.end", index=spec["index"])
    return out


def with_warm_kernels(specs: list[dict], workers: int) -> list[dict]:
    """Mark which runs launch a kernel for a next run: all but the last ``workers`` ones
    (a worker that gets no further run would only waste the kernel it warmed)."""
    n = len(specs)
    return [{**s, "warm": i < n - workers} for i, s in enumerate(specs)]


def sequential(specs: list[dict], warm: bool = True) -> Iterator[dict]:
    try:
        for spec in (with_warm_kernels(specs, 1) if warm else specs):
            yield run_one(spec)
    finally:
        _close_kernels()


def _fresh_worker(first: tuple[str, dict[str, str]] | None = None) -> None:
    """Pool initializer: shut this worker's warm kernel down when it exits; with ``first`` (kernel
    name, environment), launch the kernel of this worker's first run now. (What a forked worker
    must not inherit, each module drops itself: see ``os.register_at_fork`` below.)"""
    from multiprocessing import util

    util.Finalize(None, _close_kernels, exitpriority=10)
    if first is not None:
        _warm_kernels().start(*first)


def _forkable(ws) -> bool:
    """A workspace a forked worker may keep: SQLite and a local object folder (no client of a
    server whose connections the parent holds)."""
    return ws.meta.dialect == "sqlite" and ws.objects.local


def adopt(ws) -> None:
    """Runs of this sweep use ``ws`` itself (in this process, or in workers forked from it, with
    connections of their own): its engine, compiled statements and memo (experiment and
    environment ids) are ready, instead of a workspace opened again by each worker's first run."""
    if _forkable(ws):
        _workspaces[(ws.meta_url, ws.objects_url)] = ws


def _after_fork_in_child() -> None:
    """The parent's warm kernel and workspaces are not this process's (each module that
    holds state, e.g. nbtrack.workspace, resets its own the same way); an adopted SQLite
    workspace is kept without the parent's connections."""
    global _kernels
    _kernels = None
    kept = {k: ws for k, ws in _workspaces.items() if _forkable(ws)}
    _workspaces.clear()
    for key, ws in kept.items():
        ws.meta.after_fork()
        _workspaces[key] = ws


os.register_at_fork(after_in_child=_after_fork_in_child)


def _in_kernel() -> bool:
    """True inside a running Jupyter kernel (merely importing ipykernel does not count)."""
    app = sys.modules.get("ipykernel.kernelapp")
    return bool(app is not None and app.IPKernelApp.initialized())


def _context():
    """``fork`` where it is safe (Linux, not inside a Jupyter kernel with its zmq threads): workers
    start instantly with papermill already imported (importing it costs seconds per process);
    ``spawn`` elsewhere."""
    import multiprocessing

    if sys.platform.startswith("linux") and not _in_kernel():
        from .execute import import_papermill

        import_papermill()  # imported once here, inherited by every worker

        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def shared_env(ws) -> dict | None:
    """What every run of a sweep needs and a forked worker would compute again (packages, ``git``
    subprocesses): the environment fingerprint of the sweep process, whose run has just stored it,
    and that object's id. Handed to each run's spec (:func:`run_one` adopts it); None for
    workspaces that forked workers do not share (their workers compute their own)."""
    from ..capture import env

    oid = ws.memo.get("env_oid")
    if not _forkable(ws) or oid is None:
        return None
    return {"oid": oid, "fingerprint": env.fingerprint()}


def _adopt_env(spec: dict) -> None:
    """A forked worker's runs use the sweep process's fingerprint (same interpreter, paths and
    folder: the fork's parent) instead of computing it again."""
    from ..capture import env

    shared = spec["env"]
    _workspace(spec).memo.setdefault("env_oid", shared["oid"])
    env.use(shared["fingerprint"])


def new_pool(workers: int, first: tuple[str, dict[str, str]] | None = None) -> Any:
    """A pool of ``workers`` processes (forked where safe, see :func:`_context`), each set up by
    :func:`_fresh_worker` (with ``first``: launching its first run's kernel at once)."""
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, mp_context=_context(), initializer=_fresh_worker,
                               initargs=(first,))


def processes(specs: list[dict], workers: int, warm: bool = True) -> Iterator[dict]:
    """``workers`` local processes; each opens its own connections to the workspace."""
    return Local(len(specs), workers, warm).run(specs)


class Local:
    """A sweep's local executor, set up before the sweep run is recorded.

    ``workers`` > 1: a pool of forked processes, else this process. With ``first`` (kernel name
    and environment, ``warm`` only), the processes are forked now and each one launches its first
    run's kernel at once: that kernel boots while the sweep is recorded and the run prepared,
    instead of after. Every run still gets a new kernel, launched for it alone.
    """

    def __init__(self, n: int, workers: int, warm: bool = True,
                 first: tuple[str, dict[str, str]] | None = None) -> None:
        self.workers = min(workers, n) if workers > 1 and n > 1 else 1
        self.warm = warm
        first = first if warm else None
        self.pool: Any = None
        if self.workers > 1:
            self.pool = new_pool(self.workers, first)
            if first is not None:
                self.pool.submit(int)  # forks every worker now (a fork pool starts them all at once)
        elif first is not None:
            _warm_kernels().start(*first)

    def run(self, specs: list[dict]) -> Iterator[dict]:
        if self.pool is None:
            return sequential(specs, self.warm)
        return self._pooled(specs)

    def _pooled(self, specs: list[dict]) -> Iterator[dict]:
        """Each run on the pool. When a worker dies (the pool breaks, and stops its other
        workers too), as with Dask: a run that had not started is submitted once more, to a new
        pool; a run that had started is not run a second time but settled (:func:`_settle`: as
        recorded if it ended, else failed with the reason). N parameter sets: exactly N runs.
        Which run id serves which parameter set, each worker notes in a file before the run's
        start is written (one small ``O_APPEND`` write: it survives its writer's death)."""
        from concurrent.futures import as_completed

        from ..capture.run import new_run_id

        notes = _notes_file()
        todo = [{**s, "notes": notes} for s in (with_warm_kernels(specs, self.workers) if self.warm else specs)]
        retried: set[int] = set()
        try:
            while todo:
                futures = {self.pool.submit(run_one, s): s for s in todo}
                todo = []
                try:
                    for f in as_completed(futures):
                        s = futures[f]
                        try:
                            yield f.result()
                            continue
                        except Exception as e:  # its worker died (BrokenProcessPool) or its result did not arrive
                            reason = (f"a worker process of the sweep died ({type(e).__name__}: {e}); a run that "
                                      "had started is not run a second time")
                        run_id = _started(notes).get(s["index"])
                        if run_id is None and s["index"] not in retried:
                            retried.add(s["index"])
                            todo.append(s)
                        else:
                            yield _lost({**s, "run_id": run_id or new_run_id()}, reason)
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
                if todo:  # a new pool for the runs that had not started (a broken pool takes no more work)
                    self.pool.shutdown(wait=True)
                    self.pool = new_pool(min(self.workers, len(todo)))
        finally:
            self.pool.shutdown(wait=True)
            with contextlib.suppress(OSError):
                os.unlink(notes)

    def close(self) -> None:
        """Stop what was set up (the sweep ends before any run): workers and first kernels."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        else:
            _close_kernels()


def dask(specs: list[dict], address: Any) -> Iterator[dict]:
    """Submit every run to a Dask distributed scheduler (address or ``distributed.Client``);
    what workers receive and how a dead worker's run is accounted for: :mod:`.dask_runs`."""
    from . import dask_runs

    return dask_runs.execute(specs, address, dask_task, _workspace)


def _settle(spec: dict, reason: str) -> dict:
    """A run whose task (Dask) or worker process (local) did not come back: its run as recorded, or
    recorded now as failed."""
    from . import dask_runs

    return dask_runs.settle(spec, reason, _workspace(spec))


def dask_task(spec: dict) -> dict:
    """What a Dask worker executes for one parameter set (see :func:`.dask_runs.run_task`)."""
    from . import dask_runs

    return dask_runs.run_task(spec, _workspace(spec), run_one)


def dask_slots(address: Any) -> int | None:
    """Threads in the cluster (how many runs execute at once), when it can be asked."""
    try:
        info = address.scheduler_info() if hasattr(address, "scheduler_info") else None
        return sum(w.get("nthreads", 1) for w in info["workers"].values()) if info else None
    except Exception:
        return None


def _result(get: Callable[[], dict], specs: list[dict], i: int,
            lost: Callable[[str], dict] | None = None) -> dict:
    try:
        return get()
    except Exception as e:  # the worker process itself died
        reason = f"worker failed: {type(e).__name__}: {e}"
        if lost is not None:
            try:
                return lost(reason)  # recorded in the store as a failed run
            except Exception:
                pass
        return _failed(specs[i], reason)


def _failed(spec: dict, reason: str, run_id: str | None = None) -> dict:
    """The outcome of a run that did not come back and could not be recorded."""
    return {"index": spec["index"], "params": spec["params"], "run_id": run_id, "metrics": {},
            "status": "failed", "error": reason}


def _lost(spec: dict, reason: str) -> dict:
    """A local run whose worker died: as recorded if it ended, else recorded now as failed."""
    try:
        return _settle(spec, reason)
    except Exception:
        return _failed(spec, reason, spec.get("run_id"))


def _notes_file() -> str:
    """A new, empty file for :func:`_note_start` (the caller removes it)."""
    import tempfile

    fd, path = tempfile.mkstemp(prefix="nbtrack-sweep-", suffix=".runs")
    os.close(fd)
    return path


def _note_start(notes: str, index: int, run_id: str) -> None:
    """In a worker: run ``run_id`` serves parameter set ``index`` (see :meth:`Local._pooled`)."""
    fd = os.open(notes, os.O_WRONLY | os.O_APPEND)  # (an error: the run does not start, and is reported failed)
    try:
        os.write(fd, f"{index} {run_id}\n".encode())
    finally:
        os.close(fd)


def _noter(spec: dict) -> Callable[[str], None] | None:
    return functools.partial(_note_start, spec["notes"], spec["index"]) if "notes" in spec else None


def _started(notes: str) -> dict[int, str]:
    """Parameter set index -> run id, as the workers noted them."""
    out = {}
    with contextlib.suppress(OSError), open(notes) as f:
        for line in f:
            index, _, run_id = line.strip().partition(" ")
            if index.isdigit() and run_id:
                out[int(index)] = run_id
    return out
