"""The one-line run summary ``%%track --summary`` (or ``NBTRACK_SUMMARY=1``) shows under a cell.

A widget (the line plus a button that opens the version browser on that run)
with an HTML/text fallback for frontends without widgets.
"""

from __future__ import annotations

import nbtrack

from .html import STATUS_COLORS, esc, fmt_duration, fmt_value

MAX_ITEMS = 4
MARKS = {"finished": "\u2713", "failed": "\u2717", "interrupted": "\u25a0", "snapshotting": "\u2026",
         "pruned": "\u2702"}


def _items(values: dict, limit: int = MAX_ITEMS) -> str:
    keys = sorted(values)
    text = ", ".join(f"{k}={fmt_value(values[k])}" for k in keys[:limit])
    return text + (f", +{len(keys) - limit} more" if len(keys) > limit else "")


def summary_text(run) -> str:
    """``✓ run a1b2c3d4 train · 0.42s · params: lr=0.1 · metrics: acc=0.93``."""
    parts = [f"{MARKS.get(run.status, '?')} run {run.id[:8]}" + (f" {run.name}" if run.name else ""),
             fmt_duration(run.duration) or run.status]
    if run.cell_version:
        parts.insert(1, f"v{run.cell_version}")
    if run.params:
        parts.append("params: " + _items(run.params))
    if run.metrics:
        parts.append("metrics: " + _items(run.metrics))
    if run.status != "finished":
        parts.append(run.status)
    return " \u00b7 ".join(parts)


def summary_html(run) -> str:
    """The summary line as HTML (status mark coloured, id in code)."""
    color = STATUS_COLORS.get(run.status, "#57606a")
    text = summary_text(run)
    mark, _, rest = text.partition(" ")
    return (f'<span class="nbtrack-summary" data-run-id="{esc(run.id)}" style="font-size:12px">'
            f'<span style="color:{color};font-weight:700">{esc(mark)}</span> {esc(rest)}</span>')


def summary_widget(run):
    """An HBox: the summary line and a "browse" button opening the browser on this run below."""
    import ipywidgets as widgets

    class Summary(widgets.VBox):
        def _repr_mimebundle_(self, **kwargs):
            data = super()._repr_mimebundle_(**kwargs)
            data["text/html"], data["text/plain"] = summary_html(run), summary_text(run)
            return data

    line = widgets.HTML(summary_html(run))
    open_ = widgets.Button(description="browse", icon="search", tooltip="open the version browser on this run",
                           layout=widgets.Layout(width="auto", height="24px"))
    box = Summary([widgets.HBox([line, open_], layout=widgets.Layout(align_items="center"))])

    def toggle(_b=None) -> None:
        if len(box.children) > 1:
            box.children = box.children[:1]
            open_.description = "browse"
            return
        from .widgets import Browser

        browser = Browser(notebook=run.notebook or "", run_id=run.id)
        box.children = [box.children[0], browser]
        open_.description = "close"

    open_.on_click(toggle)
    box.toggle = toggle
    return box


def show_summary(run_id: str) -> None:
    """Display the one-line summary of a run under the current cell.

    Parameters
    ----------
    run_id : str
        The run (id or unique prefix).

    Notes
    -----
    Without ipywidgets the same line is displayed as HTML (with a text
    fallback), so it also shows in nbconvert output.
    """
    from IPython.display import display

    run = nbtrack.get_run(run_id)
    try:
        widget = summary_widget(run)
    except ImportError:
        display({"text/html": summary_html(run), "text/plain": summary_text(run)}, raw=True)
        return
    display(widget)
