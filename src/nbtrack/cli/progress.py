"""Progress bars for long commands (rich), silent when not on a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(description: str):
    def wrap(items: Iterable[T]) -> Iterator[T]:
        items = list(items)
        if not sys.stderr.isatty() or len(items) < 50:
            yield from items
            return
        from rich.progress import track

        yield from track(items, description=description, console=None, transient=True)

    return wrap
