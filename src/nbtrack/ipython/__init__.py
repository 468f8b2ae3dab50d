"""The IPython shell of nbtrack: ``%load_ext nbtrack``, ``%%track`` and the ``%track_*`` magics.

A thin shell like ``cli/``, ``jupyter/`` and ``ui/``: it recognises the magic
syntax and wires IPython's events; recording is :mod:`nbtrack.capture`'s job,
the views are :mod:`nbtrack.ui`'s.

* :mod:`.extension` -- ``load(shell)`` / ``unload(shell)``: magics, the input
  transformer and the events (what ``%load_ext nbtrack`` calls);
* :mod:`.events` -- ``pre_run_cell`` / ``post_execute`` / ``post_run_cell``
  handed to the cell recorder;
* :mod:`.magics` -- ``%%track`` and ``%track_restore``, ``%track_runs``,
  ``%track_browser``, ``%track_history``, ``%track_compare``.
"""

from __future__ import annotations


def load_ipython_extension(ip) -> None:
    """``%load_ext nbtrack.ipython`` (the same as ``%load_ext nbtrack``)."""
    from .extension import load

    load(ip)


def unload_ipython_extension(ip) -> None:
    from .extension import unload

    unload(ip)
