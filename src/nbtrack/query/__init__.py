"""The read model: runs, lineage, comparisons, models and the audit log, as the shells show them."""

from .compare import RunComparison, compare_runs
from .events import events
from .models import Model, get_model
from .runs import Run, cell_history, count_runs, get_run, runs

__all__ = ["Model", "Run", "RunComparison", "cell_history", "compare_runs", "count_runs", "events", "get_model",
           "get_run", "runs"]
