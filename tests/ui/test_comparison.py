"""%track_compare's output and the comparison table."""

from __future__ import annotations

import re

import pytest

from nbtrack import ui
from nbtrack.errors import InvalidInput, NotFound
from nbtrack.ui import comparison


def rows_by_key(html: str) -> dict[str, tuple[str, list[str]]]:
    """key -> (row style, cell texts) of the comparison table."""
    out = {}
    for style, body in re.findall(r'<tr style="([^"]*)">(.*?)</tr>', html):
        cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", body)]
        out[(cells[0], cells[1])] = (style, cells[2:])
    return out


def test_table_puts_params_and_metrics_side_by_side_and_highlights_differences(small):
    v1, v2, v3, _ = small
    runs = comparison.load([v1, v2, v3])
    rows = rows_by_key(comparison.compare_html(runs))
    assert rows[("params", "lr")] == ("background:#fff8c5", ["0.1", "0.05", "0.05"])
    assert rows[("params", "epochs")][1] == ["3", "3", "5"]
    assert rows[("metrics", "acc")] == ("background:#fff8c5", ["0.7", "0.75", "1"])
    two = rows_by_key(comparison.compare_html(comparison.load([v2, v1])))
    assert two[("params", "epochs")] == ("", ["3", "3"])  # equal values are not highlighted


def test_compare_output_renders_as_html_with_plots_and_as_text(small):
    v1, v2, v3, _ = small
    out = ui.compare(v1[:6], v3)
    html = out._repr_html_()
    assert html.count("data:image/png;base64,") == 2  # metric history + metric vs param
    assert 'alt="acc per step"' in html and 'alt="acc vs epochs"' in html
    text = repr(out)
    assert text.splitlines()[0] == "Comparing 2 runs"
    assert re.search(r"^\* params\s+epochs\s+3\s+5$", text, re.M)
    assert re.search(r"^  run\s+status\s+finished\s+finished$", text, re.M)
    assert [r.id for r in out.data] == [v1, v3]


def test_compare_needs_two_known_runs(small):
    with pytest.raises(InvalidInput, match="at least two runs"):
        ui.compare(small[0])
    with pytest.raises(NotFound):
        ui.compare(small[0], "ffffffff")


def test_default_param_is_one_that_differs(small):
    runs = comparison.load(small[:2])
    metrics, params = comparison.plot_choices(runs)
    assert metrics == ["acc", "loss"] and params == ["epochs", "lr"]
    assert comparison.default_param(runs, params) == "lr"
