"""One way to start a real ``jupyter server`` / ``jupyter lab`` for tests (token auth, 127.0.0.1).

Used by the REST tests (``tests/jupyter/labserver.py``), the sidebar tests
(``tests/browser/labbrowser.py``) and the widget-in-JupyterLab test
(``tests/ui/test_browser_lab.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

TOKEN = "nbtrack-test-token"
# Debian's chromium, driven by Playwright (no browser download)
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROME_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quiet_lab_settings(scratch: Path) -> dict[str, str]:
    """Environment for a lab with its own settings and workspaces, and no "Jupyter news?" toast."""
    settings = scratch / "lab_settings"
    notif = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notif.parent.mkdir(parents=True, exist_ok=True)
    notif.write_text(json.dumps({"fetchNews": "false"}))
    return {"JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(scratch / "lab_workspaces")}


def start_jupyter(app: str, root: Path, log: Path, *, env: dict[str, str] | None = None,
                  extension: bool | None = True, timeout: float = 90) -> tuple[str, subprocess.Popen]:
    """Start ``jupyter <app>`` (``server`` or ``lab``) over ``root``; return (base URL, process).

    ``env``: variables on top of this process's environment minus ``NBTRACK_*`` and
    ``JPY_*`` (so a test's own workspace never leaks in unless it is given here).
    ``extension``: enable/disable the nbtrack server extension, or None to leave the
    installed configuration alone. Waits until ``/api/status`` answers.
    """
    port = free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith(("NBTRACK_", "JPY_"))}
    full.update(env or {})
    cmd = [sys.executable, "-m", "jupyter", app, "--no-browser", "--allow-root", f"--port={port}",
           "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}"]
    if app == "lab":
        cmd.append("--LabApp.news_url=None")
    if extension is not None:
        cmd.append(f"--ServerApp.jpserver_extensions={{'nbtrack.jupyter': {extension}}}")
    proc = subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=full, cwd=root)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            req = urllib.request.Request(f"{base}/api/status", headers={"Authorization": f"token {TOKEN}"})
            urllib.request.urlopen(req, timeout=2).read()
            return base, proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"jupyter {app} did not start:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.3)


def stop_process(proc: subprocess.Popen, timeout: float = 20) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
