"""Figures a tracked cell shows, saved from the image the display path already rendered.

Every way a matplotlib figure reaches a notebook (``plt.show()``, the inline
backend's end-of-cell flush, ``display(fig)``, a figure as the cell's last
expression) goes through the shell's ``display_formatter.format``;
:mod:`nbtrack.ipython.display` hands what it made to :func:`shown`. While a
tracked cell runs, the image bytes IPython just rendered for a figure are stored
for the run, so a figure is drawn once (by IPython, exactly as untracked) and
saved once per cell, again only if it is shown again with other pixels. Nothing
of ours runs in ``post_execute``: a figure that fails to draw shows matplotlib's
own error, untouched.

Figures still open when the cell ends that never went through the display path
(a non-inline backend, ``plt.ioff()``) are rendered to PNG once, as before.
Nothing here imports IPython or matplotlib.
"""

from __future__ import annotations

import base64
import sys
import weakref
from typing import Any

from ..snapshot.figures import figure_png

# mime types IPython renders figures to, in order of preference, with their file extension
_MEDIA = (("image/png", "png"), ("image/svg+xml", "svg"), ("image/jpeg", "jpg"), ("application/pdf", "pdf"))
_active: list[FigureCapture] = []


def _is_figure(obj: Any) -> bool:
    """A user's matplotlib figure (not one of nbtrack's own browser plots)."""
    mod = sys.modules.get("matplotlib.figure")
    return mod is not None and isinstance(obj, mod.Figure) and not getattr(obj, "_nbtrack_ui", False)


def _open_figures() -> list[Any]:
    helpers = sys.modules.get("matplotlib._pylab_helpers")
    if helpers is None:
        return []
    return [m.canvas.figure for m in helpers.Gcf.get_all_fig_managers()]


class FigureCapture:
    """The figures of one tracked cell: ``start()`` before it runs, ``finish()`` after."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self.before: set[int] = set()
        # figures that went through the display path (drawn or failed); weak: a loop may show thousands
        self.seen: weakref.WeakSet = weakref.WeakSet()
        self.saved: set[tuple[int, str]] = set()  # (figure id, object id): once per cell
        self.shown: list[tuple[str, str, str, int]] = []  # (object id, extension, media type, size)
        self.errors: list[str] = []

    def start(self) -> None:
        self.before = {id(f) for f in _open_figures()}
        _active.append(self)

    def on_display(self, fig: Any, data: dict) -> None:
        """A figure went through the display path; ``data`` is the mime bundle IPython made."""
        self.seen.add(fig)
        for media, ext in _MEDIA:
            value = data.get(media)
            if value is None:
                continue
            raw = value.encode() if media == "image/svg+xml" else (
                base64.b64decode(value) if isinstance(value, str) else bytes(value))
            try:  # stored now: the cell's memory does not grow with every figure a loop shows
                oid = self.run.put_object(raw)
            except Exception as e:
                self.errors.append(f"figure ({type(e).__name__}: {str(e).strip()[:200]})")
                return
            if (id(fig), oid) not in self.saved:  # shown again unchanged: saved once
                self.saved.add((id(fig), oid))
                self.shown.append((oid, ext, media, len(raw)))
            return

    def finish(self) -> list[str]:
        """Store what was shown and the new figures never shown; return warnings (one per failure)."""
        if self in _active:
            _active.remove(self)
        warnings: list[str] = list(self.errors[:1])
        k = 0
        for oid, ext, media, size in self.shown:
            k += 1
            self.run.add_artifact(oid, f"figure-{k}.{ext}", "figure", media, size)
        for fig in _open_figures():
            if id(fig) in self.before or fig in self.seen or not fig.axes:
                continue
            try:
                data = figure_png(fig)
            except Exception as e:
                warnings.append(f"figure {getattr(fig, 'number', '')} ({type(e).__name__}: "
                                f"{str(e).strip().splitlines()[0][:200] if str(e).strip() else ''})")
                continue
            k += 1
            self.run.add_artifact(self.run.put_object(data), f"figure-{k}.png", "figure", "image/png", len(data))
        return warnings

    def abort(self) -> None:
        if self in _active:
            _active.remove(self)


def shown(obj: Any, bundle: dict) -> None:
    """The display path made ``bundle`` (mime type -> data) for ``obj``: keep it if it is a figure."""
    if _active and _is_figure(obj):
        _active[-1].on_display(obj, bundle)


def capturing() -> bool:
    """Whether a tracked cell is collecting figures now (cheap: checked on every display)."""
    return bool(_active)
