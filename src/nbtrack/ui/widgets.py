"""The version browser: a paged, filterable, sortable table of runs with three tabs.

Drive it from code (or tests) through its traits: ``filter_text``,
``status_filter``, ``metric_filter``, ``sort_by``, ``page``, ``selected_ids``,
``run_id`` and ``view``; read back ``rows``, ``total``, ``message`` and
``table_html``. Each change re-queries one page through ``nbtrack.runs`` and
``nbtrack.count_runs``; nothing ever loads all runs.
"""

from __future__ import annotations

import os
import time

import ipywidgets as widgets
import traitlets
from ipywidgets.widgets.widget_bool import CheckboxStyle

from . import table
from .actions import RunPanel
from .html import esc
from .pages import STATUSES, Page, fetch_page, page_filter, parse_sort, this_notebook

VIEWS = ("run", "history", "compare", "models")
BASE_SORTS = [("started", "started"), ("name", "name"), ("status", "status"),
              ("duration", "duration"), ("cell version", "cell_version")]
ROW_INDENT = 22  # the row checkbox, so the header lines up with the rows


class RowView(widgets.Checkbox):
    """One row of the table: a checkbox whose label is the row's cells.

    Ticking a row adds it to ``selected_ids`` (the comparison) and shows it in
    the Run tab. One widget per row keeps a page cheap to build.
    """

    def __init__(self, browser: Browser, layout: widgets.Layout, style: CheckboxStyle) -> None:
        self.browser, self.run_id = browser, None
        # one shared Layout and style for all rows: fewer objects, a faster first page
        super().__init__(indent=False, description_allow_html=True, layout=layout, style=style)
        self.observe(self._checked, "value")

    def show(self, record: dict, cols, selected: set[str]) -> None:
        self.run_id = record["id"]
        self.description = table.row_html(cols, record)
        self.tooltip = f"run {self.run_id}: tick to compare it and see it in the Run tab"
        self.value = self.run_id in selected

    def _checked(self, change) -> None:
        if self.run_id is None or self.browser.syncing:
            return
        ids = [i for i in self.browser.selected_ids if i != self.run_id]
        self.browser.selected_ids = ids + [self.run_id] if change["new"] else ids
        if change["new"]:
            self.browser.run_id = self.run_id


