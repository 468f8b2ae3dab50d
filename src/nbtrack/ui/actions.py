"""The browser's "Run" tab: one run's details, its data and models, and actions on it.

The run's data and model versions come with the run (``Run.input_versions`` /
``output_versions``); the runs around a version from ``nbtrack.lineage``;
registering calls ``nbtrack.register_model``. Restore needs the kernel's shell,
so it is a callback the ``%track_browser`` magic hands in
(``Browser(restore=...)``, what ``%track_restore`` does).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

import nbtrack

from .html import esc, fmt_duration, fmt_time, fmt_value, status_html, table
from .panel import Panel, button, hint

MAX_FIGURES = 4
NO_RUN = "Tick a run in the table (or pick one here) to see its details, data and models."


def table_records(browser) -> list[dict]:
    return browser.current.frame.to_dict("records") if browser.current is not None else []


def neighbours(target: str) -> dict[str, list[tuple[str, dict]]]:
    """Upstream and downstream neighbours of a run or version in the lineage graph:
    ``{"inputs": [(node_id, node)], "outputs": [...]}``."""
    graph = nbtrack.lineage(target, depth=1)
    out: dict[str, list[tuple[str, dict]]] = {"inputs": [], "outputs": []}
    for source, dest, _relation in sorted(graph.edges):
        if dest == graph.root:
            out["inputs"].append((source, graph.nodes[source]))
        elif source == graph.root:
            out["outputs"].append((dest, graph.nodes[dest]))
    return out


def run_io(run) -> dict[str, list[dict]]:
    """A run's data and model versions: ``{"inputs": [{kind, ref, id, variable}], "outputs": [...]}``."""
    return {"inputs": list(run.input_versions), "outputs": list(run.output_versions)}


def load_snippet(item: dict) -> str:
    """The code that brings a dataset or model version back into the kernel."""
    fn = "load_model" if item.get("kind") == "model" else "load"
    return f"nbtrack.{fn}({item['ref']!r})"


def version_runs(item: dict) -> tuple[list[str], list[str]]:
    """(runs that produced, runs that used) a dataset or model version, as run ids."""
    found = neighbours(f"{item['kind']}:{item['ref']}")
    ids = {k: [nid.split(":", 1)[1] for nid, node in v if node.get("kind") == "run"] for k, v in found.items()}
    return ids["inputs"], ids["outputs"]


def details_html(run) -> str:
    """A run's facts, params, metrics, tags, artifacts and error as HTML."""
    facts = [("run", f"<code>{esc(run.id)}</code>"), ("name", esc(run.name or "")),
             ("status", status_html(run.status)), ("notebook", esc(run.notebook or "")),
             ("cell", esc(f"{run.cell_key or ''}  v{run.cell_version}" if run.cell_version else run.cell_key or "")),
             ("started", esc(fmt_time(run.started) + " UTC")), ("duration", esc(fmt_duration(run.duration)))]
    if run.error_type:
        facts.append(("error", f'<span style="color:#cf222e">{esc(run.error_type)}: {esc(run.error_message)}</span>'))
    parts = [table(["", ""], [[f"<b>{esc(k)}</b>", v] for k, v in facts], attrs='class="nbtrack-run-facts"')]
    for title, values in (("params", run.params), ("metrics", run.metrics), ("tags", run.tags)):
        if values:
            rows = [[esc(k), esc(fmt_value(v))] for k, v in sorted(values.items())]
            parts.append(table([title, "value"], rows, attrs=f'class="nbtrack-run-{title}"'))
    if run.artifacts:
        rows = [[esc(a["name"]), esc(a.get("kind", "")), esc(a.get("size", ""))] for a in run.artifacts]
        parts.append(table(["artifact", "kind", "bytes"], rows, attrs='class="nbtrack-run-artifacts"'))
    return '<div style="display:flex;gap:16px;flex-wrap:wrap;align-items:flex-start">' + "".join(parts) + "</div>"


