"""The registry CLI: each command over the API, exit codes 0 done / 1 refused / 2 usage or input."""

from __future__ import annotations

import json

import nbformat
import pytest
from click.testing import CliRunner
from registry.regfixtures import trained_run

import nbtrack
from nbtrack.cli import cli

COMMANDS = [["models"], ["models", "show"], ["register"], ["alias"], ["alias", "set"], ["alias", "delete"],
            ["promote"], ["rollback"], ["approve"], ["revoke"], ["pipelines"], ["events"]]


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_everywhere(command):
    res = run(*command, "--help")
    assert res.exit_code == 0 and "Usage:" in res.output


def test_register_alias_promote_rollback_exit_codes(workspace):
    r1, _ = trained_run(0.01, 0.80)
    r2, _ = trained_run(1.0, 0.90)
    r3, _ = trained_run(100.0, 0.85)
    res = run("register", r1, "--name", "churn", "--reason", "baseline")
    assert res.exit_code == 0 and "registered churn@1" in res.output
    assert run("register", r1, "--name", "churn").output.startswith("churn@1 already holds")
    for r in (r2, r3):
        assert run("register", r, "--name", "churn").exit_code == 0
    res = run("alias", "set", "churn", "production", "1", "--reason", "go live")
    assert res.exit_code == 0 and "unset -> version 1" in res.output
    res = run("promote", "churn", "2", "--to", "production", "--gate", "metrics.auc >= 0.85", "--vs", "production")
    assert res.exit_code == 0 and "promoted" in res.output
    res = run("promote", "churn", "3", "--gate", "metrics.auc >= 0.8", "--vs", "production", "--metric", "auc")
    assert res.exit_code == 1 and "refused" in res.output and "0.85 < churn@2 auc = 0.9" in res.output
    res = run("promote", "churn", "3", "--gate", "metrics.auc >= 0.9", "--format", "json")
    assert res.exit_code == 1 and json.loads(res.stdout)["accepted"] is False
    assert nbtrack.get_model_version("churn@production").version == 2
    res = run("rollback", "churn", "--alias", "production", "--reason", "incident")
    assert res.exit_code == 0 and "version 2 -> version 1" in res.output
    res = run("alias", "set", "churn", "production", "3", "--expect", "2")
    assert res.exit_code == 1 and "expected version 2, it holds version 1" in res.output

    # usage and input errors: 2
    assert run("promote", "churn").exit_code == 2
    assert run("promote", "churn", "9").exit_code == 2  # no such version
    assert run("promote", "churn", "3", "--gate", "auc >>").exit_code == 2
    assert run("register", "nope", "--name", "x").exit_code == 2
    assert run("rollback", "ghost").exit_code == 2
    assert run("models", "show", "ghost").exit_code == 2

    res = run("models")
    assert res.exit_code == 0 and "production=1" in res.output
    res = run("models", "show", "churn", "--format", "json")
    assert [v["version"] for v in json.loads(res.output)] == [3, 2, 1]
    res = run("events", "--target", "churn@production", "--format", "json")
    actions = [e["action"] for e in json.loads(res.output)]
    assert actions == ["alias.set", "alias.promote", "alias.promote_refused", "alias.promote_refused",
                       "alias.rollback", "alias.conflict"]
    assert "incident" in run("events").output


def test_approve_pipelines_revoke(workspace, tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, tmp_path / "bare.ipynb")
    res = run("approve", str(tmp_path / "bare.ipynb"), "--name", "p")
    assert res.exit_code == 2 and "parameters" in res.output
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, tmp_path / "ok.ipynb")
    res = run("approve", str(tmp_path / "ok.ipynb"), "--name", "p", "--reason", "reviewed")
    assert res.exit_code == 0 and "approved p@1" in res.output and "x=1" in res.output
    res = run("pipelines", "--format", "json")
    assert json.loads(res.output)[0]["status"] == "approved"
    assert run("revoke", "p", "1").exit_code == 2  # --reason is required
    res = run("revoke", "p", "1", "--reason", "bad data")
    assert res.exit_code == 0 and "revoked p@1" in res.output
    assert json.loads(run("pipelines", "p", "--format", "json").output)[0]["status"] == "revoked"
