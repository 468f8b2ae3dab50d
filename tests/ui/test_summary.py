"""The one-line run summary."""

from __future__ import annotations

import sys

import ipywidgets as widgets

import nbtrack
from nbtrack.ui import summary
from nbtrack.ui.widgets import Browser


def test_summary_line(small):
    run = nbtrack.get_run(small[2])
    text = summary.summary_text(run)
    assert text.startswith(f"\u2713 run {run.id[:8]} train \u00b7 v3 \u00b7 ")
    assert "params: epochs=5, lr=0.05" in text and "metrics: acc=1, loss=0.2" in text
    html = summary.summary_html(run)
    assert f'data-run-id="{run.id}"' in html and "#1a7f37" in html


def test_summary_widget_opens_the_browser_on_the_run(small):
    run = nbtrack.get_run(small[2])
    box = summary.summary_widget(run)
    assert isinstance(box, widgets.VBox) and len(box.children) == 1
    bundle = box._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and "nbtrack-summary" in bundle["text/html"]
    button = box.children[0].children[1]
    button.click()
    browser = box.children[1]
    assert isinstance(browser, Browser) and browser.run_id == run.id and browser.notebook == "small.ipynb"
    assert "train" in browser.run_panel.w_details.value
    button.click()
    assert len(box.children) == 1


def test_show_summary_displays_a_widget_or_html(small, monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: shown.append((a, k)))
    summary.show_summary(small[0])
    assert isinstance(shown[-1][0][0], widgets.VBox)
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # no widgets installed
    summary.show_summary(small[0])
    (bundle,), kwargs = shown[-1]
    assert kwargs == {"raw": True} and "nbtrack-summary" in bundle["text/html"]
    assert bundle["text/plain"].startswith("\u2713 run ")
