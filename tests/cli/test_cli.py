from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

import nbtrack
from nbtrack.cli import cli


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def two_runs(workspace):
    with nbtrack.track("alpha", params={"model": "rf"}) as a:
        a.log_metric("acc", 0.9)
        a.log_artifact("hello\n", name="notes.txt")
    with nbtrack.track("beta", params={"model": "svm"}) as b:
        b.log_metric("acc", 0.8)
    return a.id, b.id


def all_commands(group=cli, prefix=()):
    for name, cmd in sorted(group.commands.items()):
        yield prefix + (name,), cmd
        if hasattr(cmd, "commands"):
            yield from all_commands(cmd, prefix + (name,))


@pytest.mark.parametrize("path", [p for p, _ in all_commands()], ids=" ".join)
def test_every_command_has_help(runner, path):
    result = runner.invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    cmd = dict(all_commands())[path]
    assert cmd.help, f"{' '.join(path)} has no help text"


def test_init_creates_a_workspace(runner, tmp_path, monkeypatch):
    monkeypatch.delenv("NBTRACK_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["init"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / ".nbtrack" / "meta.db").is_file()
    nbtrack.workspace.reset_cache()


def test_runs_formats_and_filter(runner, two_runs):
    result = runner.invoke(cli, ["runs", "--format", "json", "--filter", "metrics.acc > 0.85"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["name"] for r in rows] == ["alpha"] and rows[0]["params.model"] == "rf"
    csv = runner.invoke(cli, ["runs", "--format", "csv", "--order-by", "metrics.acc"]).output
    assert csv.splitlines()[0].startswith("id,name") and "beta" in csv.splitlines()[1]
    table = runner.invoke(cli, ["runs"]).output
    assert "alpha" in table and "beta" in table


def test_show_prints_params_metrics_artifacts(runner, two_runs):
    result = runner.invoke(cli, ["show", two_runs[0][:8]])
    assert result.exit_code == 0, result.output
    assert "alpha" in result.output and "model='rf'" in result.output and "acc=0.9" in result.output
    assert "notes.txt" in result.output
    data = json.loads(runner.invoke(cli, ["show", two_runs[0], "--format", "json"]).output)
    assert data["params"] == {"model": "rf"}


@pytest.mark.parametrize("args, code, message", [
    (["show", "nosuchrun"], 2, "no run 'nosuchrun'"),
    (["runs", "--filter", "metrics.acc >"], 2, "not a valid expression"),
    (["runs", "--order-by", "metrics.acc sideways"], 2, "cannot order by"),
    (["runs", "--format", "xml"], 2, "Invalid value"),
])
def test_errors_are_one_line_with_exit_codes(runner, two_runs, args, code, message):
    result = runner.invoke(cli, args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_fsck_detects_corruption_and_gc_is_a_dry_run(runner, two_runs, workspace):
    assert runner.invoke(cli, ["fsck"]).exit_code == 0
    run = nbtrack.get_run(two_runs[0])
    oid = run.artifacts[0]["oid"]
    path = workspace.objects.path(oid)
    os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(b"bit rot")
    result = runner.invoke(cli, ["fsck"])
    assert result.exit_code == 1
    assert f"CORRUPT {oid}" in result.output and f"run {run.id} (artifact 'notes.txt')" in result.output

    orphan = workspace.objects.put(b"nobody refers to me")
    dry = runner.invoke(cli, ["gc", "--min-age", "0"])
    assert dry.exit_code == 0 and "would delete 1" in dry.output and workspace.objects.exists(orphan)
    done = runner.invoke(cli, ["gc", "--min-age", "0", "--force"])
    assert "deleted 1" in done.output and not workspace.objects.exists(orphan)
    assert workspace.objects.exists(oid)  # referenced objects stay, even corrupt ones


def test_no_workspace_message(runner, tmp_path, monkeypatch):
    monkeypatch.delenv("NBTRACK_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    nbtrack.workspace.reset_cache()
    result = runner.invoke(cli, ["runs"])
    assert result.exit_code == 2 and "nbtrack init" in result.output


def test_console_script_entry_point(two_runs):
    out = subprocess.run([sys.executable, "-m", "nbtrack", "runs", "--format", "json"], capture_output=True,
                         text=True, env=os.environ)
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)) == 2


def test_show_lists_data_inputs_and_outputs(runner, run_notebook):
    run_notebook([
        "%load_ext nbtrack\nimport pandas as pd\nraw = pd.DataFrame({'x': [1, 2, 3]})",
        "%%track features\nfeatures = raw.assign(y=raw.x * 2)\nprint('rows:', len(features))",
    ])
    run_id = nbtrack.runs(filter="name == 'features'").id[0]
    out = runner.invoke(cli, ["show", run_id, "--no-source"]).output
    assert "inputs    raw@1" in out and "outputs   features@1" in out
    # issue 19 item 8: the run's stdout is shown, and the cell line never says "?"
    assert "--- stdout ---\nrows: 3" in out
    cell_line = next(ln for ln in out.splitlines() if ln.startswith("cell "))
    assert "?" not in cell_line and "version 1" in cell_line and ("features" in cell_line or "nb.ipynb" in cell_line)
    assert "rows: 3" not in runner.invoke(cli, ["show", run_id, "--no-stdout"]).output
    shown = json.loads(runner.invoke(cli, ["show", run_id, "--format", "json"]).output)
    listed = json.loads(runner.invoke(cli, ["runs", "--format", "json"]).output)
    assert shown["stdout"] == "rows: 3\n"
    # issue 19 item 10: `started` is ISO 8601 in both JSON outputs
    assert shown["started"] == listed[0]["started"] and "T" in shown["started"]
    # issue 19 item 8: the history of a cell by the name written after %%track
    assert nbtrack.cell_history("features")["id"].tolist() == [run_id]


# -- a broken meta.db: one clear line from every command (issue 12) -----------------------
READ_COMMANDS = [["runs"], ["show", "abc"], ["datasets"], ["models"], ["pipelines"], ["events"],
                 ["lineage", "abc"], ["gc"], ["diff", "a@1", "a@2"], ["fsck"]]


@pytest.mark.parametrize("damage", ["truncated", "newer", "empty"])
def test_a_broken_database_is_one_line_from_every_command(runner, two_runs, workspace, damage):
    from storefaults import damage_db

    nbtrack.snapshot(__import__("pandas").DataFrame({"a": range(3000)}), "frame")
    damage_db(workspace, damage)
    expected = {"truncated": "is damaged", "newer": "newer than this nbtrack", "empty": "is empty (0 bytes)"}[damage]
    for args in READ_COMMANDS:
        result = runner.invoke(cli, args)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 1 and "Traceback" not in result.output, (args, result.output)
        if args == ["fsck"]:  # the report: what is wrong, what to do, and the verdict
            assert expected in lines[0] and lines[-1] == "workspace has problems", result.output
        else:
            assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0], (args, lines)


def test_low_findings_are_one_clear_line_each(runner, two_runs, tmp_path):
    """Issue 12 (L6): --plot into a missing folder, a JSON-array notebook, --timeout -1."""
    (tmp_path / "array.ipynb").write_text("[1, 2, 3]")
    cases = [
        (["lineage", two_runs[0], "--plot", str(tmp_path / "missing" / "x.png")], "does not exist"),
        (["lineage", two_runs[0], "--plot", str(tmp_path / "x.weird")], "--plot"),
        (["approve", str(tmp_path / "array.ipynb"), "--name", "arr"], "is not a notebook"),
        (["run", "whatever", "--timeout", "-1"], "-1"),
        (["sweep", "whatever", "-p", "a", "1,2", "--timeout", "0"], "0"),
        (["gc", "--force", "--min-age", "-5"], "-5"),
    ]
    for args, needle in cases:
        result = runner.invoke(cli, args)
        lines = [line for line in result.output.splitlines()
                 if line.strip() and not line.startswith(("Usage:", "Try "))]
        assert result.exit_code == 2 and "Traceback" not in result.output, (args, result.output)
        assert len(lines) == 1 and needle in lines[0], (args, result.output)
    with pytest.raises(nbtrack.errors.InvalidInput, match="positive number of seconds"):
        nbtrack.run_pipeline("whatever", timeout=-1)


@pytest.mark.parametrize("bad", [  # the adversarial pass's finding M5 (repro/r09_filters.sh) and the limits
    "params.i in [1, 'a']", "params.i == [1, 2]", "metrics.acc > 1j", "params.i == {[1]: 2}",
    "cell_version == 99999999999999999999999", "not " * 2000 + "metrics.a > 1", "metrics.a > " + "-" * 3000 + "1",
    " and ".join(f"metrics.m{i} > 0" for i in range(70)), " or ".join(f"metrics.m{i} > 0" for i in range(31)),
    "status == 'finished') or (id == 'zzz'",
])
def test_every_malformed_filter_is_one_line_exit_2(runner, two_runs, bad):
    result = runner.invoke(cli, ["runs", "--filter", bad])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: cannot read filter") and result.output.count("\n") == 1, result.output


def test_runs_structured_filters(runner, two_runs):
    with pytest.raises(KeyError):
        with nbtrack.track("broken"):
            raise KeyError("x")
    out = runner.invoke(cli, ["runs", "--status", "failed", "--format", "json"])
    assert out.exit_code == 0 and [r["name"] for r in json.loads(out.output)] == ["broken"]
    both = runner.invoke(cli, ["runs", "--status", "failed", "--status", "finished", "--kind", "script", "-f",
                               "name == 'broken' or name is not None", "--format", "json"])
    assert len(json.loads(both.output)) == 3
