"""Where the trials of a tuned sweep execute, and the sweep's half of pruning.

Trials are asked one by one (Optuna's ask-and-tell), so the executors here take
one spec at a time, unlike the fixed lists of :mod:`.workers`: a daemon thread
(``parallel=1``; the sweep process keeps polling for pruning), local worker
processes (forked like a grid sweep's), or a Dask scheduler. Each runs
:func:`run_trial`, which is :func:`.workers.run_one` with the trial's kernel
variables set.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from ..capture import pruning
from ..store import runs as store_runs
from . import workers


def run_trial(spec: dict) -> dict:
    """One trial as a pipeline run (never raises for a failed run). The trial's kernel
    variables belong to this thread (not ``os.environ``): see :func:`.pruning.trial_vars`."""
    with pruning.trial_vars(spec.get("environ")):
        return workers.run_one(spec)


def run_trial_dask(spec: dict) -> dict:
    """One trial on a Dask worker (:func:`.workers.dask_task`: never run twice); a worker with
    several threads runs several trials at once, each with its own kernel variables."""
    with pruning.trial_vars(spec.get("environ")):
        return workers.dask_task(spec)


class Pool:
    """``submit(spec)`` and ``done(futures, timeout)`` over threads, processes or Dask."""

    def __init__(self, parallel: int, dask: Any = None) -> None:
        self.client, self.opened, self.pool = None, False, None
        self.sent: dict[str, dict] = {}  # Dask: task key -> the spec as the worker got it (with its run id)
        self.notes: str | None = None  # local processes: which run id serves which trial (workers._note_start)
        if dask is not None:
            from . import dask_runs

            self.client, self.opened = dask_runs.connect(dask)
            self.slots = workers.dask_slots(self.client) or max(parallel, 1)
        elif parallel > 1:
            self.pool = workers.new_pool(parallel)
            self.slots = parallel
            self.notes = workers._notes_file()
        else:
            self.slots = 1

    def submit(self, spec: dict):
        if self.client is not None:  # as a grid sweep's Dask runs: store URLs, a client-chosen run id
            from . import dask_runs

            sent = dask_runs.prepare(self.client, [spec])[0]
            task = self.client.submit(run_trial_dask, sent, pure=False,
                                      key=f"nbtrack-{spec['parent']}-{spec['index']}")
            self.sent[task.key] = sent
            return task
        if self.pool is not None:
            from concurrent.futures.process import BrokenProcessPool

            spec = {**spec, "notes": self.notes}
            try:
                return self.pool.submit(run_trial, spec)
            except BrokenProcessPool:  # a worker died (its trials are settled by outcome()): new workers
                self.pool.shutdown(wait=True)
                self.pool = workers.new_pool(self.slots)
                return self.pool.submit(run_trial, spec)
        future: Future = Future()

        def target() -> None:
            try:
                future.set_result(run_trial(spec))
            except BaseException as e:  # run_one reports failures itself; this is a broken thread
                future.set_exception(e)

        threading.Thread(target=target, name=f"nbtrack-trial-{spec['index']}", daemon=True).start()
        return future

    def done(self, futures: list, timeout: float | None) -> list:
        if self.client is None:
            return list(wait(futures, timeout=timeout, return_when=FIRST_COMPLETED).done)
        deadline = time.monotonic() + (timeout if timeout is not None else 1e9)
        while True:
            ready = [f for f in futures if f.done()]
            if ready or time.monotonic() >= deadline:
                return ready
            time.sleep(0.02)

    def outcome(self, future, spec: dict) -> dict:
        """The trial's outcome; a worker that died: its run as recorded, else recorded as failed
        (Dask; local processes when the trial's run had started: never left running)."""
        sent = self.sent.pop(str(getattr(future, "key", "")), None) if self.client is not None else None
        if sent is None and self.notes is not None:
            run_id = workers._started(self.notes).get(spec["index"])
            sent = {**spec, "run_id": run_id} if run_id is not None else None
        lost = functools.partial(workers._settle, sent) if sent is not None else None
        return workers._result(future.result, [spec], 0, lost=lost)

    def close(self, futures: list | None = None) -> None:
        if self.client is not None:
            if futures:
                self.client.cancel(futures)
            if self.opened:
                self.client.close()
        elif self.pool is not None:
            for f in futures or []:
                f.cancel()
            self.pool.shutdown(wait=not futures, cancel_futures=bool(futures))
            if self.notes is not None:
                with contextlib.suppress(OSError):
                    os.unlink(self.notes)
        else:
            workers._close_kernels()


class PruneMonitor:
    """Reads the step values trial kernels report, asks the pruner, writes its decision.

    The kernel side is :mod:`nbtrack.capture.pruning`: both meet in the store, on the
    trial's pipeline run (found by its ``nbtrack.trial`` tag under the sweep run).
    """

    def __init__(self, ws, sweep_id: str, metric: str) -> None:
        self.ws, self.sweep_id, self.key = ws, sweep_id, pruning.REPORT_PREFIX + metric
        self.run_of: dict[int, str] = {}  # trial number -> pipeline run id
        self.last: dict[int, int] = {}  # trial number -> last step judged
        self.pruned: set[int] = set()

    def _runs(self, numbers: list[int]) -> None:
        from sqlalchemy import select

        from ..store.schema import runs, tags

        missing = [str(n) for n in numbers if n not in self.run_of]
        if not missing:
            return
        with self.ws.meta.read() as conn:
            rows = conn.execute(select(tags.c.run_id, tags.c.value).join(runs, runs.c.id == tags.c.run_id).where(
                runs.c.parent_id == self.sweep_id, tags.c.key == "nbtrack.trial", tags.c.value.in_(missing))).all()
        for run_id, value in rows:
            self.run_of[int(value)] = run_id

    def poll(self, trials: dict[int, Any]) -> None:
        """``trials``: trial number -> optuna Trial, for the trials running now."""
        from sqlalchemy import select

        from ..store.schema import metrics

        self._runs([n for n in trials if n not in self.pruned])
        ids = {self.run_of[n]: n for n in trials if n in self.run_of and n not in self.pruned}
        if not ids:
            return
        with self.ws.meta.read() as conn:
            rows = conn.execute(select(metrics.c.run_id, metrics.c.step, metrics.c.value).where(
                metrics.c.run_id.in_(list(ids)), metrics.c.key == self.key).order_by(metrics.c.step)).all()
        for run_id, step, value in rows:
            n = ids[run_id]
            if step <= self.last.get(n, -1) or n in self.pruned:
                continue
            self.last[n] = step
            trial = trials[n]
            decision: dict[str, str] = {pruning.TAG_CHECKED: str(step)}
            if value is not None:
                trial.report(float(value), int(step))
                if trial.should_prune():
                    self.pruned.add(n)
                    decision[pruning.TAG_PRUNED] = f"step {step}: {self.key[len(pruning.REPORT_PREFIX):]}={value:.6g}"
            with self.ws.meta.write() as conn:
                store_runs.write_tags(conn, run_id, decision)

    def mark_pruned(self, run_id: str | None) -> None:
        """The pipeline run and the runs the prune stopped under it: status ``pruned``."""
        if not run_id:
            return
        from sqlalchemy import update

        from ..store.schema import runs

        with self.ws.meta.write() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(status="pruned"))
            conn.execute(update(runs).where(runs.c.parent_id == run_id, runs.c.error_type == "TrialPruned")
                         .values(status="pruned"))