class Browser(widgets.VBox):
    """Runs of a notebook (newest first, paged) with run details, cell history and comparison.

    Parameters
    ----------
    notebook : str, optional
        Show this notebook's runs; by default the notebook the kernel runs, or
        every run of the workspace when that is unknown (``notebook=""``).
    page_size : int
        Rows per page.
    restore : callable, optional
        ``restore(run_id)`` for the Run tab's restore button (``%track_browser``
        passes the kernel's ``%track_restore``); no button without it.
    """

    notebook = traitlets.Unicode("")
    filter_text = traitlets.Unicode("")
    status_filter = traitlets.Unicode("")
    metric_filter = traitlets.Unicode("")
    sort_by = traitlets.Unicode("-started")
    page = traitlets.Int(0)
    page_size = traitlets.Int(25)
    selected_ids = traitlets.List(traitlets.Unicode())
    run_id = traitlets.Unicode("")
    cell_key = traitlets.Unicode("")
    view = traitlets.Enum(VIEWS, default_value="run")
    total = traitlets.Int(0, read_only=True)
    message = traitlets.Unicode("", read_only=True)

    def __init__(self, notebook: str | None = None, page_size: int = 25, restore=None, **kwargs) -> None:
        t0 = time.perf_counter()
        self.syncing, self.ready = False, False
        self.restore_fn = restore
        self.current: Page | None = None
        nb = this_notebook() if notebook is None else notebook
        super().__init__(layout=widgets.Layout(width="100%"))
        self._build(nb or "")
        self.set_trait("page_size", page_size)
        self.set_trait("notebook", nb or "")
        for name, value in kwargs.items():  # filter_text=..., sort_by=..., run_id=...
            self.set_trait(name, value)
        self.ready = True
        self.refresh()
        self._panels_for(self.view)
        self.build_ms = (time.perf_counter() - t0) * 1000

    # -- layout ----------------------------------------------------------------------
    def _build(self, nb: str) -> None:
        from .models_panel import ModelsPanel
        from .panels import ComparePanel, HistoryPanel

        small = widgets.Layout(width="auto")
        self.w_text = widgets.Text(placeholder="name or id starts with", continuous_update=False,
                                   layout=widgets.Layout(width="180px"))
        self.w_status = widgets.Dropdown(options=[("any status", "")] + [(s, s) for s in STATUSES],
                                         layout=widgets.Layout(width="130px"))
        self.w_expr = widgets.Text(placeholder="metrics.acc > 0.9 and params.model == 'rf'",
                                   continuous_update=False, layout=widgets.Layout(width="320px"))
        self.w_sort = widgets.Dropdown(options=BASE_SORTS, value="started", description="sort",
                                       layout=widgets.Layout(width="200px"),
                                       style={"description_width": "32px"})
        self.w_desc = widgets.ToggleButton(value=True, description="desc", layout=small)
        self.w_all = widgets.Checkbox(value=not nb, description="all notebooks", indent=False, layout=small)
        for w, name in ((self.w_text, "filter_text"), (self.w_status, "status_filter"),
                        (self.w_expr, "metric_filter")):
            widgets.link((w, "value"), (self, name))
        self.w_sort.observe(self._sort_control, "value")
        self.w_desc.observe(self._sort_control, "value")
        self.w_all.observe(lambda c: setattr(self, "notebook", "" if c["new"] else (nb or "")), "value")
        self.w_title = widgets.HTML()
        self.w_message = widgets.HTML()
        self.w_header = widgets.HTML()
        self.row_views: list[RowView] = []
        self.row_layout, self.row_style = widgets.Layout(width="100%"), CheckboxStyle()
        self.w_rows = widgets.VBox()
        self.w_pager = widgets.HTML()
        self.w_prev = widgets.Button(description="\u25c0 prev", layout=small)
        self.w_next = widgets.Button(description="next \u25b6", layout=small)
        self.w_prev.on_click(lambda _b: setattr(self, "page", max(0, self.page - 1)))
        self.w_next.on_click(lambda _b: setattr(self, "page", self.page + 1))
        self.run_panel, self.history_panel, self.compare_panel, self.models_panel = (
            RunPanel(self), HistoryPanel(self), ComparePanel(self), ModelsPanel(self))
        self.w_tabs = widgets.Tab(children=list(self.panels),
                                  titles=["Run", "Cell history", "Compare", "Models"])
        self.w_tabs.observe(lambda c: setattr(self, "view", VIEWS[c["new"] or 0]), "selected_index")
        toolbar = [self.w_text, self.w_status, self.w_expr, self.w_sort, self.w_desc]
        if nb:
            toolbar.append(self.w_all)
        self.children = [
            self.w_title,
            widgets.HBox(toolbar, layout=widgets.Layout(flex_flow="row wrap")),
            self.w_message, self.w_header, self.w_rows,
            widgets.HBox([self.w_prev, self.w_pager, self.w_next], layout=widgets.Layout(align_items="center")),
            self.w_tabs,
        ]

    # -- the page --------------------------------------------------------------------
    def refresh(self) -> None:
        """Query the current page again and redraw the table."""
        try:
            expr = page_filter(self.filter_text, "", self.metric_filter)
            page = fetch_page(self.notebook or None, expr, self.sort_by, self.page, self.page_size,
                              status=self.status_filter or None)
        except Exception as e:  # a bad filter: say so, show nothing
            self.current = None
            self.set_trait("total", 0)
            self.set_trait("message", f"{type(e).__name__}: {e}")
            self._draw(None)
            return
        self.current = page
        self.set_trait("message", "")
        self.set_trait("total", page.total)
        if page.page != self.page:  # clamped to the last page
            with self.hold_trait_notifications():
                self.syncing = True
                self.page = page.page
                self.syncing = False
        self._draw(page)

    def _draw(self, page: Page | None) -> None:
        where = f"runs of {os.path.basename(self.notebook)}" if self.notebook else "all runs"
        self.w_title.value = f'<b>nbtrack</b> \u00b7 <span title="{esc(self.notebook)}">{esc(where)}</span>'
        self.w_message.value = (f'<span style="color:#cf222e">{esc(self.message)}</span>'
                                if self.message else "")
        records = table.records(page) if page is not None else []
        while len(self.row_views) < len(records):
            self.row_views.append(RowView(self, self.row_layout, self.row_style))
        cols = table.columns(page) if page is not None else list(table.BASE)
        self.w_header.value = table.header_html(cols, self.sort_by, indent=ROW_INDENT)
        selected = set(self.selected_ids)
        self.syncing = True
        try:
            for view, record in zip(self.row_views, records):
                view.show(record, cols, selected)
            for view in self.row_views[len(records):]:
                view.run_id = None
        finally:
            self.syncing = False
        if len(self.w_rows.children) != len(records):
            self.w_rows.children = self.row_views[:len(records)]
        self.w_pager.value = table.pager_html(page) if page is not None else ""
        self.run_panel.set_choices(records)
        self.w_prev.disabled = page is None or page.page == 0
        self.w_next.disabled = page is None or page.page >= page.pages - 1
        self._sync_sort_options(page)

    def _sync_sort_options(self, page: Page | None) -> None:
        column, desc = parse_sort(self.sort_by)
        keys = list(page.params + page.metrics if page else [])
        options = BASE_SORTS + [(k, k) for k in keys if k not in dict(BASE_SORTS).values()]
        if column not in [v for _, v in options]:
            options.append((column, column))
        self.syncing = True
        try:
            if list(self.w_sort.options) != options:
                self.w_sort.options = options
            self.w_sort.value, self.w_desc.value = column, desc
        finally:
            self.syncing = False

    def _sort_control(self, _change) -> None:
        if not self.syncing:
            self.sort_by = ("-" if self.w_desc.value else "") + str(self.w_sort.value)

    # -- trait reactions -------------------------------------------------------------------
    @traitlets.observe("filter_text", "status_filter", "metric_filter", "sort_by", "notebook")
    def _query_changed(self, _change) -> None:
        if not self.ready:
            return
        if self.page != 0:
            self.page = 0  # refreshes through _page_changed
        else:
            self.refresh()

    @traitlets.observe("page", "page_size")
    def _page_changed(self, _change) -> None:
        if self.ready and not self.syncing:
            self.refresh()

    @traitlets.observe("selected_ids")
    def _selection_changed(self, change) -> None:
        if self.ready and not self.syncing:
            self._draw(self.current)
        n = len(change["new"])
        self.w_tabs.set_title(2, f"Compare ({n})" if n else "Compare")
        self.compare_panel.invalidate()

    @traitlets.observe("run_id")
    def _run_changed(self, _change) -> None:
        self.run_panel.invalidate()
        if self.run_id and self.view != "run":
            self.view = "run"

    @traitlets.observe("cell_key")
    def _cell_changed(self, _change) -> None:
        self.history_panel.invalidate()

    @traitlets.observe("view")
    def _view_changed(self, change) -> None:
        self._panels_for(change["new"])

    def _panels_for(self, view: str) -> None:
        index = VIEWS.index(view)
        if self.w_tabs.selected_index != index:
            self.w_tabs.selected_index = index
        for name, panel in zip(VIEWS, self.panels):
            panel.show(name == view)

    @property
    def panels(self) -> tuple:
        """The tabs' panels, in the order of ``VIEWS``."""
        return (self.run_panel, self.history_panel, self.compare_panel, self.models_panel)

    def open_run(self, run_id: str) -> None:
        """Show ``run_id`` in the Run tab."""
        self.run_id = run_id
        self.view = "run"

    # -- read back ---------------------------------------------------------------------
    @property
    def rows(self) -> list[str]:
        """Ids of the runs on the current page, in display order."""
        return self.current.ids if self.current is not None else []

    @property
    def table_html(self) -> str:
        """The current page as HTML (header, rows, pager)."""
        if self.current is None:
            return f'<div class="nbtrack-runs">{esc(self.message)}</div>'
        return table.page_html(self.current, self.sort_by)

    def _repr_mimebundle_(self, **kwargs):
        # Frontends without widgets (nbconvert, GitHub) fall back to the first page as HTML.
        data = super()._repr_mimebundle_(**kwargs)
        data["text/html"] = self.table_html
        data["text/plain"] = table.page_text(self.current) if self.current is not None else self.message
        return data
