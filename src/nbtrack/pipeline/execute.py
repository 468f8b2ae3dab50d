"""Execute a notebook with papermill in a real kernel, with an explicit kernel environment.

Nothing here knows about runs or the store: :mod:`nbtrack.pipeline.run` records
what happens. Failures of any kind (a cell raised, a cell timed out, the kernel
died) become one :class:`~nbtrack.errors.NotebookExecutionError` naming the cell,
and the executed notebook always carries papermill's error banner.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from typing import Any

from ..errors import InvalidInput, NotebookExecutionError
from .kernels import kernel_manager_class, shutdown, socket_folder
from .timeline import mark

INJECTED_TAG = "injected-parameters"

# Start-up trims for our own CLI processes (never a user's kernel or session), listed with
# what they buy in docs/benchmarks.md ("Upstream internals"). While papermill is imported:
# * jsonschema (papermill -> nbformat -> jsonschema) builds the ``rfc3987_syntax`` grammar,
#   when that package is installed, only to check ``iri`` string formats, which notebook
#   validation never uses: ~3 s at every start;
#   the other optional format checkers (fqdn, rfc3987, rfc3986-validator, rfc3339-validator,
#   webcolors, jsonpointer, uri-template, isoduration) are unused for the same reason: ~30 ms;
# * papermill imports a handler for every remote store it supports when the package behind it
#   is installed (pyarrow.fs for HDFS: pyarrow itself, ~0.2 s; boto3 with s3fs; gcsfs;
#   PyGithub; azure): pipelines execute local files only.
# They are hidden during that one import and importable again afterwards.
PAPERMILL_REMOTE_IO = ("pyarrow.fs", "boto3", "gcsfs", "github", "azure.identity", "azure.storage.blob",
                       "azure.datalake.store")
JSONSCHEMA_UNUSED = ("rfc3987_syntax", "fqdn", "rfc3987", "rfc3986_validator", "rfc3339_validator", "webcolors",
                     "jsonpointer", "uri_template", "isoduration")
TRIM_PAPERMILL_IMPORT = False  # set by nbtrack's own CLI processes (see nbtrack.cli.pipeline)


def check_timeout(timeout: float | None) -> None:
    """A cell timeout is None (no limit) or a positive number of seconds."""
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0):
        raise InvalidInput(f"timeout must be a positive number of seconds, got {timeout!r}")


def import_papermill():
    """``import papermill``; in our CLI's processes without the modules it never needs here
    (see :data:`PAPERMILL_REMOTE_IO`, :data:`JSONSCHEMA_UNUSED`).

    Falls back to the plain import if papermill (or jsonschema) ever needs one of them.
    """
    if "papermill" in sys.modules or not TRIM_PAPERMILL_IMPORT:
        import papermill

        return papermill
    hidden = [m for m in PAPERMILL_REMOTE_IO if m not in sys.modules]
    if "jsonschema" not in sys.modules:
        hidden += [m for m in JSONSCHEMA_UNUSED if m not in sys.modules]
    for m in hidden:
        sys.modules[m] = None
    try:
        import papermill
    except ImportError:
        papermill = None  # it needs a hidden module after all: import it the plain way below
    finally:
        for m in hidden:
            if m in sys.modules and sys.modules[m] is None:
                del sys.modules[m]
    if papermill is None:
        import papermill
    return papermill


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip():
            return line.strip()[:120]
    return ""


def approved_index(nb, index: int) -> int:
    """Index of executed cell ``index`` in the approved notebook (without added cells)."""
    added = 0
    for cell in nb.cells[:index]:
        tags = cell.get("metadata", {}).get("tags", [])
        if INJECTED_TAG in tags or "papermill-error-cell-tag" in tags:
            added += 1
    return index - added


def _failure(nb, index: int, exec_count, ename: str, evalue: str):
    cell = nb.cells[index]
    first = _first_line(cell.get("source", ""))
    where = approved_index(nb, index)
    count = f", In [{exec_count}]" if exec_count else ""
    msg = f"cell {where}{count} `{first}` raised {ename}: {evalue}".rstrip(": ")
    return NotebookExecutionError(msg, cell_index=where, first_line=first, ename=ename, evalue=evalue,
                                  exec_count=exec_count)


def papermill_error_cells(exec_count: Any) -> tuple[Any, Any] | None:
    """papermill's error banner (top of the notebook) and anchor (above the failed cell), built
    from papermill's own texts so a timed-out run looks like any failed papermill run; None
    when papermill no longer has them (the cell then just carries its error output)."""
    from nbformat.v4 import new_markdown_cell

    try:
        from papermill.execute import ERROR_ANCHOR_MSG, ERROR_MARKER_TAG, ERROR_MESSAGE_TEMPLATE

        banner = new_markdown_cell(ERROR_MESSAGE_TEMPLATE % str(exec_count))
    except (ImportError, TypeError, ValueError):
        return None
    anchor = new_markdown_cell(ERROR_ANCHOR_MSG)
    banner.metadata["tags"] = anchor.metadata["tags"] = [ERROR_MARKER_TAG]
    return banner, anchor


def _mark_stopped_cell(nb, ename: str, evalue: str) -> NotebookExecutionError:
    """After a timeout or a dead kernel: put an error and papermill's banner on the cell that ran last."""
    from nbformat.v4 import new_output

    started = [i for i, c in enumerate(nb.cells)
               if c.get("cell_type") == "code" and c.get("metadata", {}).get("papermill", {}).get("start_time")]
    index = started[-1] if started else 0
    cell = nb.cells[index]
    cell.setdefault("outputs", []).append(new_output("error", ename=ename, evalue=evalue, traceback=[]))
    cell.metadata.setdefault("papermill", {}).update(exception=True, status="failed")
    nb.metadata.setdefault("papermill", {})["exception"] = True
    err = _failure(nb, index, cell.get("execution_count"), ename, evalue)
    cells = papermill_error_cells(cell.get("execution_count"))
    if cells is not None:
        nb.cells.insert(index, cells[1])
        nb.cells.insert(0, cells[0])
    return err


