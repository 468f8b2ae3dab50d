"""Reading runs: DataFrames for tables, Run objects for details."""

from .runs import Run, cell_history, count_runs, get_run, runs

__all__ = ["Run", "cell_history", "count_runs", "get_run", "runs"]
