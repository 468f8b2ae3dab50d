"""Sweep runs on a Dask cluster that shares nothing with the client but the store.

A task carries plain data only: the store's URLs (metadata + objects), the pipeline's
name and version (each worker reads the approved notebook from the object store), the
parameters and a run id chosen by the client. The kernels on the workers get the store's
URLs (``NBTRACK_URI`` + ``NBTRACK_OBJECTS``); only a workspace in local files that every
worker sees (a ``LocalCluster``, a shared file system) is passed as its folder.
A store that lives in local files (SQLite, an objects folder) is checked on every worker
before anything runs: a cluster that cannot see it is a usage error, not N failed runs.

Worker deaths. When a worker dies the scheduler hands its tasks to another worker. A
task whose run had not started there simply runs again (the retry); a task whose run had
started (a row exists under its run id) is not run a second time: that run is recorded
as failed with the reason, and a run that had finished keeps its result. If the
scheduler gives up on a task (``KilledWorker``), the client submits it once more when
its run never started, and otherwise records the same. A sweep of N parameter sets
therefore always ends with exactly N child runs, each finished or failed with a reason.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import InvalidInput

LOST = "WorkerLost"
ACTIVE = ("running", "interrupted")  # a new process on a restarted worker marks its dead runs interrupted


class WorkerLost(RuntimeError):
    """The Dask worker that ran a sweep's run died (recorded as the run's error)."""


def local_paths(spec: dict) -> dict[str, str]:
    """The store's parts that are files on the client's disk: what a worker must also see."""
    out = {}
    meta, objects = spec["meta"], spec["objects"]
    if meta.startswith("sqlite:///") and ":memory:" not in meta:
        out["metadata database"] = meta.removeprefix("sqlite:///")
    if "://" not in objects or objects.startswith("file://"):
        out["objects folder"] = objects.removeprefix("file://")
    return out


def _visible(paths: list[str]) -> list[bool]:
    """Runs on each worker: which of the client's paths exist there."""
    return [os.path.exists(p) for p in paths]


def _wait_for_workers(client: Any, address: str, seconds: float = 60) -> None:
    try:
        client.wait_for_workers(1, timeout=seconds)
    except Exception:
        raise InvalidInput(f"no Dask worker joined {address} within {seconds:.0f} s: start workers with "
                           f"`dask worker {address}`") from None


def prepare(client: Any, specs: list[dict]) -> list[dict]:
    """The specs as workers get them: a run id each, the workspace folder only where seen.

    Raises
    ------
    InvalidInput
        The store is (partly) local files that some worker cannot see.
    """
    if not specs:
        return []
    base = specs[0]
    local = local_paths(base)
    root = base.get("root")
    keep_root = False  # a shared store: the workers get its URLs (their own folders, if any, are not ours)
    if local:
        _wait_for_workers(client, client.scheduler.address)
        probe = [root or "", *local.values()]
        seen: dict[str, list[bool]] = client.run(_visible, probe)
        for what, path in local.items():
            blind = sorted(addr for addr, ok in seen.items() if not ok[probe.index(path)])
            if blind:
                raise InvalidInput(
                    f"the Dask workers cannot see this workspace's {what} {path} ({', '.join(blind)}): a "
                    "cluster needs a store every worker reaches, e.g. `nbtrack init --meta "
                    "postgresql+psycopg://HOST/DB --objects s3://BUCKET/PREFIX` (docs/team.md)")
        keep_root = bool(root and all(ok[0] for ok in seen.values()))  # its config.toml applies there too
    from ..capture.run import current_experiment

    experiment = current_experiment()  # a local worker process inherits it; a Dask worker is told
    return [{**s, "root": s.get("root") if keep_root else None, "run_id": s.get("run_id") or uuid.uuid4().hex[:16],
             "experiment": experiment} for s in specs]


def connect(address: Any) -> tuple[Any, bool]:
    """``(client, opened here)`` for a scheduler address or an existing ``distributed.Client``."""
    try:
        from distributed import Client
    except ImportError:
        raise InvalidInput("--dask needs Dask distributed: pip install 'nbtrack[dask]'") from None
    if isinstance(address, Client):
        return address, False
    try:
        return Client(address, timeout="20s"), True
    except (OSError, TimeoutError, ValueError) as e:
        raise InvalidInput(f"cannot reach the Dask scheduler at {address}: {e}") from None


def check_cluster(address: Any, ws: Any) -> None:
    """Before a sweep is recorded: the scheduler answers and its workers can reach the store."""
    client, opened = connect(address)
    try:
        prepare(client, [{"meta": ws.meta_url, "objects": ws.objects_url, "root": ws.root}])
    finally:
        if opened:
            client.close()


