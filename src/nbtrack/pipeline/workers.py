"""Where the runs of a sweep execute: in this process, local worker processes, or Dask.

Every executor runs :func:`run_one` on a plain-dict spec (picklable, no open
handles) and yields its outcome dict as soon as it is done. Each worker opens the
workspace itself; SQLite in WAL mode with ``BEGIN IMMEDIATE`` (or PostgreSQL)
makes concurrent writers from many processes safe.
"""

from __future__ import annotations

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
        res = run_pipeline(spec["name"], params=spec["params"], version=spec["version"],
                           param_texts=spec.get("texts"), parent=spec["parent"], timeout=spec.get("timeout"),
                           tags={"nbtrack.sweep": spec["parent"], **spec.get("tags", {})}, workspace=_workspace(spec),
                           kernels=_warm_kernels() if "warm" in spec else None, warm_next=bool(spec.get("warm")),
                           run_id=spec.get("run_id"))
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


def _fresh_worker() -> None:
    """Pool initializer: shut this worker's warm kernel down when it exits. (What a forked
    worker must not inherit, each module drops itself: see ``os.register_at_fork`` below.)"""
    from multiprocessing import util

    util.Finalize(None, _close_kernels, exitpriority=10)


def _after_fork_in_child() -> None:
    """The parent's warm kernel and workspaces are not this process's (each module that
    holds state, e.g. nbtrack.workspace, resets its own the same way)."""
    global _kernels
    _kernels = None
    _workspaces.clear()


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


def processes(specs: list[dict], workers: int, warm: bool = True) -> Iterator[dict]:
    """``workers`` local processes; each opens its own connections to the workspace."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=workers, mp_context=_context(), initializer=_fresh_worker) as pool:
        futures = [pool.submit(run_one, s) for s in (with_warm_kernels(specs, workers) if warm else specs)]
        try:
            for f in as_completed(futures):
                yield _result(f.result, specs, futures.index(f))
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def dask(specs: list[dict], address: Any) -> Iterator[dict]:
    """Submit every run to a Dask distributed scheduler (address or ``distributed.Client``);
    what workers receive and how a dead worker's run is accounted for: :mod:`.dask_runs`."""
    from . import dask_runs

    return dask_runs.execute(specs, address, dask_task, _workspace)


def _settle(spec: dict, reason: str) -> dict:
    """A Dask task that did not come back: its run as recorded, or recorded now as failed."""
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
        s = specs[i]
        return {"index": s["index"], "params": s["params"], "run_id": None, "metrics": {},
                "status": "failed", "error": reason}
