"""The environment fingerprint: python, platform, installed packages, git state.

Computed once per process (in a background thread when the extension loads),
stored once as an object, referenced by hash from every run.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
from typing import Any

_result: dict[str, Any] | None = None
_thread: threading.Thread | None = None
_lock = threading.Lock()


def _git(cwd: str, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_state(cwd: str | None = None) -> tuple[str | None, bool | None]:
    cwd = cwd or os.getcwd()
    commit = _git(cwd, "rev-parse", "HEAD")
    if not commit:
        return None, None
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no")
    return commit, bool(status)


def distributions() -> dict[str, str]:
    """Installed distributions and versions, from the names of ``*.dist-info`` folders.

    Reading every package's METADATA file (importlib.metadata) costs ~0.3 s with
    a few hundred packages; the folder names carry the same name and version.
    ``.egg-info`` folders (old-style installs) are read through importlib.metadata.
    """
    out: dict[str, str] = {}
    eggs = False
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for n in names:
            if n.endswith(".dist-info"):
                name, sep, version = n[: -len(".dist-info")].partition("-")
                if sep:
                    out.setdefault(name.lower().replace("_", "-"), version)
            elif n.endswith(".egg-info"):
                eggs = True
    if eggs or not out:
        from importlib import metadata

        for dist in metadata.distributions():
            name = dist.metadata.get("Name")  # type: ignore[attr-defined]  # typeshed: PackageMetadata lacks .get
            if name:
                out.setdefault(name.lower().replace("_", "-"), dist.version)
    return dict(sorted(out.items()))


def compute() -> dict[str, Any]:
    commit, dirty = git_state()
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "executable": sys.executable,
        "packages": distributions(),
        "git": {"commit": commit, "dirty": dirty},
    }


def _after_fork_in_child() -> None:
    """A fingerprint being computed in the parent's thread is lost in a forked child: the
    child computes it again when asked (a finished one is inherited as is)."""
    global _lock, _thread
    _lock = threading.Lock()
    if _result is None:
        _thread = None


os.register_at_fork(after_in_child=_after_fork_in_child)


def start_background() -> None:
    """Begin computing the fingerprint without blocking the caller."""
    global _thread
    with _lock:
        if _result is not None or _thread is not None:
            return
        _thread = threading.Thread(target=_compute_into_cache, name="nbtrack-env", daemon=True)
        _thread.start()


def _compute_into_cache() -> None:
    global _result
    try:
        res = compute()
    except Exception as e:  # never let a fingerprint failure surface in a cell
        res = {"error": f"{type(e).__name__}: {e}"}
    _result = res


def fingerprint(timeout: float = 30.0) -> dict[str, Any]:
    """The fingerprint of this process (computed at most once)."""
    if _result:  # computed: no lock, no thread to wait for (every run asks)
        return _result
    start_background()
    if _thread is not None:
        _thread.join(timeout)
    return _result or {"error": "timed out computing the environment"}


def use(fp: dict[str, Any]) -> None:
    """Take ``fp`` as this process's fingerprint when it has none yet (and is not computing one):
    a sweep's forked worker gets the one its parent computed."""
    global _result
    with _lock:
        if _result is None and _thread is None:
            _result = fp


def encode(fp: dict[str, Any]) -> bytes:
    return json.dumps(fp, sort_keys=True, separators=(",", ":")).encode()
