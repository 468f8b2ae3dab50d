"""Other projects' internals nbtrack relies on, checked so that a change upstream fails here,
loudly, instead of making nbtrack silently slower or wrong (docs/benchmarks.md, "Upstream
internals", says what each one buys). Each also has a fallback to the plain path; the
fallbacks are exercised here too."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def papermill_fast(monkeypatch):
    """papermill imported as nbtrack's CLI imports it (seconds faster)."""
    from nbtrack.pipeline import execute

    monkeypatch.setattr(execute, "TRIM_PAPERMILL_IMPORT", True)
    return execute.import_papermill()


def run_python(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.strip().splitlines()[-1]


# -- papermill / jsonschema start-up trims (our CLI only) -----------------------------------
def test_papermill_trim_still_has_something_to_trim():
    """papermill still imports a handler per remote store, and jsonschema still builds the
    rfc3987 grammar when it can: otherwise the trims are dead code and should go."""
    from pathlib import Path

    import importlib.util

    from nbtrack.pipeline.execute import JSONSCHEMA_UNUSED, PAPERMILL_REMOTE_IO

    def source(module: str) -> Path:  # read, not imported: importing them is what is slow
        return Path(importlib.util.find_spec(module).origin)

    sources = "".join(p.read_text() for p in source("papermill").parent.glob("*.py"))
    for module in PAPERMILL_REMOTE_IO:
        assert re.search(rf"^\s*(from|import) {re.escape(module)}[ .\n]", sources, re.M), module
    fmt = (source("jsonschema").parent / "_format.py").read_text()
    assert all(re.search(rf"^\s*(from|import) {m}[ .\n]", fmt, re.M) for m in JSONSCHEMA_UNUSED)


def test_trimmed_papermill_import_hides_nothing_afterwards_and_validates_notebooks():
    seen = run_python(
        "import sys\n"
        "from nbtrack.pipeline import execute\n"
        "execute.TRIM_PAPERMILL_IMPORT = True\n"
        "execute.import_papermill()\n"
        "import nbformat\n"
        "nbformat.validate(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('x = 1')]))\n"
        "hidden = execute.PAPERMILL_REMOTE_IO + execute.JSONSCHEMA_UNUSED\n"
        "assert not any(sys.modules.get(m, 0) is None for m in hidden), 'left hidden'\n"
        "print(sorted(m for m in ('pyarrow.fs', 'rfc3987_syntax') if m in sys.modules))")
    assert seen == "[]"


def test_trimmed_papermill_import_falls_back_when_papermill_needs_a_hidden_module():
    seen = run_python(
        "import sys\n"
        "from nbtrack.pipeline import execute\n"
        "execute.TRIM_PAPERMILL_IMPORT = True\n"
        "execute.PAPERMILL_REMOTE_IO = ('nbclient',)  # papermill cannot do without it\n"
        "pm = execute.import_papermill()\n"
        "print(pm.execute_notebook.__name__, sys.modules['nbclient'] is not None)")
    assert seen == "execute_notebook True"


# -- papermill's error banner on a timed-out or dead-kernel run ----------------------------
def test_papermill_error_banner_texts_and_fallback(papermill_fast, monkeypatch):
    import papermill.execute as pm_execute

    from nbtrack.pipeline.execute import papermill_error_cells

    banner, anchor = papermill_error_cells(3)
    assert banner.metadata["tags"] == anchor.metadata["tags"] == [pm_execute.ERROR_MARKER_TAG]
    assert "In [3]" in banner.source and anchor.source == pm_execute.ERROR_ANCHOR_MSG
    monkeypatch.delattr(pm_execute, "ERROR_MESSAGE_TEMPLATE")
    assert papermill_error_cells(3) is None  # the failed cell still gets its error output


# -- the warm-kernel engine ------------------------------------------------------------------
def test_warm_engine_mirrors_papermills_nbclient_engine(papermill_fast):
    from nbclient import NotebookClient
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.execute import execute_notebook

    from nbtrack.pipeline.execute import warm_engine

    ours = ["nb_man", "kernel_name", "log_output", "stdout_file", "stderr_file", "start_timeout",
            "execution_timeout"]
    theirs = list(inspect.signature(NBClientEngine.execute_managed_notebook).parameters)
    assert theirs[:len(ours)] == ours and theirs[-1] == "kwargs"
    assert issubclass(PapermillNotebookClient, NotebookClient)
    assert "km" in inspect.signature(NotebookClient.__init__).parameters  # runs on a kernel it did not start
    assert "engine_kwargs" in inspect.signature(execute_notebook).parameters  # km reaches the engine
    assert papermill_engines.get_engine(warm_engine()).__name__ == "WarmKernelEngine"


# -- skops' private state ----------------------------------------------------------------------
def _models():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X = np.random.default_rng(0).normal(size=(60, 3))
    y = X[:, 0] > 0
    return [make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y),
            OneHotEncoder().fit([["a"], ["b"]])]


