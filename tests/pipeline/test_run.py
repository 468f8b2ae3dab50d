"""``nbtrack run`` with real kernels: structure, artifacts, failures, gates, timeouts, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import nbformat
import pytest
from click.testing import CliRunner

import nbtrack
from nbtrack.cli import cli
from nbtrack.errors import GateFailed, NotebookExecutionError


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_run_records_a_pipeline_run_with_child_cells_and_the_executed_notebook(approve, workspace, tmp_path):
    approve("train.ipynb", "churn-train")
    res = invoke("run", "churn-train", "-p", "C", "2", "-p", "penalty", "l1", "--output", "out/executed.ipynb")
    assert res.exit_code == 0, res.output
    df = nbtrack.runs()
    pipe = df[df.kind == "pipeline"].iloc[0]
    child = df[df.kind == "cell"].iloc[0]
    assert child.parent == pipe.id and child["name"] == "train"
    assert pipe["params.C"] == 2.0 and pipe["params.penalty"] == "l1" and pipe["params.n"] == 3
    assert pipe["metrics.auc"] == pytest.approx(1 - 1 / 7 + 0.01, abs=1e-6)  # gate metrics copied up
    run = nbtrack.get_run(pipe.id)
    assert run.tags["nbtrack.pipeline"] == "churn-train" and run.tags["nbtrack.pipeline_version"] == "1"
    assert json.loads(run.tags["nbtrack.pins"]) == {}
    nb = nbformat.reads(run.artifact("executed.ipynb").decode(), as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "C = 2" in injected[0].source and 'penalty = "l1"' in injected[0].source
    assert "auc 0.867" in "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert (tmp_path / "out" / "executed.ipynb").read_bytes() == run.artifact("executed.ipynb")
    assert not any(p.name.startswith("executed-") for p in tmp_path.iterdir())  # ran in a temp folder


def test_failing_cell_exit_1_names_the_cell_and_keeps_the_banner(approve, workspace):
    approve("failing.ipynb", "fails")
    res = invoke("run", "fails", "-p", "x", "7")
    assert res.exit_code == 1
    assert "cell 2" in res.output and "raise ValueError(f\"boom {x}\")" in res.output
    assert "ValueError: boom 7" in res.output
    run = nbtrack.get_run(nbtrack.runs(kind="pipeline").id[0])
    assert run.status == "failed" and run.error_type == "NotebookExecutionError"
    assert run.tags["nbtrack.failed_cell"] == "2"
    nb = nbformat.reads(run.artifact("executed.ipynb").decode(), as_version=4)
    assert "An Exception was encountered" in nb.cells[0].source  # papermill's banner
    assert any("papermill-error-cell" in c.source for c in nb.cells if c.cell_type == "markdown")


def test_python_api_raises_with_structured_fields(approve, workspace):
    approve("failing.ipynb", "fails")
    with pytest.raises(NotebookExecutionError) as e:
        nbtrack.run_pipeline("fails")
    f = e.value.fields
    assert (f["cell_index"], f["ename"], f["evalue"]) == (2, "ValueError", "boom 1")
    assert f["first_line"] == 'raise ValueError(f"boom {x}")' and f["run_id"]


def test_gates_decide_the_exit_code(approve, workspace):
    approve("train.ipynb", "churn-train")
    ok = invoke("run", "churn-train", "--gate", "metrics.auc>=0.7", "--gate", "auc < 1")
    assert ok.exit_code == 0, ok.output
    assert "PASS metrics.auc>=0.7" in ok.output
    bad = invoke("run", "churn-train", "--gate", "metrics.auc>=0.99")
    assert bad.exit_code == 1
    assert "FAIL metrics.auc>=0.99: auc = 0.75, needs >= 0.99" in bad.output
    missing = invoke("run", "churn-train", "--gate", "metrics.f1>=0.5")
    assert missing.exit_code == 1 and "metric 'f1' not recorded" in missing.output
    tags = nbtrack.get_run(nbtrack.runs(kind="pipeline").id[1]).tags
    assert tags["nbtrack.gates"].startswith("failed:")


def test_gate_failed_carries_the_result(approve, workspace):
    approve("train.ipynb", "churn-train")
    with pytest.raises(GateFailed) as e:
        nbtrack.run_pipeline("churn-train", params={"C": 1}, gates=["auc >= 0.9"])
    result = e.value.fields["result"]
    assert not result.passed and result.gates[0].value == pytest.approx(0.75)


def test_timeout_is_reported_like_a_failing_cell(approve, workspace):
    approve("slow.ipynb", "slow")
    res = invoke("run", "slow", "--timeout", "2")
    assert res.exit_code == 1
    assert "cell 2" in res.output and "time.sleep(seconds)" in res.output and "timed out after 2 s" in res.output
    run = nbtrack.get_run(nbtrack.runs(kind="pipeline").id[0])
    assert run.status == "failed"
    nb = nbformat.reads(run.artifact("executed.ipynb").decode(), as_version=4)
    assert "An Exception was encountered" in nb.cells[0].source


def test_kernel_death_is_reported(approve, workspace):
    approve("dies.ipynb", "dies")
    res = invoke("run", "dies")
    assert res.exit_code == 1
    assert "cell 1" in res.output and "`import os`" in res.output and "DeadKernelError" in res.output
    assert nbtrack.runs(kind="pipeline").status[0] == "failed"


def test_ctrl_c_stops_the_kernel_and_records_interrupted(approve, workspace, tmp_path):
    approve("slow.ipynb", "slow")
    pidfile = tmp_path / "kernel.pid"
    proc = subprocess.Popen([sys.executable, "-m", "nbtrack", "run", "slow", "-p", "pidfile", str(pidfile)],
                            env={**os.environ, "NBTRACK_URI": str(workspace.root)}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    while not (pidfile.exists() and pidfile.read_text()) and time.time() < deadline:
        time.sleep(0.1)
    kernel_pid = int(pidfile.read_text())
    time.sleep(0.5)  # inside time.sleep(seconds)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    run = nbtrack.get_run(nbtrack.runs(kind="pipeline").id[0])
    assert run.status == "interrupted"
    for _ in range(50):
        try:
            os.kill(kernel_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"kernel {kernel_pid} still alive after Ctrl-C")


def test_secret_parameters_are_masked_in_the_stored_notebook_and_child_stdout(workspace, tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('api_token = "placeholder"\nC = 1.0', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("%load_ext nbtrack"),
                nbformat.v4.new_code_cell("%%track fetch\nprint('calling with', api_token)\nscore = C * 2"),
                nbformat.v4.new_code_cell("print('untracked', api_token)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "fetch.ipynb")
    nbtrack.approve(str(tmp_path / "fetch.ipynb"), name="fetch", reason="test")
    res = invoke("run", "fetch", "-p", "api_token", "SEKRIT-P1", "-p", "C", "2", "--output", "mine.ipynb")
    assert res.exit_code == 0, res.output
    assert "SEKRIT-P1" in (tmp_path / "mine.ipynb").read_text()  # the caller's own copy, as executed
    pipe = nbtrack.get_run(nbtrack.runs(kind="pipeline").id[0])
    child = nbtrack.get_run(nbtrack.runs(kind="cell").id[0])
    assert pipe.params["api_token"] == "***" and pipe.params["C"] == 2.0
    assert child.stdout == "calling with ***\n" and child.metrics == {"score": 4.0}
    stored = pipe.artifact("executed.ipynb")
    assert b"SEKRIT-P1" not in stored and b"untracked ***" in stored
    store = b"".join(p.read_bytes() for p in (tmp_path / ".nbtrack").rglob("*") if p.is_file())
    assert b"SEKRIT-P1" not in store
