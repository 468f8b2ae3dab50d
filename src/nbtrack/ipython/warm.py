"""Import what the first ``%track_browser`` / ``%track_runs`` needs while the user types.

``%load_ext nbtrack`` stays light (~30 ms); the read path (SQLAlchemy alone is ~0.4 s) is
imported in a background thread right after it, so the first browser opens in ~0.1 s.
No cell ever runs while that thread imports: :func:`wait` is called before every cell
(``pre_run_cell``), because two threads importing overlapping modules can hand one of
them a half-initialised module ("cannot import name ...") when their import locks
cross. A cell run at once after ``%load_ext`` (Run All) waits for the imports instead.
"""

from __future__ import annotations

import importlib
import threading

MODULES = ("sqlalchemy", "nbtrack.store.meta",
           # what the first %%track cell imports (SQLAlchemy loads its SQLite dialect on first connect)
           "sqlalchemy.dialects.sqlite", "nbtrack.capture.run", "nbtrack.capture.cell_key", "nbtrack.capture.journal",
           "nbtrack.capture.writer",
           "nbtrack.store.backends.local", "nbtrack.store.crypto",
           # what the first %track_browser imports
           "nbtrack.query.runs", "nbtrack.query.arrow_table", "nbtrack.query.cells", "nbtrack.ui.widgets",
           "nbtrack.ui.panels",
           "nbtrack.ui.models_panel")
# Imported only when pandas already is (never pandas itself in the background: ~1 s, and the
# user's next cell would wait for it): how the browser's first table becomes a DataFrame.
WITH_PANDAS = ("pyarrow.pandas_compat", "pyarrow.vendored.version")
_thread: threading.Thread | None = None


def start() -> threading.Thread:
    """Start the imports (once per process); returns the thread."""
    global _thread
    if _thread is None:
        _thread = threading.Thread(target=_import_all, name="nbtrack-warm", daemon=True)
        _thread.start()
    return _thread


def wait(timeout: float = 60.0) -> None:
    """Block until the imports are done (no-op when they are, or never started)."""
    thread = _thread
    if thread is not None and thread.is_alive() and thread is not threading.current_thread():
        thread.join(timeout)


def _import_all() -> None:
    import sys

    for name in MODULES + (WITH_PANDAS if "pandas" in sys.modules else ()):
        try:
            importlib.import_module(name)
        except Exception:  # warming up never fails a kernel; the real import reports the error
            continue
