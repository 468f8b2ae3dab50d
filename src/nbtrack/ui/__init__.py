"""In-notebook UI: the version browser, cell history, run comparison and run summaries.

``nbtrack.ui.browser()`` is an ipywidgets widget; ``history()`` and ``compare()``
return objects that render as HTML in notebooks and as text anywhere else.
ipywidgets, pandas and matplotlib are imported on first use only.
"""

from __future__ import annotations

from typing import Any


def browser(notebook: str | None = None, restore: Any = None, **traits: Any):
    """The version browser widget: runs of a notebook, cell history, compare, actions.

    Parameters
    ----------
    notebook : str, optional
        Show this notebook's runs; by default the notebook the kernel runs
        (``NBTRACK_NOTEBOOK`` / ``JPY_SESSION_NAME``), or every run when that is
        unknown. ``""`` shows every run.
    restore : callable, optional
        ``restore(run_id)`` behind the Run tab's restore button (``%track_browser``
        passes what ``%track_restore`` does); the button is hidden without it.
    **traits
        Initial values of the widget's traits: ``filter_text``, ``status_filter``,
        ``metric_filter``, ``sort_by``, ``page``, ``page_size``, ``selected_ids``,
        ``run_id``, ``view``.

    Returns
    -------
    nbtrack.ui.widgets.Browser
        An ipywidgets widget; the notebook displays it when it is a cell's result.
    """
    from .widgets import Browser

    return Browser(notebook=notebook, restore=restore, **traits)


def history(cell: str | None = None, notebook: str | None = None, a: int | None = None, b: int | None = None):
    """Versions of a tracked cell with metrics and a diff (see :func:`nbtrack.ui.cell_history.history`)."""
    from .cell_history import history as _history

    return _history(cell, notebook, a, b)


def compare(*run_ids: str, metric: str | None = None, param: str | None = None):
    """Runs side by side with plots (see :func:`nbtrack.ui.comparison.compare`)."""
    from .comparison import compare as _compare

    return _compare(*run_ids, metric=metric, param=param)


def show_summary(run_id: str) -> None:
    """Display the one-line summary of a run (see :func:`nbtrack.ui.summary.show_summary`)."""
    from .summary import show_summary as _show

    _show(run_id)


__all__ = ["browser", "compare", "history", "show_summary"]
