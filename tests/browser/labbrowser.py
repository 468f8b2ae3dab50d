"""Helpers for the end-to-end tests: ``jupyter lab`` (token, 127.0.0.1) and page actions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from labserver import TOKEN, free_port

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROME_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--no-first-run"]
PANEL_TAB = '.jp-SideBar.jp-mod-left [data-id="nbtrack-versions"]'


class Lab:
    def __init__(self, root: Path, base: str, proc: subprocess.Popen, log: Path) -> None:
        self.root, self.base, self.proc, self.log = root, base, proc, log

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}/{path}{sep}token={TOKEN}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_lab(root: Path, scratch: Path) -> Lab:
    """``jupyter lab`` on a free port with isolated settings (no news toast)."""
    port = free_port()
    settings = scratch / "lab_settings"
    notif = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notif.parent.mkdir(parents=True, exist_ok=True)
    notif.write_text(json.dumps({"fetchNews": "false"}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NBTRACK_", "JPY_"))}
    env.update(JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(scratch / "lab_workspaces"))
    log = scratch / f"lab-{port}.log"
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", f"--port={port}",
           "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
           "--LabApp.news_url=None", "--ServerApp.jpserver_extensions={'nbtrack.jupyter': True}"]
    proc = subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env, cwd=root)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            req = urllib.request.Request(f"{base}/api/status", headers={"Authorization": f"token {TOKEN}"})
            urllib.request.urlopen(req, timeout=2).read()
            return Lab(root, base, proc, log)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"jupyter lab did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)


def labextension_installed() -> bool:
    r = subprocess.run([sys.executable, "-m", "jupyter", "labextension", "list"], capture_output=True, text=True)
    return "nbtrack-labextension" in r.stdout + r.stderr


def open_notebook(page, lab: Lab, path: str) -> None:
    """Open ``lab/tree/<path>``; accept JupyterLab 4.6's kernel dialog; wait for an idle kernel."""
    from playwright.sync_api import expect

    page.goto(lab.url(f"lab/tree/{path}"))
    idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").or_(
        page.get_by_text("Python 3 (ipykernel) | Idle"))
    accept = page.locator(".jp-Dialog .jp-mod-accept")
    expect(idle.first.or_(accept)).to_be_visible(timeout=90_000)
    if accept.is_visible():
        accept.click()
    expect(idle.first).to_be_visible(timeout=90_000)


def open_panel(page) -> None:
    from playwright.sync_api import expect

    tab = page.locator(PANEL_TAB)
    expect(tab).to_be_visible(timeout=60_000)
    if "lm-mod-current" not in (tab.get_attribute("class") or ""):
        tab.click()
    expect(page.locator("#nbtrack-versions")).to_be_visible()
