"""``nbtrack doctor``: check the install and the workspace, one line per check.

Each check says ok / warn / FAIL and, when not ok, what to do. The exit code is 1
when a check fails (warnings alone exit 0), so the command also works in CI.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

from . import cli
from .output import echo

OK, WARN, FAIL = "ok", "warn", "FAIL"

# extra -> (import name, what it enables)
EXTRAS = {
    "postgres": ("psycopg", "PostgreSQL metadata store"),
    "s3": ("s3fs", "S3-compatible object store"),
    "dask": ("distributed", "sweeps and batch scoring on a Dask cluster"),
}


def _labextension_dirs() -> list[Path]:
    """Where JupyterLab looks for prebuilt extensions (ours is ``nbtrack-labextension``)."""
    dirs = [Path(sysconfig.get_path("data")) / "share" / "jupyter" / "labextensions"]
    try:
        from jupyter_core.paths import jupyter_path

        dirs += [Path(p) for p in jupyter_path("labextensions")]
    except Exception:  # jupyter_core is a dependency; a broken one is reported by its own check
        pass
    return dirs


def check_labextension() -> tuple[str, str]:
    for d in _labextension_dirs():
        ext = d / "nbtrack-labextension"
        if (ext / "package.json").exists():
            built = any((ext / "static").glob("remoteEntry*.js")) if (ext / "static").is_dir() else False
            if built:
                return OK, f"JupyterLab sidebar installed ({ext})"
            return FAIL, (f"JupyterLab sidebar at {ext} has no built assets: "
                          "run `jlpm build` in labextension/ (needs Node.js)")
    return WARN, ("JupyterLab sidebar not built (installed without Node.js?): install Node.js and "
                  "re-run `pip install -e .`, or install a wheel; Python features work without it")


def check_server_extension() -> tuple[str, str]:
    try:
        from jupyter_core.paths import jupyter_config_path
    except Exception as e:
        return WARN, f"cannot read Jupyter config paths: {e}"
    for d in jupyter_config_path():
        f = Path(d) / "jupyter_server_config.d" / "nbtrack.json"
        if f.is_file():
            try:
                enabled = json.loads(f.read_text())["ServerApp"]["jpserver_extensions"].get("nbtrack.jupyter")
            except Exception:
                enabled = None
            if enabled:
                return OK, f"Jupyter server extension enabled ({f})"
            return WARN, f"Jupyter server extension disabled in {f}: `jupyter server extension enable nbtrack.jupyter`"
    return WARN, "Jupyter server extension not configured: `jupyter server extension enable nbtrack.jupyter`"


def check_kernel() -> tuple[str, str]:
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        spec = KernelSpecManager().get_kernel_spec("python3")
    except Exception as e:
        return FAIL, f"no python3 Jupyter kernel: {e} (pip install ipykernel)"
    exe = spec.argv[0]
    if exe in ("python", "python3") or Path(exe).resolve() == Path(sys.executable).resolve():
        return OK, "python3 kernel runs this Python (it sees nbtrack and the same workspace rules)"
    return WARN, f"python3 kernel runs {exe}, not {sys.executable}: install nbtrack in that environment too"


def check_workspace() -> tuple[str, str]:
    from .. import workspace as ws_mod

    try:
        meta, objects, folder, exists = ws_mod.resolve()
    except Exception as e:
        return FAIL, str(e)
    if not exists:
        return WARN, f"no workspace yet ({folder} is created on the first tracked cell, or `nbtrack init`)"
    try:
        ws = ws_mod.get_workspace()
        rev = ws.meta.current_revision()
    except Exception as e:
        return FAIL, f"workspace {folder or meta} cannot be opened: {e}"
    where = folder or meta
    if folder and not os.access(folder, os.W_OK):
        return WARN, f"workspace {where} is read-only for this user: reads work, tracking will warn"
    return OK, f"workspace {where} (schema {rev or 'not created yet'})"


def _extra_check(extra: str, module: str, what: str) -> Callable[[], tuple[str, str]]:
    def check() -> tuple[str, str]:
        if importlib.util.find_spec(module) is not None:
            return OK, f"[{extra}] {what}"
        return WARN, f"[{extra}] not installed: {what} needs `pip install \"nbtrack[{extra}]\"`"
    check.__name__ = f"check_extra_{extra}"
    return check


def checks() -> list[Callable[[], tuple[str, str]]]:
    return [check_workspace, check_kernel, check_server_extension, check_labextension,
            *(_extra_check(extra, mod, what) for extra, (mod, what) in EXTRAS.items())]


@cli.command()
def doctor() -> None:
    """Check the install and the workspace: one line per check, exit 1 if one fails."""
    from .. import __version__

    echo(f"nbtrack {__version__} on Python {sys.version.split()[0]} ({sys.executable})")
    failed = False
    for check in checks():
        try:
            status, message = check()
        except Exception as e:  # a check must never crash the doctor
            status, message = FAIL, f"{check.__name__}: {e}"
        failed |= status == FAIL
        echo(f"{status:>4}  {message}")
    sys.exit(1 if failed else 0)
