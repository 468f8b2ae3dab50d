"""The drift view of a ``monitor`` run in the version browser: the per-feature table and
the plots (PSI bars, reference vs current per feature), drawn from its ``drift.json``."""

from __future__ import annotations

import io
import json
from typing import Any

import ipywidgets as widgets

ARTIFACT = "drift.json"


def drift_document(run: Any) -> dict | None:
    """The stored drift report of a run (None for other runs)."""
    if getattr(run, "kind", None) != "monitor" or not any(a.get("name") == ARTIFACT for a in run.artifacts):
        return None
    try:
        return json.loads(run.artifact(ARTIFACT))
    except (ValueError, KeyError):
        return None


def drift_png(doc: dict) -> bytes:
    from ..monitor.report import plot_dict

    fig = plot_dict(doc, max_features=8, pyplot=False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72)
    return buf.getvalue()


def drift_widgets(run: Any) -> list:
    """``[table, plots]`` for a drift run; ``[]`` for any other run."""
    doc = drift_document(run)
    if doc is None:
        return []
    from ..monitor.report import html_table

    return [widgets.HTML(html_table(doc)),
            widgets.Image(value=drift_png(doc), format="png", layout=widgets.Layout(max_width="900px"))]
