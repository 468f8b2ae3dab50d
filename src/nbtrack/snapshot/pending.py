"""Reads wait for snapshots still being stored in this process.

A tracked cell's new frames (and models trained on them) may still be stored by
the background writer (:mod:`nbtrack.capture.background`) when the next line of
code asks for ``load("df")`` or ``load_model("clf")``. Those reads call
:func:`wait_for` first, so they see the version the cell made, never the one
before it. The capture layer registers the waiter (this layer cannot import it).
"""

from __future__ import annotations

from collections.abc import Callable

_waiters: list[Callable[[str, str | None], None]] = []


def register(waiter: Callable[[str, str | None], None]) -> None:
    """``waiter(kind, name)``: return once nothing of that kind ("dataset", "model") and name
    (None: any) is pending."""
    if waiter not in _waiters:
        _waiters.append(waiter)


def wait_for(kind: str, name: str | None) -> None:
    for waiter in list(_waiters):
        waiter(kind, name)
