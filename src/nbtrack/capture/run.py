"""Runs as they happen: ``track()`` and the ``log_*`` functions.

Everything logged is buffered in memory and written in one transaction when the
run ends (or every few seconds for long runs), so a run costs two short
transactions and a crash never leaves half-written rows.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Literal, TypeVar, cast

from .._secrets import mask_value, scrub_text
from ..context import HOST, active_run, default_parent, pid_alive, pop, push, user
from ..errors import InvalidInput, StoreUnavailable
from ..snapshot.figures import figure_png
from ..store import pg_direct
from ..store.param_codec import encode_param
from ..workspace import Workspace, get_workspace
from . import env, journal, pruning, writer

FLUSH_EVERY_S = 5.0
_experiment: str | None = None


def set_experiment(name: str | None) -> None:
    """Group the following runs under experiment ``name`` (default: ``default``)."""
    global _experiment
    _experiment = name


def current_experiment() -> str:
    return _experiment or os.environ.get("NBTRACK_EXPERIMENT") or "default"


class ActiveRun:
    """A run being recorded. Use it through ``track()`` or the module functions."""

    def __init__(
        self,
        name: str | None = None,
        kind: str = "script",
        parent_id: str | None = None,
        workspace: Workspace | None = None,
        **fields: Any,
    ) -> None:
        self.id = new_run_id()
        self.name = name
        self.kind = kind
        self.parent_id = parent_id
        self.ws = workspace or get_workspace(create=True)
        self.fields = fields
        self.started = time.time()
        self._t0 = time.perf_counter()
        self._params: dict[str, Any] = {}
        self._encoded: dict[str, tuple[Any, list]] = {}  # key -> (immutable value, [text, type]): encoded once
        self._tags: dict[str, str] = {}
        self._metrics: list[tuple[str, float | None, int, float]] = []
        self._steps: dict[str, int] = {}
        self._artifacts: list[dict] = []
        self._inputs: list[int] = []  # dataset versions read (nbtrack.load)
        self.loaded: dict[int, tuple[int, str | None]] = {}  # id(frame) -> (version id, fingerprint)
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()
        self.status = "running"
        self.ended = False
        self.secrets: list[str] = []  # values masked for this run: never stored, even in messages
        # cells and scripts never wait on a locked database: their writes are queued (capture/writer.py)
        self.defer = kind in ("cell", "script")
        self.deferred = False  # a write of this run is queued
        self.detached = False  # the store could not take the run: nothing more is written
        self.row_written = False

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> ActiveRun:
        ws = self.ws
        env_oid = ws.memo.get("env_oid")
        if env_oid is None:
            fp = env.fingerprint()
            env_oid = ws.memo["env_oid"] = ws.objects.put(env.encode(fp))
        git = env.fingerprint().get("git", {})
        row = {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "status": "running",
            "parent_id": self.parent_id,
            "started": self.started,
            "env_oid": env_oid,
            "git_commit": git.get("commit"),
            "git_dirty": git.get("dirty"),
            "user": user(),
            "host": HOST,
            "pid": os.getpid(),
            **self.fields,
        }
        row = {k: _utf8(v) if isinstance(v, str) else v for k, v in row.items()}
        exp = current_experiment()

        payload = journal.start_payload(row, exp)

        def insert() -> None:
            if ws.memo.get("interrupted_marked") and pg_direct.write_start(ws.meta, payload, ws.memo):
                return  # PostgreSQL: one prepared statement
            replayed: list = []
            with ws.meta.write(provisional=True, direct=True) as conn:  # made durable by the run's end
                first = not ws.memo.get("interrupted_marked")
                if first:  # what ended processes left waiting, then close their runs
                    replayed = journal.replay(ws, conn)
                    journal.ops(conn).mark_interrupted(conn, HOST, pid_alive)
                journal.apply(conn, payload, ws.memo)
            ws.memo["interrupted_marked"] = True
            for path in replayed:
                journal.discard(path)

        self._write(insert, "start", payload)
        self.row_written = True  # or queued: later writes of the run go after it
        return self

    def _write(self, fn: Callable[[], None], what: str, payload: dict | None = None) -> None:
        if self.detached:
            return
        if not self.defer:
            fn()
            return
        if not writer.write(self.ws, fn, f"run {self.id} {what}", payload):
            self.deferred = True

    def end(self, status: str = "finished", error: BaseException | None = None, **fields: Any) -> None:
        """Write what is buffered and close the run (idempotent)."""
        if self.ended:
            return
        self.status = status
        values: dict[str, Any] = {
            "status": status,
            "ended": time.time(),
            "duration": time.perf_counter() - self._t0,
            **fields,
        }
        if error is not None:
            values["error_type"] = type(error).__name__
            values["error_message"] = _utf8(scrub_text(_text(error), self.secrets)[:4000])
        self.flush(run_values=values)
        self.ended = True  # only now: an end interrupted half-way can be written again
        pop(self)  # ended without leaving its `with` block: later calls must not log into it

    def flush(self, run_values: dict[str, Any] | None = None) -> None:
        with self._lock:
            p, t, m, a, i = self._params, self._tags, self._metrics, self._artifacts, self._inputs
            self._params, self._tags, self._metrics, self._artifacts, self._inputs = {}, {}, [], [], []
            e, self._encoded = self._encoded, {}

        payload = journal.flush_payload(self.id, p, t, m, a, i, run_values, e)

        def write() -> None:
            if pg_direct.write_flush(self.ws.meta, payload):
                return  # PostgreSQL: one prepared statement
            with self.ws.meta.write(direct=True) as conn:
                journal.apply(conn, payload)

        try:
            self._write(write, "end" if run_values else "flush", payload)
        except BaseException:  # not written (Ctrl-C, store error): keep it for the next attempt
            with self._lock:
                self._params, self._tags = {**p, **self._params}, {**t, **self._tags}
                self._encoded = {**e, **self._encoded}  # an entry is used only for the very value it encodes
                self._metrics, self._artifacts, self._inputs = m + self._metrics, a + self._artifacts, i + self._inputs
            raise
        self._last_flush = time.monotonic()

    def _maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush > FLUSH_EVERY_S:
            self.flush()

    # -- logging -------------------------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        k = _key(key)
        value = mask_value(key, value)
        try:
            text, _, vtype = encode_param(value)
            if text is not None:
                text.encode("utf-8")  # lone surrogates ('\ud800'): SQLite refuses them
        except Exception as e:  # checked now: one bad value must not fail the run's write
            raise InvalidInput(f"param {k!r} cannot be stored ({type(e).__name__}: {_text(e)[:200]})") from None
        self._params[k] = value
        if type(value) in _IMMUTABLE:  # its encoding cannot change before the flush: kept for it
            self._encoded[k] = (value, [text, vtype])

    def log_params(self, values: dict[str, Any]) -> None:
        for k, v in values.items():
            self.log_param(k, v)

    def set_tag(self, key: str, value: Any) -> None:
        self._tags[_key(key)] = _utf8(str(mask_value(key, value)))

    def log_metric(self, key: str, value: Any, step: int | None = None) -> None:
        self._log_metric(key, value, step, self._steps)
        self._maybe_flush()

    def log_metrics(self, values: dict[str, Any], step: int | None = None) -> None:
        steps, log = self._steps, self._log_metric
        for k, v in values.items():
            log(k, v, step, steps)
        self._maybe_flush()

    def _log_metric(self, key: str, value: Any, step: int | None, steps: dict[str, int]) -> None:
        key = _key(key)
        try:
            v = float(value)
        except (TypeError, ValueError, OverflowError):
            raise InvalidInput(f"metric {key!r} must be a number, got {type(value).__name__}") from None
        last = steps.get(key, -1)
        if step is None:
            step = last + 1
        if step > last:
            steps[key] = step
        self._metrics.append((key, v if _isfinite(v) else None, int(step), time.time()))

    def log_artifact(self, obj: Any, name: str | None = None) -> str:
        """Store a file, bytes, text or matplotlib figure; return its object id."""
        if isinstance(obj, (str, os.PathLike)) and os.path.isfile(obj):  # streamed: never whole in memory
            import mimetypes

            base = os.path.basename(os.fspath(obj))
            size = os.path.getsize(obj)
            oid = self.ws.objects.put_file(os.fspath(obj))
            name, kind, media = name or base, "file", mimetypes.guess_type(base)[0] or "application/octet-stream"
        else:
            data, name, kind, media = _artifact_bytes(obj, name)
            oid, size = self.ws.objects.put(data), len(data)
        self._artifacts.append({"name": name, "oid": oid, "kind": kind, "media_type": media, "size": size})
        return oid

    def add_artifact(self, oid: str, name: str, kind: str, media_type: str, size: int) -> None:
        """Record an already stored object as an artifact of this run."""
        with self._lock:
            self._artifacts.append({"name": name, "oid": oid, "kind": kind, "media_type": media_type, "size": size})

    def use_dataset(self, version_id: int, frame: Any = None, fingerprint: str | None = None) -> None:
        """Record that this run read dataset version ``version_id`` (an input in its lineage).

        ``nbtrack.load()`` calls it for the active run. With ``frame`` (a tracked
        cell), the cell's data hook links the version under the variable that holds
        the frame, and snapshots it as an output only if the cell changed it.
        """
        with self._lock:
            if frame is not None:
                self.loaded[id(frame)] = (version_id, fingerprint)
            else:
                self._inputs.append(version_id)

    def put_object(self, data: bytes) -> str:
        return self.ws.objects.put(data)

    def __repr__(self) -> str:
        return f"<ActiveRun {self.id} {self.name or ''} {self.status}>"


_IMMUTABLE = frozenset((str, int, float, bool, type(None)))  # exactly these types (not subclasses)
_isfinite = math.isfinite


def new_run_id() -> str:
    """16 hex digits, as ``uuid.uuid4().hex[:16]`` (64 random bits but the version digit '4')."""
    h = os.urandom(8).hex()
    return h[:12] + "4" + h[13:]


def _utf8(s: str) -> str:
    """``s`` storable as UTF-8: lone surrogates ('\\ud800') become backslash escapes."""
    if s.isascii():
        return s
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "backslashreplace").decode("utf-8")


def _text(e: BaseException) -> str:
    try:
        return str(e)
    except Exception:
        return type(e).__name__


def _key(key: str) -> str:
    if not isinstance(key, str) or not key or len(key) > 255:
        raise InvalidInput(f"keys must be non-empty strings of at most 255 characters, got {key!r}")
    return key


def _artifact_bytes(obj: Any, name: str | None) -> tuple[bytes, str, str, str]:
    if hasattr(obj, "savefig"):  # a matplotlib figure
        return figure_png(obj), name or f"figure-{id(obj):x}.png", "figure", "image/png"
    if isinstance(obj, bytes):
        return obj, name or "data.bin", "file", "application/octet-stream"
    if isinstance(obj, (str, os.PathLike)) and os.path.isfile(obj):
        import mimetypes

        with open(obj, "rb") as f:
            data = f.read()
        base = os.path.basename(os.fspath(obj))
        media = mimetypes.guess_type(base)[0] or "application/octet-stream"
        return data, name or base, "file", media
    if isinstance(obj, str):
        if name is None:
            raise InvalidInput(f"{obj[:80]!r} is not a file; to log text, pass name='something.txt'")
        return obj.encode(), name, "text", "text/plain"
    raise InvalidInput(f"cannot log a {type(obj).__name__} as an artifact: pass a path, bytes, text or a figure")


_F = TypeVar("_F", bound=Callable[..., Any])


class track(contextlib.ContextDecorator):
    """Record a run: ``with nbtrack.track("train") as run: ...`` or ``@nbtrack.track()``.

    Parameters
    ----------
    name : str, optional
        Run name (a decorated function's name by default).
    params, tags : dict, optional
        Logged when the run starts.
    kind : str
        ``script`` by default; ``cell`` for tracked cells.
    """

    def __init__(self, name: str | None = None, params: dict | None = None, tags: dict | None = None,
                 kind: str = "script", **fields: Any) -> None:
        self.name, self.params, self.tags, self.kind, self.fields = name, params, tags, kind, fields
        self.run: ActiveRun | None = None

    def __call__(self, func: _F) -> _F:
        if self.name is None:
            self.name = func.__name__

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with track(self.name, self.params, self.tags, self.kind, **self.fields):
                return func(*args, **kwargs)

        return cast(_F, wrapper)

    def __enter__(self) -> ActiveRun:
        try:
            run = ActiveRun(self.name, self.kind, parent_id=default_parent(), **self.fields)
        except (StoreUnavailable, OSError) as e:  # no usable workspace: the code still runs, unrecorded
            if self.kind not in ("cell", "script"):
                raise
            _warn(f"this run is not recorded ({type(e).__name__}: {(_text(e).splitlines() or [''])[0]})")
            self.run = cast(ActiveRun, UnrecordedRun(self.name, self.kind))
            push(self.run)
            return self.run
        if self.params:
            run.log_params(self.params)
        if self.tags:
            for k, v in self.tags.items():
                run.set_tag(k, v)
        try:
            run.start()
        except (StoreUnavailable, OSError) as e:  # tracking never breaks the code it tracks
            if not run.defer:
                raise
            run.detached = True
            _warn(f"recording the run failed ({type(e).__name__}: {_first_line(e)}); the code runs without it")
        push(run)
        self.run = run
        return run

    def __exit__(self, etype, exc, tb) -> Literal[False]:
        run = self.run
        assert run is not None
        pop(run)
        status = "finished" if exc is None else "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        try:
            run.end(status, exc)
        except (StoreUnavailable, OSError) as e:
            if not run.defer:
                raise
            run.detached = True
            _warn(f"recording the run's end failed ({type(e).__name__}: {_first_line(e)}); "
                  "it is closed as interrupted when the store is writable again")
        return False


class UnrecordedRun:
    """Stands in for a run the store cannot take (an unsafe, unreadable or unwritable workspace).

    Every logging call is accepted and dropped, so the code inside ``track()`` runs unchanged;
    the one warning line printed when it started says why nothing is recorded.
    """

    detached = True
    defer = True

    def __init__(self, name: str | None, kind: str) -> None:
        self.id: str | None = None
        self.name, self.kind, self.status, self.ended = name, kind, "running", False
        self.secrets: list[str] = []
        self.loaded: dict[int, tuple[int, str | None]] = {}

    def end(self, status: str = "finished", error: BaseException | None = None, **fields: Any) -> None:
        self.status, self.ended = status, True
        pop(self)

    def log_artifact(self, obj: Any, name: str | None = None) -> str:
        return ""

    def put_object(self, data: bytes) -> str:
        return ""

    def __getattr__(self, name: str) -> Callable[..., None]:  # log_param(s), log_metric(s), set_tag, flush...
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: None

    def __repr__(self) -> str:
        return f"<nbtrack run (not recorded) {self.name or ''}>"


def _first_line(e: BaseException) -> str:
    return (_text(e).splitlines() or [""])[0][:300]


def _warn(text: str) -> None:
    print(f"nbtrack: {text}", file=sys.stderr)


# -- module-level logging: attach to the active run, or start one for this script ----
_implicit: ActiveRun | None = None


def _forget_implicit_in_child() -> None:
    """A forked child records its own runs: the parent's implicit run is not the child's."""
    global _implicit
    _implicit = None


os.register_at_fork(after_in_child=_forget_implicit_in_child)


def _current() -> ActiveRun:
    global _implicit
    run = active_run()
    if run is not None:
        return run
    if _implicit is None or _implicit.ended:
        name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else None
        _implicit = ActiveRun(name or "script", "script", parent_id=default_parent()).start()
        push(_implicit)
        atexit.register(_end_implicit)
    return _implicit


def _end_implicit() -> None:
    global _implicit
    if _implicit is not None and not _implicit.ended:
        pop(_implicit)
        try:
            _implicit.end("finished")
        except StoreUnavailable:
            pass
    _implicit = None


def end_run() -> None:
    """End the run started implicitly by a ``log_*`` call outside ``track()``."""
    _end_implicit()


def log_param(key: str, value: Any) -> None:
    _current().log_param(key, value)


def log_params(values: dict[str, Any]) -> None:
    _current().log_params(values)


def log_metric(key: str, value: Any, step: int | None = None) -> None:
    run = _current()
    run.log_metric(key, value, step)
    if step is not None and os.environ.get(pruning.ENV):  # a trial of a tuned sweep with pruning
        pruning.report(run.ws, key, value, step)


def log_metrics(values: dict[str, Any], step: int | None = None) -> None:
    run = _current()
    run.log_metrics(values, step)
    if step is not None and os.environ.get(pruning.ENV):
        for k, v in values.items():
            pruning.report(run.ws, k, v, step)


def log_artifact(obj: Any, name: str | None = None) -> str:
    return _current().log_artifact(obj, name)


def set_tag(key: str, value: Any) -> None:
    _current().set_tag(key, value)


def json_list(values) -> str:
    return json.dumps(sorted(values))

