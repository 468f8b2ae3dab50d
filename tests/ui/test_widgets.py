"""The browser widget against real workspaces, driven through its public traits."""

from __future__ import annotations

import statistics
import time

import pytest

from nbtrack import ui
from nbtrack.ui.widgets import Browser

from .conftest import BIG_NOTEBOOK, BIG_RUNS, big_run

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def names(b: Browser) -> list[str]:
    return list(b.current.frame["name"])


def test_first_page_of_10000_runs_is_fast_and_newest_first(big):
    import ipywidgets  # noqa: F401  (imports are not part of building a page)
    import pandas  # noqa: F401

    times = []
    for _ in range(3):
        t = time.perf_counter()
        b = ui.browser(notebook=BIG_NOTEBOOK)
        times.append((time.perf_counter() - t) * 1000)
    print(f"\nfirst page of {BIG_RUNS} runs built in {', '.join(f'{x:.0f}' for x in times)} ms")
    assert statistics.median(times) < 300, times
    assert b.total == BIG_RUNS
    assert names(b) == [f"run-{i:05d}" for i in range(9999, 9974, -1)]
    assert len(b.w_rows.children) == 25
    html = b.table_html
    assert html.count('class="nbtrack-row"') == 25
    assert "run-09999" in html and "runs 1\u201325 of 10,000" in html and "page 1/400" in html
    # key params and metrics are columns
    assert [c.key for c in ui.table.columns(b.current)][-4:] == ["params.lr", "params.model", "metrics.acc",
                                                                  "metrics.loss"]


def test_rows_show_name_status_time_duration_params_metrics(big):
    b = ui.browser(notebook=BIG_NOTEBOOK, page_size=10)
    r = big_run(9993)  # a failed one (i % 10 == 3)
    view = b.row_views[6]
    assert view.run_id == r["id"]
    for text in ("run-09993", "failed", "2023-11-15 00:59:53", ">2.00s<", ">0.001<", ">svm<", ">0.993<", ">0.007<"):
        assert text in view.description, text
    assert "#cf222e" in view.description  # failed in red


def test_paging_never_loads_more_than_a_page(big):
    b = ui.browser(notebook=BIG_NOTEBOOK, page_size=50)
    b.page = 3
    assert len(b.rows) == 50
    assert names(b)[0] == f"run-{9999 - 150:05d}"
    b.w_next.click()
    assert b.page == 4 and names(b)[0] == f"run-{9999 - 200:05d}"
    b.w_prev.click()
    assert b.page == 3
    b.page = 10_000  # clamped to the last page
    assert b.page == 199 and names(b)[-1] == "run-00000" and b.w_next.disabled


def test_filter_by_text_status_and_metric_expression(big):
    b = ui.browser(notebook=BIG_NOTEBOOK)
    b.page = 2
    b.filter_text = "run-0999"
    assert b.page == 0  # a new query starts at the first page
    assert b.total == 10 and names(b)[0] == "run-09999" and names(b)[-1] == "run-09990"
    b.filter_text = ""
    b.status_filter = "failed"
    assert b.total == 1000 and set(b.current.frame["status"]) == {"failed"}
    b.metric_filter = "metrics.acc >= 0.99 and params.model == 'svm'"
    # failed: i % 10 == 3 (odd: svm); acc >= 0.99: i % 1000 in 990..999 -> 993 in each thousand
    assert b.total == 10 and set(names(b)) == {f"run-{k * 1000 + 993:05d}" for k in range(10)}
    assert b.message == ""


def test_bad_metric_expression_is_reported_not_raised(big):
    b = ui.browser(notebook=BIG_NOTEBOOK)
    b.metric_filter = "metrics.acc >"
    assert "not a valid expression" in b.message
    assert b.rows == [] and b.total == 0
    assert "not a valid expression" in b.w_message.value
    b.metric_filter = "metrics.acc > 0.998"
    assert b.message == "" and b.total == 10


