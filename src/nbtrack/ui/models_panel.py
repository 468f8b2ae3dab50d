"""The browser's "Models" tab: registered models, where each is served, what monitors it.

The same read model as the JupyterLab sidebar's model detail: ``nbtrack.models()``,
``nbtrack.model_versions(name)``, ``nbtrack.served(name)`` and ``nbtrack.monitoring(name)``.
"""

from __future__ import annotations

import ipywidgets as widgets

import nbtrack

from .html import esc, fmt_time, fmt_value, table
from .panel import Panel, hint


class ModelsPanel(Panel):
    """Every registered model: versions and aliases, servers and traffic, rules and last checks."""

    title = "Models"

    def build(self) -> None:
        self.w_body = widgets.HTML()

    def render(self) -> None:
        self.children = [self.w_body]
        self.w_body.value = self.html()

    def html(self) -> str:
        """The tab's content as HTML (what the widget shows; also used by tests)."""
        models = nbtrack.models()
        if models.empty:
            return hint("No registered models yet: nbtrack.register_model(...) or `nbtrack register`.").value
        return "".join(model_html(str(name)) for name in models["name"])


def model_html(name: str) -> str:
    versions = nbtrack.model_versions(name)
    metric_cols = [c for c in versions.columns if str(c).startswith("metrics.")][:4]
    rows = [[esc(f"v{v['version']}"), esc(v.get("aliases") or ""), esc(v.get("class") or ""),
             *(esc(fmt_value(v[c])) for c in metric_cols)] for v in versions.to_dict("records")]
    parts = [f'<h4 style="margin:8px 0 4px">{esc(name)}</h4>',
             table(["version", "aliases", "class", *(c.removeprefix("metrics.") for c in metric_cols)], rows)]
    served = nbtrack.served(name)
    if served.empty:
        parts.append(_dim("not served (nbtrack serve NAME@ALIAS)"))
    else:
        parts.append(table(["served", "ref", "state", "host", "rows logged", "last hour", "since"],
                           [[esc(f"v{s['version']}"), esc(s["ref"] or ""), esc(s["status"]), esc(s["host"] or ""),
                             esc(fmt_value(s["rows_logged"])), esc(fmt_value(s["rows_last_hour"])),
                             esc(fmt_time(s["started"]))] for s in served.to_dict("records")]))
    watch = nbtrack.monitoring(name)
    if not watch["rules"]:
        parts.append(_dim("no alert rules (nbtrack monitor add NAME@ALIAS)"))
    for r in watch["rules"]:
        parts.append(_dim(f"rule {r['id']} on {r['model']}: {r['rule']}"))
    if watch["checks"]:
        parts.append(table(["monitor run", "kind", "on", "when", "alerts"],
                           [[esc(c["run"][:8]), esc(c["kind"] or ""), esc(c["model"]), esc(fmt_time(c["started"])),
                             esc("; ".join(c["alerts"]) or "ok")] for c in watch["checks"]]))
    return "".join(parts)


def _dim(text: str) -> str:
    return f'<div style="color:#57606a;font-size:12px">{esc(text)}</div>'
