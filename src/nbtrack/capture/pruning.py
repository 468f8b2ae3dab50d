"""The kernel's half of pruning in a tuned sweep: report a step metric, obey the sweep's decision.

The sweep (``nbtrack sweep --optuna --prune``, in another process, maybe another
machine) gives each trial's kernel ``NBTRACK_PRUNE={"metric": "auc", "wait": 30}``.
Then ``nbtrack.log_metric("auc", value, step=k)`` in the notebook also

1. writes the value as metric ``pruning.auc`` (step ``k``) of the trial's pipeline run
   (``NBTRACK_PARENT_RUN``), straight to the store, with the tag ``nbtrack.trial`` (the
   trial number, ``NBTRACK_TRIAL``) that tells the sweep which trial the run is;
2. waits until the sweep has judged step ``k`` (tag ``nbtrack.pruning.checked``), at
   most ``wait`` seconds (a sweep that went away never blocks the notebook);
3. raises :class:`~nbtrack.errors.TrialPruned` if the sweep's pruner decided to stop
   the trial (tag ``nbtrack.pruned``), which ends the notebook; the sweep records the
   trial and its runs as ``pruned``.

Only the store is shared, so it works with worker processes, Dask workers and any kernel.
Outside a tuned sweep (no ``NBTRACK_PRUNE``) nothing of this runs.

The sweep side hands a trial's variables to its kernel through :func:`trial_vars`: they
belong to the thread that runs the trial (never ``os.environ``), so a Dask worker with
several threads runs several pruned trials at once, each kernel with its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from ..errors import TrialPruned

ENV = "NBTRACK_PRUNE"
TRIAL_ENV, TAG_TRIAL = "NBTRACK_TRIAL", "nbtrack.trial"
REPORT_PREFIX = "pruning."
TAG_CHECKED = "nbtrack.pruning.checked"
TAG_PRUNED = "nbtrack.pruned"
POLL_S = 0.01


_thread = threading.local()


@contextlib.contextmanager
def trial_vars(values: dict[str, str] | None) -> Iterator[None]:
    """While the current thread runs a trial: the variables its kernel gets (:func:`kernel_vars`)."""
    saved = getattr(_thread, "vars", None)
    _thread.vars = dict(values or {})
    try:
        yield
    finally:
        _thread.vars = saved


def kernel_vars() -> dict[str, str]:
    """The variables of the trial this thread runs (added to the environment of the kernel it launches)."""
    return dict(getattr(_thread, "vars", None) or {})


def config() -> dict | None:
    text = os.environ.get(ENV)
    if not text:
        return None
    try:
        cfg = json.loads(text)
    except ValueError:
        return None
    return cfg if isinstance(cfg, dict) and cfg.get("metric") else None


def _write(ws: Any, run_id: str, key: str, value: float, step: int, deadline: float) -> bool:
    from ..store import runs as store_runs

    while True:
        try:
            with ws.meta.write() as conn:
                store_runs.write_metrics(conn, run_id, [(REPORT_PREFIX + key, value, step, time.time())])
                if os.environ.get(TRIAL_ENV):  # how the sweep finds this trial's run before the run ends
                    store_runs.write_tags(conn, run_id, {TAG_TRIAL: os.environ[TRIAL_ENV]})
            return True
        except Exception:  # the pipeline run's row may not be written yet (it starts with the kernel)
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def _decision(ws: Any, run_id: str, step: int, deadline: float) -> str | None:
    from sqlalchemy import select

    from ..store.schema import tags

    query = select(tags.c.key, tags.c.value).where(tags.c.run_id == run_id,
                                                   tags.c.key.in_((TAG_CHECKED, TAG_PRUNED)))
    while True:
        with ws.meta.read() as conn:
            found = dict(conn.execute(query).all())
        if TAG_PRUNED in found:
            return found[TAG_PRUNED]
        checked = found.get(TAG_CHECKED)
        if (checked is not None and int(checked) >= step) or time.monotonic() > deadline:
            return None
        time.sleep(POLL_S)


def report(ws: Any, key: str, value: Any, step: int | None) -> None:
    """Called by ``nbtrack.log_metric``; raises TrialPruned when the sweep stopped this trial."""
    cfg = config()
    run_id = os.environ.get("NBTRACK_PARENT_RUN")
    if cfg is None or step is None or key != cfg["metric"] or not run_id:
        return
    try:
        v = float(value)
    except (TypeError, ValueError):
        return
    deadline = time.monotonic() + float(cfg.get("wait", 30))
    if not _write(ws, run_id, key, v, int(step), deadline):
        return
    why = _decision(ws, run_id, int(step), deadline)
    if why is not None:
        raise TrialPruned(f"trial pruned by the sweep: {why}")
