"""A run's writes as data, so that a write waiting for a locked database survives its process.

A run write (its start, a flush, its end) is a JSON-able payload applied by
:func:`apply` in one transaction. While the write waits in the background writer's
queue (:mod:`nbtrack.capture.writer`) its payload is also kept in
``<workspace>/pending/``; the file is removed once the write is done. If the
process ends first (a kernel restarted while another process held the lock), the
next nbtrack process that writes to the workspace applies what is left
(:func:`replay`, before it closes the dead processes' runs as ``interrupted``), so
nothing recorded is lost.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from ..context import HOST, pid_alive
from ..store import sqlite_direct
from ..store.param_codec import decode_param, encode_param

_seq = itertools.count()


def ops(conn) -> ModuleType:
    """The write statements for ``conn``: plain SQL for a ``meta.write(direct=True)``
    transaction on SQLite (no SQLAlchemy), else SQLAlchemy's (store/runs.py); both modules
    offer the same functions."""
    if isinstance(conn, sqlite_direct.DirectConn):
        return sqlite_direct
    from ..store import runs as store_runs

    return store_runs


def _run_exists(conn, run_id: str) -> bool:
    if isinstance(conn, sqlite_direct.DirectConn):
        return sqlite_direct.run_exists(conn, run_id)
    from sqlalchemy import select

    from ..store.schema import runs

    return conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is not None


def _link(conn, run_id: str, direction: str, version_id: int) -> None:
    if isinstance(conn, sqlite_direct.DirectConn):
        sqlite_direct.link(conn, run_id, direction, version_id)
        return
    from ..store.lineage import link

    link(conn, run_id, direction, version_id)


def start_payload(row: dict, experiment: str) -> dict:
    return {"op": "start", "row": row, "experiment": experiment}


def flush_payload(run_id: str, params: dict, tags: dict, metrics: list, artifacts: list, inputs: list,
                  run_values: dict | None, encoded: dict | None = None) -> dict:
    """``encoded``: key -> (value, [text, type]) made when an immutable value was logged; used
    only for that very value (anything logged later under the key is encoded here)."""
    if encoded:
        enc = {}
        for k, v in params.items():
            e = encoded.get(k)
            enc[k] = e[1] if e is not None and e[0] is v else list(encode_param(v)[::2])  # [text, type]
    else:
        enc = {k: list(encode_param(v)[::2]) for k, v in params.items()}
    return {"op": "flush", "run_id": run_id, "params": enc, "tags": tags, "metrics": [list(m) for m in metrics],
            "artifacts": artifacts, "inputs": list(dict.fromkeys(inputs)), "run_values": run_values or {}}


def apply(conn, payload: dict, memo: dict | None = None) -> None:
    """Write ``payload`` in the open write transaction ``conn``. Without ``memo`` (the
    process's cached ids) it is a replay, and a start already written is skipped."""
    replaying, memo = memo is None, {} if memo is None else memo
    store_runs = ops(conn)
    if payload["op"] == "start":
        row = dict(payload["row"])
        if replaying and _run_exists(conn, row["id"]):
            return
        exp = payload["experiment"]
        exp_id = memo.get(("experiment", exp))
        if exp_id is None:
            exp_id = memo[("experiment", exp)] = store_runs.experiment_id(conn, exp, row["started"])
        row["experiment_id"] = exp_id
        if row.get("cell_key"):
            row["cell_version"] = store_runs.next_cell_version(conn, row["cell_key"])
        with store_runs.pipelined(conn):  # PostgreSQL: BEGIN and the row in one round trip
            store_runs.insert_run(conn, row)
        return
    run_id = payload["run_id"]
    params = {k: decode_param(text, vtype) for k, (text, vtype) in payload["params"].items()}
    with store_runs.pipelined(conn):  # PostgreSQL: one round trip for all of them
        store_runs.write_params(conn, run_id, params)
        store_runs.write_tags(conn, run_id, payload["tags"])
        store_runs.write_metrics(conn, run_id, [tuple(m) for m in payload["metrics"]])
        store_runs.write_artifacts(conn, run_id, payload["artifacts"])
        if payload["run_values"] and not payload["inputs"]:
            store_runs.update_run(conn, run_id, **payload["run_values"])
            return
    if payload["inputs"]:
        for version_id in payload["inputs"]:
            _link(conn, run_id, "input", version_id)
    if payload["run_values"]:
        store_runs.update_run(conn, run_id, **payload["run_values"])


def _folder(ws) -> Path | None:
    return Path(ws.root) / "pending" if getattr(ws, "root", None) else None


def save(ws, payload: dict | None) -> Path | None:
    """Keep ``payload`` on disk while it waits; its path (None when it cannot be kept)."""
    folder = _folder(ws)
    if payload is None or folder is None:
        return None
    try:
        folder.mkdir(exist_ok=True)
        path = folder / f"{time.time_ns():020d}-{next(_seq):06d}-{HOST}-{os.getpid()}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, default=str))
        os.replace(tmp, path)
        return path
    except Exception:  # a read-only or full workspace: the write still waits in memory
        return None


def discard(path: Path | None) -> None:
    if path is not None:
        try:
            path.unlink()
        except OSError:
            pass


def replay(ws, conn) -> list[Path]:
    """Apply, in the open write transaction ``conn``, the writes that processes which ended
    left waiting; the files applied (the caller removes them once committed)."""
    folder = _folder(ws)
    if folder is None or not folder.is_dir():
        return []
    done = []
    for path in sorted(folder.glob("*.json")):
        parts = path.stem.split("-")
        try:
            host, pid = "-".join(parts[2:-1]), int(parts[-1])
        except (ValueError, IndexError):
            continue
        if pid == os.getpid() or (host == HOST and pid_alive(pid)):
            continue  # its own writer still has it
        try:
            payload: Any = json.loads(path.read_text())
            with conn.begin_nested():
                apply(conn, payload)
            done.append(path)
        except Exception:  # one damaged file never blocks the others or the run being started
            continue
    return done
