"""Matplotlib plots of runs: metric history per step, and a metric against a param.

Figures are built with :class:`matplotlib.figure.Figure` directly, never through
``pyplot``: they do not pop up on their own, are not collected by ``%%track`` as
a cell's figures, and leave pyplot's global state alone. Return one from a cell
to display it, or ``fig.savefig(...)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import nbtrack

FIGSIZE = (5.4, 3.0)


def _figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE, layout="constrained")
    fig._nbtrack_ui = True  # the browser's own plot: never saved as a tracked cell's figure
    return fig, fig.add_subplot()


def history_figure(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], key: str):
    """One line per run: ``series`` maps a label to (steps, values).

    Parameters
    ----------
    series : mapping of str to (steps, values)
        The points of each run, in step order.
    key : str
        The metric name (y-axis label and title).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _figure()
    for label, (steps, values) in series.items():
        marker = "o" if len(steps) < 30 else None
        ax.plot(list(steps), list(values), marker=marker, markersize=3, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(key)
    ax.set_title(f"{key} per step")
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize="small")
    return fig


def scatter_figure(xs: Sequence[Any], ys: Sequence[float], labels: Sequence[str], xlabel: str, ylabel: str):
    """A scatter of ``ys`` against ``xs``; text values of ``xs`` become categories.

    Returns
    -------
    matplotlib.figure.Figure
        The points are ``fig.axes[0].collections[0].get_offsets()`` (categories
        at positions 0, 1, ... in sorted order, labelled on the x-axis).
    """
    fig, ax = _figure()
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
    if numeric:
        pos = [float(x) for x in xs]
    else:
        cats = sorted({str(x) for x in xs})
        pos = [float(cats.index(str(x))) for x in xs]
        ax.set_xticks(range(len(cats)), cats)
    ax.scatter(pos, [float(y) for y in ys])
    ax.margins(0.15)  # keep the points (and their labels) off the frame
    for x, y, label in zip(pos, ys, labels):
        ax.annotate(label, (x, float(y)), fontsize="x-small", xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{ylabel} vs {xlabel}")
    ax.grid(alpha=0.3)
    return fig


def run_label(run) -> str:
    """``name (a1b2c3d4)`` or just the short id."""
    return f"{run.name} ({run.id[:8]})" if run.name else run.id[:8]


def plot_metric_history(runs: Sequence[Any], key: str):
    """Metric ``key`` per step for each run (run ids or :class:`nbtrack.Run` objects).

    Parameters
    ----------
    runs : sequence of str or nbtrack.Run
        The runs to plot.
    key : str
        The metric.

    Returns
    -------
    matplotlib.figure.Figure
        One line per run that logged ``key``, labelled ``name (id)``.
    """
    series = {}
    for r in runs:
        run = nbtrack.get_run(r) if isinstance(r, str) else r
        h = run.metric_history(key)
        if not h.empty:
            h = h.dropna(subset=["value"])
            series[run_label(run)] = (list(h["step"]), list(h["value"]))
    return history_figure(series, key)


def plot_metric_vs_param(runs: Sequence[Any], metric: str, param: str):
    """Metric ``metric`` (last value) against param ``param`` across runs.

    Parameters
    ----------
    runs : sequence of str or nbtrack.Run
        The runs; those missing the metric or the param are left out.
    metric, param : str
        Names without the ``metrics.``/``params.`` prefix.

    Returns
    -------
    matplotlib.figure.Figure
    """
    xs, ys, labels = [], [], []
    for r in runs:
        run = nbtrack.get_run(r) if isinstance(r, str) else r
        x, y = run.params.get(param), run.metrics.get(metric)
        if x is not None and y is not None:
            xs.append(x)
            ys.append(y)
            labels.append(run.id[:8])
    return scatter_figure(xs, ys, labels, param, metric)
