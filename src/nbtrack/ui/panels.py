"""The browser's "Cell history" and "Compare" tabs."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import traitlets

import nbtrack

from . import cell_history as history, comparison as compare, plots
from .diff import diff_html, source_html
from .html import esc, figure_png, table
from .panel import Panel, button, hint


class HistoryPanel(Panel):
    """Every version of the browser's ``cell_key``: metrics per version and a diff of two versions.

    ``a`` and ``b`` are the run ids of the two versions; ``mode`` is ``"diff"``
    (unified diff a -> b) or ``"source"`` (the whole source of ``b``).
    """

    a = traitlets.Unicode(None, allow_none=True)
    b = traitlets.Unicode(None, allow_none=True)
    mode = traitlets.Enum(("diff", "source"), default_value="diff")

    def __init__(self, browser) -> None:
        super().__init__(browser)
        self.records: list[dict] = []
        self.frame: Any = None  # the DataFrame of versions shown
        self.busy = False

    def build(self) -> None:
        self.w_title = widgets.HTML()
        self.w_versions = widgets.HTML()
        self.w_a = widgets.Dropdown(description="from", layout=widgets.Layout(width="330px"),
                                    style={"description_width": "40px"})
        self.w_b = widgets.Dropdown(description="to", layout=widgets.Layout(width="330px"),
                                    style={"description_width": "40px"})
        self.w_mode = widgets.ToggleButtons(options=[("diff", "diff"), ("source of 'to'", "source")],
                                            style={"button_width": "auto"})
        self.w_body = widgets.HTML()
        for w, name in ((self.w_a, "a"), (self.w_b, "b"), (self.w_mode, "mode")):
            widgets.link((w, "value"), (self, name))
        self.w_open = button("open 'to' run", lambda: self.browser.open_run(self.b))

    def render(self) -> None:
        key = self.browser.cell_key
        if not key:
            self.records = []
            self.children = [hint("Tick a run (or pick one in the Run tab) to see the history of its cell.")]
            return
        self.frame = history.versions(key)
        self.records = self.frame.to_dict("records")
        total = nbtrack.count_runs(cell_key=key)
        shown = f" (newest {len(self.records)} shown)" if total > len(self.records) else ""
        self.w_title.value = f"<b>{esc(key)}</b> \u00b7 {total} version{'s' * (total != 1)}{shown}"
        options = [(history.version_label(r), r["id"]) for r in self.records]
        self.busy = True
        try:
            self.w_a.options = self.w_b.options = options
            if options:
                self.a = options[-2][1] if len(options) > 1 else options[-1][1]
                self.b = options[-1][1]
        finally:
            self.busy = False
        self.children = [self.w_title, self.w_versions,
                         widgets.HBox([self.w_a, self.w_b, self.w_mode, self.w_open]), self.w_body]
        self.draw_body()

    def draw_body(self) -> None:
        """Redraw the versions table (a and b marked) and the diff or source."""
        headers, html_rows, _ = history.versions_rows(self.frame)
        styles = ["background:#ddf4ff" if r["id"] in (self.a, self.b) else "" for r in self.records]
        self.w_versions.value = table(headers, html_rows, row_styles=styles, attrs='class="nbtrack-versions"')
        if not self.b:
            self.w_body.value = ""
            return
        new = history.source(self.b)
        if self.mode == "source" or not self.a or self.a == self.b:
            self.w_body.value = source_html(new)
            return
        labels = {r["id"]: history.version_label(r) for r in self.records}
        self.w_body.value = diff_html(history.source(self.a), new, labels.get(self.a, self.a),
                                      labels.get(self.b, self.b))

    @traitlets.observe("a", "b", "mode")
    def _changed(self, _change) -> None:
        if self.records and not self.stale and not self.busy:
            self.draw_body()

    @property
    def diff_html(self) -> str:
        """What the panel shows below the selectors (the diff, or the source)."""
        if self.stale or not self.built:  # a hidden tab renders on first use, as it does when shown
            self.refresh()
        return self.w_body.value if self.built else ""


class ComparePanel(Panel):
    """The browser's ``selected_ids`` side by side, with a metric-history and a metric-vs-param plot."""

    metric = traitlets.Unicode(None, allow_none=True)
    param = traitlets.Unicode(None, allow_none=True)

    def __init__(self, browser) -> None:
        super().__init__(browser)
        self.runs: list = []
        self.figures: dict = {}
        self.busy = False

    def build(self) -> None:
        self.w_table = widgets.HTML()
        self.w_metric = widgets.Dropdown(description="metric", layout=widgets.Layout(width="240px"))
        self.w_param = widgets.Dropdown(description="vs param", layout=widgets.Layout(width="240px"))
        widgets.link((self.w_metric, "value"), (self, "metric"))
        widgets.link((self.w_param, "value"), (self, "param"))
        self.w_history = widgets.Image(format="png")
        self.w_scatter = widgets.Image(format="png")

    def render(self) -> None:
        ids = self.browser.selected_ids
        self.runs = compare.load(ids) if ids else []
        self.figures = {}
        if not self.runs:
            self.children = [hint("Tick two or more runs to compare them.")]
            return
        self.w_table.value = compare.compare_html(self.runs)
        metrics, params = compare.plot_choices(self.runs)
        self.busy = True
        try:
            metric, param = self.metric, self.param
            self.w_metric.options, self.w_param.options = metrics, params
            self.metric = metric if metric in metrics else (metrics[0] if metrics else None)
            self.param = param if param in params else compare.default_param(self.runs, params)
        finally:
            self.busy = False
        self.draw_plots()  # before showing the images: an empty image shows as a broken icon
        note = [] if len(self.runs) > 1 else [hint("Tick one more run to compare.")]
        images = [w for w in (self.w_history, self.w_scatter) if w.value]
        self.children = note + [self.w_table, widgets.HBox([self.w_metric, self.w_param]),
                                widgets.HBox(images, layout=widgets.Layout(flex_flow="row wrap"))]

    def draw_plots(self) -> None:
        """Redraw both plots for the chosen metric and param."""
        self.figures = {}
        if self.metric:
            self.figures["history"] = plots.plot_metric_history(self.runs, self.metric)
            if self.param:
                self.figures["scatter"] = plots.plot_metric_vs_param(self.runs, self.metric, self.param)
        self.w_history.value = figure_png(self.figures["history"]) if "history" in self.figures else b""
        self.w_scatter.value = figure_png(self.figures["scatter"]) if "scatter" in self.figures else b""

    @traitlets.observe("metric", "param")
    def _changed(self, _change) -> None:
        if self.runs and not self.stale and not self.busy:
            self.draw_plots()

    @property
    def table_html(self) -> str:
        """The comparison table shown (empty before two runs are ticked)."""
        return self.w_table.value if self.runs and self.built else ""
