"""Who and what is current: the user, the host, the stack of active runs.

A low module (it imports nothing of nbtrack) so that capture, snapshot, registry
and maintenance can ask "who is acting" and "which run is recording" without
importing each other.

The active-run stack is a :class:`contextvars.ContextVar` holding a tuple: every
thread and every asyncio task sees its own stack (a new thread starts empty; a
task starts with a copy of its creator's), so two runs recorded at the same time
in one process never attach their logs to each other. A forked child starts with
an empty stack and the parent's innermost run as its default parent.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import getpass
import os
import socket
from collections.abc import Iterator
from typing import Any

HOST = socket.gethostname()

_stack: contextvars.ContextVar[tuple[Any, ...]] = contextvars.ContextVar("nbtrack_active_runs", default=())
_acting: contextvars.ContextVar[str | None] = contextvars.ContextVar("nbtrack_acting_user", default=None)


def user() -> str:
    """The acting user, recorded on runs, versions and every audit event.

    In order: the user a server authenticated for this request (:func:`acting_as`, set by the
    Jupyter REST handlers); ``NBTRACK_USER`` (an explicit override); with ``CI=true``,
    ``GITHUB_ACTOR`` or ``CI_USER``; otherwise the OS login name (``unknown`` if there is none).
    """
    acting = _acting.get()
    if acting:
        return acting
    ident = os.environ.get("NBTRACK_USER")
    if ident:
        return ident
    if os.environ.get("CI", "").strip().lower() in ("true", "1"):
        ci = os.environ.get("GITHUB_ACTOR") or os.environ.get("CI_USER")
        if ci:
            return ci
    for var in ("LOGNAME", "USER", "LNAME", "USERNAME"):  # what getpass.getuser() reads first
        name = os.environ.get(var)
        if name:
            return name
    getuid = getattr(os, "getuid", None)
    return _login(getuid()) if getuid else _login(None)


@functools.lru_cache(maxsize=8)
def _login(uid: int | None) -> str:
    """The password database's name for ``uid`` (a file lookup: once per process, not per run)."""
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


@contextlib.contextmanager
def acting_as(name: str | None) -> Iterator[None]:
    """Within this block (this thread or task), :func:`user` is ``name`` (None or "" changes nothing)."""
    token = _acting.set(name or _acting.get())
    try:
        yield
    finally:
        _acting.reset(token)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` on this host still exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def active_run() -> Any | None:
    """The innermost run being recorded in this thread or task, or None."""
    stack = _stack.get()
    for run in reversed(stack):  # a run ended directly (run.end()) is no longer anyone's parent
        if not getattr(run, "ended", False):
            return run
    return None


def push(run: Any) -> None:
    _stack.set((*_stack.get(), run))


def pop(run: Any) -> None:
    stack = _stack.get()
    if run in stack:
        _stack.set(tuple(r for r in stack if r is not run))


def _after_fork_in_child() -> None:
    """A forked child records its own runs: the parent's active runs are not on its stack
    (their buffers are the parent's); the innermost one becomes the child's default parent."""
    cur = active_run()
    _stack.set(())
    if cur is not None:
        os.environ["NBTRACK_PARENT_RUN"] = cur.id


os.register_at_fork(after_in_child=_after_fork_in_child)


def default_parent() -> str | None:
    """The id a new run takes as parent: the active run's, else ``NBTRACK_PARENT_RUN``."""
    cur = active_run()
    return cur.id if cur is not None else os.environ.get("NBTRACK_PARENT_RUN") or None