def execute(specs: list[dict], address: Any, task: Callable[[dict], dict],
            workspace: Callable[[dict], Any]) -> Iterator[dict]:
    """Submit ``task(spec)`` for every spec; yield each outcome as it arrives.

    A task the scheduler gives up on (``KilledWorker``) is submitted once more if its run
    never started (it was only queued on the dead worker); otherwise its run is settled
    here (:func:`settle`). ``workspace(spec)``: the client's workspace for a spec.
    """
    from distributed import as_completed

    client, opened = connect(address)
    try:
        sent = prepare(client, specs)
        index: dict[Any, int] = {}
        futures = []
        for i, s in enumerate(sent):
            futures.append(client.submit(task, s, pure=False, key=f"nbtrack-{s['parent']}-{s['index']}"))
            index[futures[-1].key] = i
        retried: set[int] = set()
        try:
            pending = as_completed(futures)
            for f in pending:
                i = index[f.key]
                mine = {**specs[i], "run_id": sent[i]["run_id"]}  # the client's view (its workspace folder)
                if f.status == "error" and i not in retried and _never_started(mine, workspace):
                    retried.add(i)
                    futures.append(client.submit(task, sent[i], pure=False, key=f"{f.key}-retry"))
                    index[futures[-1].key] = i
                    pending.add(futures[-1])
                    continue
                yield _outcome(f, mine, workspace)
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        if opened:
            client.close()


def _never_started(spec: dict, workspace: Callable[[dict], Any]) -> bool:
    try:
        return _status(workspace(spec), spec["run_id"]) is None
    except Exception:
        return False


def _outcome(future: Any, spec: dict, workspace: Callable[[dict], Any]) -> dict:
    try:
        return future.result()
    except Exception as e:  # the task failed for good: the run is recorded from here
        reason = f"worker failed: {type(e).__name__}: {e}"
        try:
            return settle(spec, reason, workspace(spec))
        except Exception:
            return {"index": spec["index"], "params": spec["params"], "run_id": None, "metrics": {},
                    "status": "failed", "error": reason}


def run_task(spec: dict, ws: Any, run: Callable[[dict], dict]) -> dict:
    """On a worker: ``run(spec)``, unless an earlier attempt of this task already started its run."""
    from ..capture.run import set_experiment

    # per process (the run's start records it from another thread): two sweeps of different
    # experiments sharing one worker at the same moment could swap experiments
    set_experiment(spec.get("experiment"))
    if _status(ws, spec["run_id"]) is None:
        return run(spec)
    return settle(spec, "its Dask worker died while the run was executing; not run a second time, so that "
                        "the sweep keeps one run per parameter set", ws)


def _status(ws: Any, run_id: str) -> tuple[str, str | None] | None:
    from sqlalchemy import select

    from ..store.schema import runs

    with ws.meta.read() as conn:
        row = conn.execute(select(runs.c.status, runs.c.error_message).where(runs.c.id == run_id)).first()
    return None if row is None else (row[0], row[1])


def settle(spec: dict, reason: str, ws: Any) -> dict:
    """The outcome of a run whose task did not come back: as recorded if it ended, else
    recorded now as failed with ``reason`` (created, with its parameters, if it never started)."""
    from .gates import gate_metrics

    rid = spec["run_id"]
    out = {"index": spec["index"], "params": spec["params"], "run_id": rid, "metrics": {}}
    status = _status(ws, rid)
    if status is not None and status[0] not in ACTIVE:
        if status[0] == "finished":
            return {**out, "status": "finished", "error": None, "metrics": gate_metrics(ws, rid)}
        return {**out, "status": "failed", "error": status[1] or status[0]}
    if status is None:
        _record_failed(ws, spec, reason)
    else:
        _mark_failed(ws, spec, reason)
    return {**out, "status": "failed", "error": f"{LOST}: {reason}"}


def _mark_failed(ws: Any, spec: dict, reason: str) -> None:
    from sqlalchemy import update

    from ..store import runs as store_runs
    from ..store.schema import runs

    with ws.meta.write() as conn:
        conn.execute(update(runs).where(runs.c.id == spec["run_id"], runs.c.status.in_(ACTIVE))
                     .values(status="failed", ended=time.time(), error_type=LOST, error_message=reason))
        store_runs.write_params(conn, spec["run_id"], spec["params"])  # the start may have had no flush yet
        store_runs.write_tags(conn, spec["run_id"], _tags(spec))


def _tags(spec: dict) -> dict[str, str]:
    return {"nbtrack.sweep": spec["parent"], "nbtrack.pipeline": spec["name"],
            "nbtrack.pipeline_version": str(spec["version"]), **{k: str(v) for k, v in spec.get("tags", {}).items()}}


def _record_failed(ws: Any, spec: dict, reason: str) -> None:
    from ..capture.run import ActiveRun

    run = ActiveRun(spec["name"], "pipeline", parent_id=spec["parent"], workspace=ws)
    run.id = spec["run_id"]
    run.log_params(spec["params"])
    for k, v in _tags(spec).items():
        run.set_tag(k, v)
    run.start()
    run.end("failed", WorkerLost(reason))
