"""Plot functions return matplotlib figures holding the expected data."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

import nbtrack
from nbtrack.ui import plots


def test_history_figure_has_one_line_per_run():
    fig = plots.history_figure({"a": ([0, 1, 2], [0.5, 0.6, 0.7]), "b": ([0, 1], [0.4, 0.9])}, "acc")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["a", "b"]
    assert list(ax.lines[0].get_xdata()) == [0, 1, 2] and list(ax.lines[0].get_ydata()) == [0.5, 0.6, 0.7]
    assert list(ax.lines[1].get_ydata()) == [0.4, 0.9]
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "acc"


def test_scatter_numeric_and_categorical():
    fig = plots.scatter_figure([0.1, 0.01], [0.9, 0.8], ["r1", "r2"], "lr", "acc")
    offsets = fig.axes[0].collections[0].get_offsets()
    assert np.allclose(offsets, [[0.1, 0.9], [0.01, 0.8]])
    fig = plots.scatter_figure(["svm", "rf", "svm"], [0.9, 0.8, 0.7], ["a", "b", "c"], "model", "acc")
    ax = fig.axes[0]
    assert np.allclose(ax.collections[0].get_offsets(), [[1, 0.9], [0, 0.8], [1, 0.7]])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["rf", "svm"]


def test_plots_of_recorded_runs(small):
    v1, v2, v3, other = small
    fig = plots.plot_metric_history([v1, v3, other], "acc")
    ax = fig.axes[0]
    assert len(ax.lines) == 2  # `other` logged no acc
    assert list(ax.lines[0].get_xdata()) == [0, 1, 2]
    assert np.allclose(ax.lines[0].get_ydata(), [0.5, 0.6, 0.7])
    assert np.allclose(ax.lines[1].get_ydata(), [0.6, 0.7, 0.8, 0.9, 1.0])
    assert ax.lines[0].get_label() == f"train ({v1[:8]})"
    fig = plots.plot_metric_vs_param([nbtrack.get_run(v) for v in (v1, v2, v3)], "acc", "lr")
    assert np.allclose(fig.axes[0].collections[0].get_offsets(), [[0.1, 0.7], [0.05, 0.75], [0.05, 1.0]])


def test_plots_do_not_touch_pyplot(small):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plots.plot_metric_history(small[:2], "acc")
    assert plt.get_fignums() == before