@functools.cache
def warm_engine() -> str:
    """papermill's nbclient engine, on a kernel that is already running (see :mod:`.kernels`).

    nbclient leaves a kernel it did not start running, and its client connected;
    this engine closes the client, and :func:`execute` shuts the kernel down. It mirrors
    papermill's ``NBClientEngine.execute_managed_notebook``; if papermill's engine API
    moves, this raises and :func:`execute` runs the notebook on a kernel of its own.
    """
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.log import logger

    class WarmKernelEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                     stderr_file=None, start_timeout=60, execution_timeout=None, **kwargs):
            kwargs.pop("input_path", None)
            client = PapermillNotebookClient(nb_man, timeout=execution_timeout, startup_timeout=start_timeout,
                                             kernel_name=kernel_name, log=logger, log_output=log_output,
                                             stdout_file=stdout_file, stderr_file=stderr_file, **kwargs)
            # papermill rewrites the whole output notebook when each cell starts and ends (for
            # whoever watches the file); ours is a private temp file read once papermill is done,
            # and written by papermill's notebook_complete whatever happens: 2 writes per cell saved
            nb_man.save = lambda **kw: None
            try:
                return client.execute()
            finally:
                del nb_man.save
                mark("execute.cells.end")
                if client.kc is not None:
                    client.kc.stop_channels()

    papermill_engines.register(WARM_ENGINE, WarmKernelEngine)
    return WARM_ENGINE


WARM_ENGINE = "nbtrack-warm-kernel"


def execute(input_path: str, output_path: str, parameters: dict[str, Any], *, cwd: str,
            env: dict[str, str], timeout: float | None = None, progress: bool = False,
            kernel_name: str | None = None, kernel=None):
    """Run ``input_path`` with papermill; return the executed notebook.

    Parameters
    ----------
    input_path, output_path : str
        Local notebook paths; the executed notebook is written to ``output_path``
        (also when it fails, with papermill's error banner).
    parameters : dict
        Injected after the ``parameters`` cell (cell tagged ``injected-parameters``).
    cwd : str
        Working directory of the kernel (a clean temporary folder).
    env : dict
        Variables added to the kernel's environment.
    timeout : float, optional
        Seconds any one cell may run (papermill's ``execution_timeout``).
    kernel : nbtrack.pipeline.kernels.Kernel, optional
        A kernel already launched for this run (with ``cwd`` and ``env``); it is
        shut down here when the notebook is done, like a kernel papermill starts.

    Raises
    ------
    NotebookExecutionError
        A cell raised, a cell timed out or the kernel died.
    """
    import nbformat

    papermill = import_papermill()
    from papermill.exceptions import PapermillExecutionError

    engine = None
    if kernel is not None:
        try:
            engine = warm_engine()
        except Exception:  # papermill's engine API moved: the plain path, with a kernel of its own
            shutdown(kernel)
            kernel = None
    if kernel is not None:
        sockets, how = None, {"engine_name": engine, "km": kernel.km}
    else:
        sockets = socket_folder()
        how = {"kernel_manager_class": kernel_manager_class(env, sockets)}
    idle = False  # the kernel finished what it was asked: no interrupt before its shutdown
    mark("execute.papermill", warm=kernel is not None)
    try:
        nb = papermill.execute_notebook(
            # The kernel's cwd through nbclient's resources, not papermill's cwd=, which
            # would chdir this whole process (unsafe with threads, e.g. a Dask worker).
            input_path, output_path, parameters=parameters, resources={"metadata": {"path": cwd}},
            progress_bar=progress, kernel_name=kernel_name, execution_timeout=timeout, **how,
        )
        idle = True
        mark("execute.papermill.end")
        return nb
    except PapermillExecutionError as e:
        idle = True  # a cell raised; the kernel is back to idle
        nb = nbformat.read(output_path, as_version=4)
        index = next((i for i, c in enumerate(nb.cells) if c.get("metadata", {}).get("papermill", {})
                      .get("exception")), e.cell_index)
        raise _failure(nb, index, e.exec_count, e.ename, e.evalue) from None
    except (KeyboardInterrupt, NotebookExecutionError):
        raise
    except Exception as e:  # CellTimeoutError, DeadKernelError, a kernel that never started
        if not os.path.exists(output_path):
            raise NotebookExecutionError(f"the kernel failed to start: {type(e).__name__}: {e}",
                                         cell_index=None, first_line="", ename=type(e).__name__,
                                         evalue=str(e)) from e
        nb = nbformat.read(output_path, as_version=4)
        ename = type(e).__name__
        evalue = f"cell timed out after {timeout:g} s" if ename == "CellTimeoutError" and timeout else str(e)
        evalue = evalue.splitlines()[0] if evalue else ("the kernel died" if "Dead" in ename else "")
        err = _mark_stopped_cell(nb, ename, evalue)
        nbformat.write(nb, output_path)
        raise err from e
    finally:
        if kernel is not None:
            shutdown(kernel, interrupt=not idle)
            mark("execute.shutdown.end")
        if sockets:
            shutil.rmtree(sockets, ignore_errors=True)
