"""Filter/order expressions and paging for the browser."""

from __future__ import annotations

import pytest

import nbtrack
from nbtrack.ui import pages

from .conftest import BIG_NOTEBOOK


def test_field_ref_quotes_keys_that_are_not_identifiers():
    assert pages.field_ref("metrics.acc") == "metrics.acc"
    assert pages.field_ref("metrics.val/acc") == "metrics['val/acc']"
    assert pages.field_ref("duration") == "duration"


@pytest.mark.parametrize("sort_by, expected", [
    ("-started", ("started", True)), ("name", ("name", False)), ("metrics.acc desc", ("metrics.acc", True)),
    ("", ("started", True)), ("params.lr asc", ("params.lr", False)),
])
def test_parse_sort(sort_by, expected):
    assert pages.parse_sort(sort_by) == expected


def test_build_filter_combines_the_three_boxes():
    assert pages.build_filter() is None
    assert pages.build_filter(status="failed") == "status == 'failed'"
    f = pages.build_filter("tr'ain", "finished", "metrics.acc > 0.5")
    assert f == "(\"tr'ain\" in name or \"tr'ain\" in id) and (status == 'finished') and (metrics.acc > 0.5)"


def test_filters_run_in_the_database(big):
    f = pages.build_filter("run-0000", "", "metrics['acc'] < 0.005")
    assert nbtrack.count_runs(filter=f, notebook=BIG_NOTEBOOK) == 5
    page = pages.fetch_page(BIG_NOTEBOOK, f, "name", 0, 3)
    assert list(page.frame["name"]) == ["run-00000", "run-00001", "run-00002"] and page.total == 5
    assert page.pages == 2


def test_key_columns_prefer_the_sorted_one(big):
    page = pages.fetch_page(BIG_NOTEBOOK, None, "-metrics.loss", 0, 5, max_metrics=1)
    assert page.metrics == ["metrics.loss"]
    assert pages.fetch_page(BIG_NOTEBOOK, None, "-started", 0, 5, max_metrics=1).metrics == ["metrics.acc"]


def test_the_expression_box_cannot_escape_the_other_filters(big):
    from nbtrack.errors import InvalidInput

    with pytest.raises(InvalidInput, match="not a valid expression"):
        pages.page_filter("run-0000", "", "metrics.acc > 0) or (name is not None")
    both = pages.page_filter("run-0000", "", "metrics['acc'] < 0.005")
    assert both.text == "('run-0000' in name or 'run-0000' in id) and (metrics['acc'] < 0.005)"
    finished = pages.fetch_page(BIG_NOTEBOOK, both, "name", 0, 3, status="finished").total
    failed = pages.fetch_page(BIG_NOTEBOOK, both, "name", 0, 3, status="failed").total
    assert finished + failed == pages.fetch_page(BIG_NOTEBOOK, both, "name", 0, 3).total == 5 and failed
