"""A drift check (a ``monitor`` run) shows its table and plots in the browser's Run tab."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import pandas as pd
import pytest

import nbtrack
from nbtrack.ui.widgets import Browser

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_monitor_run_shows_drift_table_and_plots(workspace):
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=2000), "c": rng.choice(list("abc"), 2000)})
    nbtrack.snapshot(ref, "ref")
    cur = ref.assign(x=ref["x"] + 1)
    report = nbtrack.drift("ref@1", cur)
    b = Browser(notebook="")
    b.run_id = report.run_id
    panel = b.run_panel
    panel.render()
    html = [w.value for w in panel.children if isinstance(w, widgets.HTML)]
    assert any("drift of DataFrame vs ref@1: 1/2 features drifted" in h and "PSI" in h for h in html)
    images = [w for w in panel.children if isinstance(w, widgets.Image)]
    assert images and images[0].value[:4] == b"\x89PNG"
    b.run_id = nbtrack.validate(cur, "ref@1").run_id  # another monitor run: no drift view
    panel.render()
    assert not [w for w in panel.children if isinstance(w, widgets.Image)]
