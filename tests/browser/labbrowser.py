"""Helpers for the end-to-end tests: ``jupyter lab`` (token, 127.0.0.1) and page actions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from jupyterproc import CHROME_ARGS, CHROMIUM, TOKEN, quiet_lab_settings, start_jupyter, stop_process  # noqa: F401
PANEL_TAB = '.jp-SideBar.jp-mod-left [data-id="nbtrack-versions"]'


class Lab:
    def __init__(self, root: Path, base: str, proc: subprocess.Popen, log: Path) -> None:
        self.root, self.base, self.proc, self.log = root, base, proc, log

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}/{path}{sep}token={TOKEN}"

    def stop(self) -> None:
        stop_process(self.proc)


def start_lab(root: Path, scratch: Path) -> Lab:
    """``jupyter lab`` on a free port with isolated settings (no news toast)."""
    scratch.mkdir(parents=True, exist_ok=True)
    log = scratch / f"lab-{os.getpid()}-{len(list(scratch.glob('lab-*.log')))}.log"
    base, proc = start_jupyter("lab", root, log, env=quiet_lab_settings(scratch))
    return Lab(root, base, proc, log)


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
