"""What a sweep returns (grid, random or tuned), and how its metric is named."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import overload


@dataclass
class SweepResult:
    """Outcome of a sweep: every run, the failed ones and the best by the selected metric."""

    sweep_id: str
    pipeline: str
    version: int
    metric: str | None
    outcomes: list[dict] = field(default_factory=list)
    best: dict | None = None
    model: str | None = None
    promoted: str | None = None
    gates: list = field(default_factory=list)  # tuned sweeps: the best run's checked --gate conditions
    selects: bool = True  # tuned sweeps: False without --select-best (no best run is picked)

    @property
    def failed(self) -> list[dict]:
        return [o for o in self.outcomes if o["status"] == "failed"]

    @property
    def exit_code(self) -> int:
        """0 when at least one run finished (and the best was found if one was to be selected)."""
        ok = any(o["status"] == "finished" for o in self.outcomes)
        return 0 if ok and (self.metric is None or not self.selects or self.best is not None) else 1

    def table(self):
        """The sweep's runs as a DataFrame (``nbtrack.runs(parent=sweep_id)``)."""
        from ..query.runs import runs

        return runs(parent=self.sweep_id)


@overload
def _metric_key(select: str) -> str: ...
@overload
def _metric_key(select: None) -> None: ...
def _metric_key(select: str | None) -> str | None:
    """``"metrics.auc"``, ``"auc"`` or ``"metrics['val/auc']"`` -> the metric's name (the gate grammar)."""
    if select is None:
        return None
    from ..expr import GATES, parse_field

    return parse_field(select, GATES).key
