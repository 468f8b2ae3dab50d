"""The example GitHub Actions workflow: its nbtrack commands run as written."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

import nbtrack

WORKFLOW = Path(__file__).resolve().parents[2] / "examples" / "github-actions.yml"


def _steps():
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["pipeline"]["steps"]


def nbtrack_commands() -> list[str]:
    """Every shell line of a `run:` step that invokes nbtrack, exactly as written."""
    out = []
    for step in _steps():
        for line in step.get("run", "").replace("\\\n", " ").splitlines():
            if line.strip().startswith("nbtrack "):
                out.append(line.strip())
    return out


def test_workflow_runs_an_approved_pipeline_and_uploads_what_it_writes(approve, workspace, tmp_path):
    approve("train.ipynb", "churn-train")
    commands = nbtrack_commands()
    assert commands and all("--gate" in c for c in commands)
    work = tmp_path / "checkout"
    work.mkdir()
    bindir = os.path.dirname(sys.executable)
    env = {**os.environ, "NBTRACK_URI": str(workspace.root), "PATH": f"{bindir}:{os.environ['PATH']}"}
    for cmd in commands:
        shlex.split(cmd)  # valid shell words
        done = subprocess.run(["bash", "-e", "-c", cmd], cwd=work, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    upload = next(s for s in _steps() if s.get("uses", "").startswith("actions/upload-artifact"))
    executed = work / upload["with"]["path"]
    nb = nbformat.read(executed, as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    assert upload.get("if") == "always()"  # the notebook is uploaded when a gate fails too
    assert nbtrack.runs(kind="pipeline").status[0] == "finished"


def test_a_failing_gate_fails_the_job(approve, workspace, tmp_path):
    approve("train.ipynb", "churn-train")
    cmd = nbtrack_commands()[0].replace("metrics.auc>=0.7", "metrics.auc>=0.99")
    bindir = os.path.dirname(sys.executable)
    env = {**os.environ, "NBTRACK_URI": str(workspace.root), "PATH": f"{bindir}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-e", "-c", cmd], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 1 and "FAIL metrics.auc>=0.99" in done.stdout + done.stderr
    assert (tmp_path / "executed.ipynb").exists()