def test_skops_private_state_equals_the_public_one_and_falls_back(monkeypatch):
    import skops.io._utils as skops_utils

    from nbtrack.snapshot import model_io

    for m in _models():
        assert model_io._archive(*model_io._private_state(m)) == model_io._archive(*model_io._public_state(m))
    fast = model_io.skops_dumps(_models()[0])

    def moved(*a, **k):
        raise TypeError("get_state() got an unexpected keyword argument")

    monkeypatch.setattr(skops_utils, "get_state", moved)
    monkeypatch.setattr(model_io, "FAST_ARCHIVE", False)  # the skops path (models nbtrack.model/1 cannot hold)
    assert model_io.dumps(_models()[0]) == (fast, model_io.SKOPS)  # same bytes, never pickled instead


# -- pandas' private fields in the fingerprint ------------------------------------------------
@pytest.mark.parametrize("values", [
    pd.array([1.5, 2.5]), np.array([1, 2]), pd.array([True, False]), pd.array([1, None], dtype="Int64"),
    pd.array([0.5, None], dtype="Float64"), pd.array([True, None], dtype="boolean"),
    pd.array(["a", None], dtype="string[pyarrow]"), pd.array([1, 2], dtype="int64[pyarrow]"),
    pd.Series(["a", "b"]).array, pd.date_range("2026-01-01", periods=2).array,
    pd.date_range("2026-01-01", periods=2, tz="UTC").array, pd.to_timedelta([1, 2], unit="s").array,
], ids=lambda v: str(getattr(v, "dtype", type(v))))
def test_fingerprint_reads_pandas_buffers(values):
    from nbtrack.snapshot.fingerprint import buffers

    assert buffers(pd.Series(values).array) is not None, "pandas moved a field: fingerprints got ~100x slower"


def test_fingerprint_without_the_buffers_is_slower_never_different_in_kind(monkeypatch):
    from nbtrack.snapshot import fingerprint as fp

    a = pd.DataFrame({"x": [1.0, 2.0], "n": pd.array([1, None], dtype="Int64"), "s": ["a", "b"]})
    b = a.copy()
    monkeypatch.setattr(fp, "buffers", lambda values: None)
    assert fp.fingerprint(a) == fp.fingerprint(b) != fp.fingerprint(b.assign(x=[1.0, 3.0]))


# -- ipykernel and matplotlib internals read by capture (stdout fd, shown figures) ------------
def test_ipykernel_outstream_fd_watcher_shape():
    from ipykernel.iostream import OutStream

    source = inspect.getsource(OutStream)
    assert "self._fid = " in source and "self.watch_fd_thread = " in source, "capture.stdout cannot drain C output"
    assert "os.read" in inspect.getsource(OutStream._watch_pipe_fd)


def test_matplotlib_figure_registry_shape():
    from matplotlib import _pylab_helpers

    assert callable(_pylab_helpers.Gcf.get_all_fig_managers)
