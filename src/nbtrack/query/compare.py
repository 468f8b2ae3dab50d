"""Runs side by side: their params and metrics aligned by key, and the source diff of two."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput
from ..workspace import Workspace
from .runs import Run, get_run

MAX_RUNS = 12


@dataclass
class RunComparison:
    """``runs`` in the order given; ``params`` / ``metrics``: key -> one value per run (None: not logged)."""

    runs: list[Run]
    params: dict[str, list[Any]]
    metrics: dict[str, list[Any]]

    def differing(self, section: str = "params") -> list[str]:
        """Keys of ``section`` (params or metrics) whose values are not all the same."""
        values = self.params if section == "params" else self.metrics
        return [k for k, vs in values.items() if len({repr(v) for v in vs}) > 1]

    def metric_deltas(self) -> list[dict[str, Any]]:
        """For the first and last run: ``{key, a, b, delta}`` per metric (delta None when one is missing)."""
        out = []
        for key, vs in self.metrics.items():
            a, b = vs[0], vs[-1]
            delta = b - a if isinstance(a, (int, float)) and isinstance(b, (int, float)) else None
            out.append({"key": key, "a": a, "b": b, "delta": delta})
        return out

    def param_changes(self) -> list[dict[str, Any]]:
        """For the first and last run: ``{key, a, b}`` of every param that differs."""
        return [{"key": k, "a": vs[0], "b": vs[-1]} for k, vs in self.params.items() if vs[0] != vs[-1]]

    def source_diff(self, context: int = 3) -> str:
        """Unified diff of the first and last run's sources; headers ``<id> v<cell version>``."""
        a, b = self.runs[0], self.runs[-1]
        return "".join(difflib.unified_diff(
            (a.source or "").splitlines(keepends=True), (b.source or "").splitlines(keepends=True),
            fromfile=_label(a), tofile=_label(b), n=context))

    @property
    def same_source(self) -> bool:
        return (self.runs[0].source or "") == (self.runs[-1].source or "")


def _label(run: Run) -> str:
    return f"{run.id} v{run.cell_version}" if run.cell_version else run.id


def compare_runs(*run_ids: str, workspace: Workspace | None = None) -> RunComparison:
    """Compare runs given by id or unique prefix (duplicates dropped, order kept; at most 12)."""
    ids = list(dict.fromkeys(str(i).strip() for i in run_ids if str(i).strip()))
    if not ids:
        raise InvalidInput("give at least one run id to compare")
    if len(ids) > MAX_RUNS:
        raise InvalidInput(f"compare at most {MAX_RUNS} runs at a time (got {len(ids)})")
    return compare_runs_of([get_run(i, workspace=workspace) for i in ids])


def compare_runs_of(runs: list[Run]) -> RunComparison:
    """The comparison of runs already loaded."""
    def aligned(section: str) -> dict[str, list[Any]]:
        keys = sorted({k for r in runs for k in getattr(r, section)})
        return {k: [getattr(r, section).get(k) for r in runs] for k in keys}

    return RunComparison(list(runs), aligned("params"), aligned("metrics"))
