"""`nbtrack datasets`, `datasets show`, `diff`, `lineage`: thin shells over the Python API."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

import nbtrack
from nbtrack.cli import cli


@pytest.fixture
def two_versions(workspace):
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]}, index=pd.Index([10, 11, 12], name="id"))
    nbtrack.snapshot(df, "raw")
    df2 = df.copy()
    df2.loc[11, "x"] = 20.0
    df2.loc[13] = [4.0, "z"]
    with nbtrack.track("clean") as run:
        nbtrack.snapshot(df2, "raw")
    return run.id


def invoke(*args):
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_datasets_and_show(two_versions):
    code, out = invoke("datasets", "--format", "json")
    assert code == 0
    (row,) = json.loads(out)
    assert row["name"] == "raw" and row["versions"] == 2 and row["n_rows"] == 4
    code, out = invoke("datasets", "show", "raw", "--format", "csv")
    assert code == 0 and out.splitlines()[0].startswith("version,ref,n_rows")
    assert "raw@2" in out and two_versions in out
    code, out = invoke("datasets", "show", "raw", "--stats", "2")
    assert code == 0 and "statistics" in out and "a (2)" in out


def test_diff(two_versions):
    code, out = invoke("diff", "raw@1", "raw@2")
    assert code == 0
    assert "diff raw@1 -> raw@2: 3 -> 4 rows" in out and "+1 added, -0 removed, ~1 changed" in out
    assert "--- changed (first 1 of 1) ---" in out
    code, out = invoke("diff", "raw@1", "raw@2", "--format", "json")
    assert json.loads(out)["column_changes"] == {"x": 1, "c": 0}


def test_lineage(two_versions, tmp_path):
    code, out = invoke("lineage", "raw@2", "--plot", str(tmp_path / "g.png"))
    assert code == 0 and f"run {two_versions[:8]} clean --output--> raw@2" in out
    assert (tmp_path / "g.png").stat().st_size > 1000
    code, out = invoke("lineage", two_versions, "--format", "csv")
    assert code == 0 and "raw@2" in out


@pytest.mark.parametrize("args, message", [
    (("diff", "raw@1", "raw@5"), "has no version 5"),
    (("datasets", "show", "nope"), "no dataset 'nope'"),
    (("lineage", "nope@1"), "neither a run id"),
])
def test_errors_are_one_line(two_versions, args, message):
    code, out = invoke(*args)
    assert code == 2 and message in out and "Traceback" not in out
