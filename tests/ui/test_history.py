"""Cell history: %track_history's output and the browser's Cell history tab."""

from __future__ import annotations

import re

import pytest

from nbtrack import ui
from nbtrack.errors import InvalidInput, NotFound
from nbtrack.ui.cell_history import resolve_cell

from .conftest import BIG_NOTEBOOK


def test_resolve_cell_by_label_run_name_key_or_last(small):
    assert resolve_cell("train", "small.ipynb") == "small.ipynb::train"
    assert resolve_cell("small.ipynb::prep") == "small.ipynb::prep"
    assert resolve_cell(None, "small.ipynb") == "small.ipynb::prep"  # the last tracked cell
    assert resolve_cell("prep", "elsewhere.ipynb") == "small.ipynb::prep"  # by run name, any notebook
    with pytest.raises(NotFound, match="no tracked cell named 'nope'"):
        resolve_cell("nope", "small.ipynb")


def test_history_lists_versions_with_metrics_and_diffs_the_last_two(small):
    v1, v2, v3, _ = small
    out = ui.history("train", notebook="small.ipynb")
    text = repr(out)
    assert text.startswith("Cell history \u00b7 small.ipynb::train \u00b7 3 versions")
    rows = [line.split() for line in text.splitlines()[3:6]]
    assert [r[0] for r in rows] == ["v1", "v2", "v3"] and [r[1] for r in rows] == [v[:8] for v in (v1, v2, v3)]
    assert [r[-2] for r in rows] == ["0.7", "0.75", "1"]  # acc of each version (last value)
    assert "-epochs = 3" in text and "+epochs = 5" in text and "+print('done')" in text
    html = out._repr_html_()
    assert html.count("<tr") == 4 and 'class="nbtrack-diff"' in html
    assert len(out.data) == 3


def test_history_between_chosen_versions(small):
    out = ui.history("train", notebook="small.ipynb", a=1, b=2)
    assert "-lr = 0.1" in repr(out) and "+lr = 0.05" in repr(out) and "epochs = 5" not in repr(out)
    with pytest.raises(InvalidInput, match="no version 7"):
        ui.history("train", notebook="small.ipynb", b=7)


def test_single_version_shows_its_source(small):
    out = ui.history("prep", notebook="small.ipynb")
    assert repr(out).rstrip().endswith("x = 1") and 'class="nbtrack-source"' in out._repr_html_()


def test_history_tab_diffs_any_two_versions(small):
    v1, v2, v3, _ = small
    b = ui.browser(notebook="small.ipynb")
    b.run_id = v3
    assert b.cell_key == "small.ipynb::train"
    b.view = "history"
    panel = b.history_panel
    assert (panel.a, panel.b) == (v2, v3)
    assert [o[1] for o in panel.w_a.options] == [v1, v2, v3]
    assert "+ epochs = 5" in re.sub(r"<[^>]+>", "", panel.diff_html)
    panel.a = v1
    plain = re.sub(r"<[^>]+>", "", panel.diff_html)
    assert "- lr = 0.1" in plain and "+ lr = 0.05" in plain
    assert panel.w_versions.value.count("#ddf4ff") == 2  # the two compared versions are marked
    panel.mode = "source"
    assert 'class="nbtrack-source"' in panel.diff_html and "print" in panel.diff_html
    panel.w_open.click()
    assert b.run_id == v3 and b.view == "run"


def test_history_tab_of_a_cell_with_10000_versions_lists_the_newest(big):
    b = ui.browser(notebook=BIG_NOTEBOOK, view="history")
    b.run_id = b.rows[0]
    b.view = "history"
    panel = b.history_panel
    assert len(panel.records) == 200 and panel.records[-1]["cell_version"] == 10_000
    assert "10000 versions (newest 200 shown)" in panel.w_title.value
