"""``%load_ext nbtrack``: register the magics, the input transformer and the events."""

from __future__ import annotations

from ..capture import data_hook, env, hooks, model_hook
from . import display, warm
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


def warm_read_path():
    """Import the read path in a background thread (see :mod:`.warm`); returns the thread."""
    return warm.start()


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
