"""Which discovered workspaces may be used: git's ``safe.directory``, for ``.nbtrack``.

A ``.nbtrack`` folder found by walking up from the working directory decides
where runs, sources, artifacts and data go (its ``config.toml`` may point them at
any folder or database) and which approved notebooks ``nbtrack run`` executes.
Anyone who can create or change that folder therefore gets everything recorded
below it. A discovered folder is used only when it, and its ``config.toml``, are
owned by the current user and writable by nobody else (a group-writable folder is
accepted when the group is the owner's personal group, as with umask 002); other
folders are refused with one line saying how to allow them:

* ``NBTRACK_SAFE_DIRECTORIES``: workspace folders (``os.pathsep``-separated), or ``*``;
* ``safe_directories = [...]`` in ``~/.config/nbtrack/config.toml`` (``$XDG_CONFIG_HOME``).

A workspace named explicitly (``NBTRACK_URI``, ``nbtrack.init(path)``) is the
user's own choice and is not checked.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from .errors import StoreUnavailable


def check_discovered(folder: Path) -> None:
    """Raise StoreUnavailable if ``folder`` (a discovered ``.nbtrack``) is not safe to use."""
    problem = _problem(folder) or _problem(folder / "config.toml", missing_ok=True)
    if problem is None or _allowed(folder):
        return
    raise StoreUnavailable(
        f"refusing the workspace {folder}: {problem}, so whoever can write it decides where your runs go. "
        f"If you trust it: export NBTRACK_SAFE_DIRECTORIES={folder} (or add it to safe_directories in "
        f"{user_config()}), or name your own workspace with NBTRACK_URI"
    )


def _problem(path: Path, missing_ok: bool = False) -> str | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None if missing_ok else f"{path} vanished"
    what = path.name if path.name == "config.toml" else "it"
    if st.st_uid != os.geteuid():
        return f"{what} is owned by {_user(st.st_uid)}, not by you ({_user(os.geteuid())})"
    if st.st_mode & stat.S_IWOTH:
        return f"{what} is writable by every user"
    if st.st_mode & stat.S_IWGRP and not _personal_group(st.st_gid, st.st_uid):
        return f"{what} is writable by the group {_group(st.st_gid)}"
    return None


def _allowed(folder: Path) -> bool:
    entries = [e for e in os.environ.get("NBTRACK_SAFE_DIRECTORIES", "").split(os.pathsep) if e]
    entries += _configured()
    for e in entries:
        if e == "*":
            return True
        p = Path(e).expanduser()
        if p.name != ".nbtrack" and (p / ".nbtrack") == folder:
            return True
        if p == folder:
            return True
    return False


def user_config() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "nbtrack" / "config.toml"


def _configured() -> list[str]:
    cfg = user_config()
    if not cfg.is_file():
        return []
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        import tomli as tomllib
    try:
        value = tomllib.loads(cfg.read_text()).get("safe_directories", [])
    except Exception:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def _user(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (KeyError, ImportError):
        return f"uid {uid}"


def _group(gid: int) -> str:
    try:
        import grp

        return grp.getgrgid(gid).gr_name
    except (KeyError, ImportError):
        return str(gid)


def _personal_group(gid: int, uid: int) -> bool:
    """A user-private group (same name as its owner, nobody else in it), as umask 002 setups use."""
    try:
        import grp
        import pwd

        g, u = grp.getgrgid(gid), pwd.getpwuid(uid)
    except (KeyError, ImportError):
        return False
    return g.gr_name == u.pw_name and set(g.gr_mem) <= {u.pw_name}
