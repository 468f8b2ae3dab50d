"""Every run status the store can hold has a place in every reader: the browser's filter,
its colours and marks, the sidebar's styles."""

from __future__ import annotations

import re
from pathlib import Path

from nbtrack.store.runs import RUN_STATUSES
from nbtrack.ui import html, pages, summary

ROOT = Path(__file__).resolve().parents[2]


def test_browser_knows_every_status():
    assert set(pages.STATUSES) == set(RUN_STATUSES)
    assert set(html.STATUS_COLORS) == set(RUN_STATUSES)
    assert set(summary.MARKS) <= set(RUN_STATUSES)


def test_sidebar_styles_every_status():
    css = (ROOT / "labextension" / "style" / "base.css").read_text()
    styled = set(re.findall(r"\.nbtrack-status-([a-z_]+)", css))
    assert set(RUN_STATUSES) <= styled, set(RUN_STATUSES) - styled


def test_statuses_written_by_the_code_are_known():
    """A status literal written anywhere in src (status="x" / "status": "x") is in RUN_STATUSES."""
    src = ROOT / "src" / "nbtrack"
    written = set()
    for path in src.rglob("*.py"):
        if path.parts[-2] in ("jupyter",) or path.name.startswith("_fork"):
            continue
        text = path.read_text()
        written |= set(re.findall(r"""\bstatus\s*=\s*["']([a-z_]+)["']""", text))
    # statuses of other things (approvals, serving, monitor checks) share the keyword
    other = {"approved", "revoked", "ok", "alert", "error", "pending", "text", "warn"}
    assert written - other <= set(RUN_STATUSES), written - other - set(RUN_STATUSES)


def test_mlflow_export_maps_every_status():
    from nbtrack.interop.mlflow_common import FROM_MLFLOW, TO_MLFLOW

    assert set(TO_MLFLOW) == set(RUN_STATUSES)
    assert set(FROM_MLFLOW.values()) <= set(RUN_STATUSES)