def test_sort_by_any_column(big):
    b = ui.browser(notebook=BIG_NOTEBOOK, page_size=5)
    b.sort_by = "-metrics.acc"
    accs = list(b.current.frame["metrics.acc"])
    assert accs == [0.999] * 5
    b.sort_by = "metrics.loss desc"
    assert list(b.current.frame["metrics.loss"]) == [1.0] * 5
    b.sort_by = "name"
    assert names(b) == ["run-00000", "run-00001", "run-00002", "run-00003", "run-00004"]
    assert "name \u25b2" in b.w_header.value
    assert b.w_sort.value == "name" and b.w_desc.value is False
    b.w_desc.value = True  # the toolbar drives the trait
    assert b.sort_by == "-name" and names(b)[0] == "run-09999"
    b.w_sort.value = "params.lr"
    assert b.sort_by == "-params.lr" and set(b.current.frame["params.lr"]) == {0.1}


def test_notebook_scope_and_all_notebooks(big, monkeypatch):
    monkeypatch.setenv("NBTRACK_NOTEBOOK", "other.ipynb")
    b = ui.browser()
    assert b.notebook == "other.ipynb" and b.total == 0 and "no runs" not in b.message
    b.w_all.value = True
    assert b.notebook == "" and b.total == BIG_RUNS


def test_selecting_runs_fills_the_comparison(big):
    b = ui.browser(notebook=BIG_NOTEBOOK, page_size=10)
    b.row_views[0].value = True  # tick run 9999 and 9998 in the table
    b.row_views[1].value = True
    assert b.selected_ids == [big_run(9999)["id"], big_run(9998)["id"]]
    assert b.run_id == big_run(9998)["id"]  # the last ticked run is shown in the Run tab
    assert b.w_tabs.get_title(2) == "Compare (2)"
    b.view = "compare"
    assert b.w_tabs.selected_index == 2
    html = b.compare_panel.table_html
    assert "run-09999" in html and "run-09998" in html and "0.999" in html and "0.998" in html
    assert set(b.compare_panel.figures) == {"history", "scatter"}
    b.page = 1  # the selection survives paging
    assert all(not v.value for v in b.row_views if v.run_id)
    b.page = 0
    assert b.row_views[0].value and b.row_views[1].value
    b.selected_ids = []
    assert not b.row_views[0].value and b.compare_panel.table_html == ""


def test_run_tab_shows_the_clicked_run(big):
    b = ui.browser(notebook=BIG_NOTEBOOK, page_size=10)
    rid = big_run(9995)["id"]
    b.run_panel.w_pick.value = rid
    assert b.run_id == rid and b.view == "run"
    html = b.run_panel.w_details.value
    assert "run-09995" in html and "lr" in html and "0.995" in html
    assert b.cell_key == f"{BIG_NOTEBOOK}::train"


def test_panels_render_only_when_shown(big, monkeypatch):
    b = ui.browser(notebook=BIG_NOTEBOOK, page_size=10)
    calls = []
    monkeypatch.setattr(type(b.compare_panel), "render", lambda self: calls.append(1))
    b.selected_ids = b.rows[:2]
    assert calls == [] and b.compare_panel.stale
    b.view = "compare"
    assert calls == [1]


def test_fallback_html_for_frontends_without_widgets(big):
    b = ui.browser(notebook=BIG_NOTEBOOK, page_size=5)
    bundle = b._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/html"].count('class="nbtrack-row"') == 5
    assert "run-09999" in bundle["text/plain"] and "of 10,000" in bundle["text/plain"]


def test_no_workspace_yet_is_a_message(tmp_path, monkeypatch):
    from nbtrack import workspace as ws_mod

    ws_mod.reset_cache()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NBTRACK_URI", raising=False)
    b = ui.browser(notebook="x.ipynb")
    assert b.message.startswith("NotFound: no nbtrack workspace") and b.rows == []
    assert not (tmp_path / ".nbtrack").exists()  # browsing never creates one
