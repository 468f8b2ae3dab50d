"""Runs side by side: params and metrics in one table, differing rows highlighted.

``compare()`` is what ``%track_compare RUN RUN ...`` shows (HTML with the plots
inlined as PNG, or text); the browser's "Compare" tab uses the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput
from ..query.compare import compare_runs, compare_runs_of
from . import plots
from .html import DIFF_BG, Rich, esc, figure_png, fmt_duration, fmt_value, png_img, table, text_table


@dataclass
class Row:
    section: str  # "run" | "params" | "metrics"
    key: str
    values: list[Any]

    @property
    def differs(self) -> bool:
        """True when the runs do not all have the same value."""
        return len({repr(v) for v in self.values}) > 1


def load(run_ids) -> list:
    """The runs (``nbtrack.Run``) for ids or unique prefixes, in the given order, duplicates dropped."""
    return compare_runs(*run_ids).runs


def rows(runs: list) -> list[Row]:
    """The comparison: a few run attributes, then every param and every metric of any run."""
    c = compare_runs_of(runs)
    out = [Row("run", "name", [r.name or "" for r in runs]),
           Row("run", "status", [r.status for r in runs]),
           Row("run", "cell version", [r.cell_version for r in runs]),
           Row("run", "duration", [fmt_duration(r.duration) for r in runs])]
    out += [Row("params", k, vs) for k, vs in c.params.items()]
    out += [Row("metrics", k, vs) for k, vs in c.metrics.items()]
    return out


def headers(runs: list) -> list[str]:
    return ["", ""] + [r.id[:8] for r in runs]


def compare_html(runs: list) -> str:
    """The comparison table as HTML; rows whose values differ have a yellow background."""
    rs = rows(runs)
    cells = [[esc(r.section), f"<b>{esc(r.key)}</b>"] + [esc(fmt_value(v)) for v in r.values] for r in rs]
    styles = [f"background:{DIFF_BG}" if r.differs and r.section != "run" else "" for r in rs]
    return table(headers(runs), cells, row_styles=styles, attrs='class="nbtrack-compare"')


def compare_text(runs: list) -> str:
    """The comparison table as text; differing rows are marked with ``*``."""
    rs = rows(runs)
    body = [[("* " if r.differs and r.section != "run" else "  ") + r.section, r.key]
            + [fmt_value(v) for v in r.values] for r in rs]
    return text_table(headers(runs), body, max_width=30)


def plot_choices(runs: list) -> tuple[list[str], list[str]]:
    """Metrics and params that can be plotted: present in at least one run (numbers for metrics)."""
    metrics = sorted({k for r in runs for k, v in r.metrics.items() if v is not None})
    params = sorted({k for r in runs for k, v in r.params.items() if v is not None and not isinstance(v, (dict, list))})
    return metrics, params


def default_param(runs: list, params: list[str]) -> str | None:
    """The first param whose value differs between the runs (else the first param)."""
    for k in params:
        if len({repr(r.params.get(k)) for r in runs}) > 1:
            return k
    return params[0] if params else None


def compare(*run_ids: str, metric: str | None = None, param: str | None = None):
    """Params and metrics of runs side by side, with plots.

    Parameters
    ----------
    *run_ids : str
        Two or more run ids (or unique prefixes).
    metric : str, optional
        Metric for the plots (default: the first metric).
    param : str, optional
        Param for the metric-vs-param scatter (default: the first one that differs).

    Returns
    -------
    nbtrack.ui.html.Rich
        HTML (table and PNG plots inlined) and text renderings; ``.data`` is
        the list of ``nbtrack.Run``.
    """
    runs = load(run_ids)
    if len(runs) < 2:
        raise InvalidInput("give at least two runs to compare, e.g. %track_compare a1b2 c3d4")
    metrics, params = plot_choices(runs)
    metric = metric or (metrics[0] if metrics else None)
    param = param or default_param(runs, params)
    images = []
    if metric:
        images.append(png_img(figure_png(plots.plot_metric_history(runs, metric)), f"{metric} per step"))
        if param:
            images.append(png_img(figure_png(plots.plot_metric_vs_param(runs, metric, param)),
                                  f"{metric} vs {param}"))
    title = f"Comparing {len(runs)} runs"
    html_text = (f'<div class="nbtrack-compare-report"><b>{esc(title)}</b>{compare_html(runs)}'
                 f'<div>{"".join(images)}</div></div>')
    return Rich(html_text, f"{title}\n{compare_text(runs)}", runs)
