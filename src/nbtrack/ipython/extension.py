"""``%load_ext nbtrack``: register the magics, the input transformer and the events."""

from __future__ import annotations

import threading

from ..capture import data_hook, env, hooks, model_hook
from . import display
from .events import TrackEvents
from .magics import TrackMagics, blank_magic_line


def load(shell) -> TrackEvents:
    """Register everything on ``shell`` (idempotent); returns the shell's event handler."""
    existing = getattr(shell, "_nbtrack_events", None)
    if existing is not None:
        return existing
    shell.register_magics(TrackMagics(shell))
    transforms = shell.input_transformer_manager.line_transforms
    if blank_magic_line not in transforms:
        transforms.insert(0, blank_magic_line)
    events = TrackEvents(shell)
    events.register()
    display.install(shell)
    shell._nbtrack_events = events
    env.start_background()
    warm_read_path()
    hooks.register(data_hook.HOOK)
    hooks.register(model_hook.HOOK)  # last: it reads the data hook's ctx.state["datasets"]
    return events


# What the first %track_browser / %track_runs needs and `%load_ext` does not: imported in a
# background thread right after `%load_ext`, so the first browser opens in ~0.1 s instead of
# ~0.6 s (SQLAlchemy alone is ~0.4 s). Import locks make a concurrent import from a cell safe.
WARM_MODULES = ("sqlalchemy", "nbtrack.store.meta", "nbtrack.query.runs", "nbtrack.query.cells", "nbtrack.ui.widgets")
_warm_thread: threading.Thread | None = None


def warm_read_path() -> threading.Thread:
    global _warm_thread
    if _warm_thread is None:
        _warm_thread = threading.Thread(target=_import_all, name="nbtrack-warm", daemon=True)
        _warm_thread.start()
    return _warm_thread


def _import_all() -> None:
    import importlib

    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - warming up never fails a kernel; the real import reports it
            return


def unload(shell) -> None:
    events = getattr(shell, "_nbtrack_events", None)
    if events is None:
        return
    events.unregister()
    display.uninstall(shell)
    transforms = shell.input_transformer_manager.line_transforms
    if blank_magic_line in transforms:
        transforms.remove(blank_magic_line)
    del shell._nbtrack_events
