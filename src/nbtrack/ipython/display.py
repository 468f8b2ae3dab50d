"""The shell's display path, watched for figures (see :mod:`nbtrack.capture.figures`).

``display_formatter.format`` is what ``display()``, the displayhook (a cell's
last value) and matplotlib-inline's ``show()``/flush all call; it is wrapped
once per shell. The wrapper only looks at the result: what is displayed, and
any error a formatter shows, is exactly what it is without nbtrack.
"""

from __future__ import annotations

from typing import Any

from ..capture import figures


def install(shell: Any) -> None:
    """Wrap ``shell.display_formatter.format`` (idempotent)."""
    fmt = shell.display_formatter
    original = fmt.format
    if getattr(original, "_nbtrack", False):
        return

    def format(obj, include=None, exclude=None):
        result = original(obj, include=include, exclude=exclude)
        if figures.capturing():
            try:
                figures.shown(obj, result[0] if isinstance(result, tuple) else {})
            except Exception:  # never let recording change what is displayed
                pass
        return result

    format._nbtrack = True  # type: ignore[attr-defined]
    format.__wrapped__ = original  # type: ignore[attr-defined]
    fmt.format = format


def uninstall(shell: Any) -> None:
    fmt = shell.display_formatter
    if getattr(fmt.format, "_nbtrack", False):
        del fmt.format  # the class's own method again
