"""Extension points of a tracked cell: later stages (data and model snapshots)
register hooks that see the cell before and after it runs.

A hook is an object with ``before(ctx)`` and ``after(ctx)``; an exception in a
hook becomes a one-line warning, never an error in the user's cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class CellContext:
    """What a hook can see of one tracked cell."""

    run: Any  # capture.run.ActiveRun
    user_ns: dict
    source: str  # the python source after IPython's transforms
    reads: set[str]
    writes: set[str]
    args: Any  # parsed %%track arguments
    error: BaseException | None = None
    state: dict = field(default_factory=dict)  # per-hook scratch space
    warnings: list[str] = field(default_factory=list)


class CellHook(Protocol):
    name: str

    def before(self, ctx: CellContext) -> None: ...

    def after(self, ctx: CellContext) -> None: ...


_hooks: list[CellHook] = []


def register(hook: CellHook) -> CellHook:
    if all(h.name != hook.name for h in _hooks):
        _hooks.append(hook)
    return hook


def hooks() -> list[CellHook]:
    return list(_hooks)