class RunPanel(Panel):
    """Details of the browser's ``run_id`` with restore, data/models and register actions."""

    def __init__(self, browser) -> None:
        super().__init__(browser)
        self.run: Any = None  # the shown nbtrack.Run
        self.io: dict = {}
        self.last_message = ""
        self.w_pick = widgets.Dropdown(options=[("choose a run\u2026", "")], value="", description="run",
                                       layout=widgets.Layout(width="360px"), style={"description_width": "32px"})
        self.w_pick.observe(self._picked, "value")
        self.picking = False
        self.children = [self.w_pick, hint(NO_RUN)]

    def build(self) -> None:
        """Nothing until a run is shown (the Run tab is visible when the browser opens)."""

    def _build_run_widgets(self) -> None:
        if hasattr(self, "w_details"):
            return
        self.w_details = widgets.HTML()
        self.w_figures = widgets.HBox()
        self.w_io = widgets.VBox()
        self.w_name = widgets.Text(placeholder="model name", layout=widgets.Layout(width="160px"))
        self.w_msg = widgets.HTML()  # what the last action did
        self.w_more = widgets.VBox()  # and what it offers next (links, code)

    def set_choices(self, records: list[dict]) -> None:
        """Offer the runs of the browser's page (and the current run) in the run picker."""
        rid = self.browser.run_id
        options = [(f"{r['id'][:8]}  {r.get('name') or ''}", r["id"]) for r in records]
        if rid and rid not in [v for _, v in options]:
            options.insert(0, (rid[:8], rid))
        self.picking = True
        try:
            self.w_pick.options = [("choose a run\u2026", "")] + options
            self.w_pick.value = rid or ""
        finally:
            self.picking = False

    def _picked(self, change) -> None:
        if not self.picking:
            self.browser.run_id = change["new"] or ""

    def render(self) -> None:
        rid = self.browser.run_id
        if not rid:
            self.run = None
            self.children = [self.w_pick, hint(NO_RUN)]
            return
        self._build_run_widgets()
        self._clear()
        self.run = nbtrack.get_run(rid)
        if self.run.cell_key and self.browser.cell_key != self.run.cell_key:
            self.browser.cell_key = self.run.cell_key
        self.w_details.value = details_html(self.run)
        self.w_figures.children = self._figures()
        self.io = run_io(self.run)
        self.w_io.children = self._io_rows()
        self.set_choices(table_records(self.browser))
        from .drift import drift_widgets

        self.children = [self.w_pick, self.w_details, *drift_widgets(self.run), self.w_figures, self._actions(),
                         self.w_io, self.w_msg, self.w_more]

    def _figures(self) -> list:
        figs = [a for a in self.run.artifacts if a.get("media_type") == "image/png"][:MAX_FIGURES]
        return [widgets.Image(value=self.run.artifact(a["name"]), format="png",
                              layout=widgets.Layout(max_width="240px")) for a in figs]

    def _actions(self) -> widgets.HBox:
        items = []
        if self.browser.restore_fn is not None:
            items.append(button("restore", self.restore, "load this run's input data and put its code "
                                "in the next cell (like %track_restore)", icon="undo"))
        if self.run.cell_key:
            items.append(button("cell history", lambda: setattr(self.browser, "view", "history")))
        items += [self.w_name, button("register model", self.register, "register this run's model", icon="tag")]
        return widgets.HBox(items, layout=widgets.Layout(align_items="center"))

    def _io_rows(self) -> list:
        rows = []
        for title, key in (("inputs", "inputs"), ("outputs", "outputs")):
            items = self.io.get(key, [])
            links = [button(f"{i.get('kind', '')} {i['ref']}", lambda i=i: self.open_version(i),
                            f"variable {i.get('variable') or '-'}") for i in items]
            rows.append(widgets.HBox([widgets.HTML(f"<b>{title}</b>&nbsp;", layout=widgets.Layout(width="64px"))]
                                     + (links or [hint("none")]), layout=widgets.Layout(flex_flow="row wrap")))
        return rows

    # -- actions -------------------------------------------------------------------------
    def restore(self) -> Any:
        """Restore the run with the browser's restore callback and show its code below the buttons.

        The code is shown rather than put in a new cell: a widget callback has
        no cell to put it after.
        """
        from .diff import source_html

        result = self._do(lambda: self.browser.restore_fn(self.run.id), "restored")
        if isinstance(result, dict):
            done = ", ".join(f"{k} = {v}" for k, v in result.items()) or "no input datasets"
            self._say(f"restored {done}; the run's code:")
            self.w_more.children = [widgets.HTML(source_html(self.run.source or ""))]
        return result

    def register(self, name: str | None = None) -> Any:
        """Register the run's model as ``name`` (default: the text box) with ``nbtrack.register_model``."""
        name = (name or self.w_name.value).strip()
        if not name:
            return self._say("type a model name first", error=True)
        return self._do(lambda: nbtrack.register_model(name, run=self.run.id), "registered")

    def open_version(self, item: dict) -> None:
        """Show how to load a dataset/model version and the runs that produced and used it."""
        made_by, used_by = version_runs(item)
        self.last_message = load_snippet(item)
        self.w_msg.value = f"<code>{esc(self.last_message)}</code>"
        links = [button(f"made by {r[:8]}", lambda r=r: self.browser.open_run(r)) for r in made_by]
        links += [button(f"used by {r[:8]}", lambda r=r: self.browser.open_run(r))
                  for r in used_by if r != self.run.id][:8]
        self.w_more.children = [widgets.HBox(links, layout=widgets.Layout(flex_flow="row wrap"))] if links else []

    def _do(self, action, verb: str) -> Any:
        try:
            result = action()
        except Exception as e:
            return self._say(f"{type(e).__name__}: {e}", error=True)
        self._say(f"{verb}: {result}" if result is not None else verb)
        return result

    def _clear(self) -> None:
        self.w_msg.value, self.w_more.children = "", ()

    def _say(self, text: str, error: bool = False) -> None:
        self.last_message = text
        color = "#cf222e" if error else "#1a7f37"
        self.w_msg.value = f'<span style="color:{color}">{esc(text)}</span>'
        self.w_more.children = ()
