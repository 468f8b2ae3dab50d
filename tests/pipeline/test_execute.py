"""How pipeline kernels start: Unix sockets, the run's folder and variables; our CLI's import trims."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from nbtrack.pipeline.execute import execute


def _notebook(path, source: str) -> None:
    nb = new_notebook(cells=[new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


PROBE = """\
import json, os, sys
from ipykernel.kernelapp import IPKernelApp
app = IPKernelApp.instance()
print(json.dumps({"transport": app.transport, "cwd": os.getcwd(), "env": os.environ.get("PROBE_VALUE"),
                  "path0": sys.path[0]}))
"""


def test_pipeline_kernel_talks_over_private_unix_sockets(tmp_path):
    src, out, cwd = tmp_path / "probe.ipynb", tmp_path / "out.ipynb", tmp_path / "cwd"
    cwd.mkdir()
    _notebook(src, PROBE)
    nb = execute(str(src), str(out), {}, cwd=str(cwd), env={"PROBE_VALUE": "42"})
    seen = json.loads(nb.cells[-1].outputs[0]["text"])
    assert seen["transport"] == ("ipc" if os.name == "posix" else "tcp")
    assert seen["cwd"] == str(cwd) and seen["env"] == "42"
    assert os.listdir(cwd) == []  # no sockets or connection files in the notebook's folder


def test_cli_trims_keep_the_hidden_modules_importable():
    """papermill loses only its remote handlers; pyarrow.fs etc. still import for everyone else."""
    code = ("import sys\n"
            "from nbtrack.cli.pipeline import skip_slow_optional_imports\n"
            "from nbtrack.pipeline.execute import PAPERMILL_REMOTE_IO, import_papermill\n"
            "skip_slow_optional_imports()\n"
            "import_papermill()\n"
            "assert 'papermill.iorw' in sys.modules and 'pyarrow.fs' not in sys.modules, 'HDFS handler loaded'\n"
            "assert not any(sys.modules.get(m, 0) is None for m in PAPERMILL_REMOTE_IO), 'left hidden'\n"
            "import pyarrow.fs\n"
            "print('ok', 'pyarrow.fs' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok", "True"]
