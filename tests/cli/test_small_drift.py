"""Issue 19 item 10: small drift between commands, docs and the API."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import nbtrack
from nbtrack.cli import cli

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture
def two_runs(workspace):
    with nbtrack.track("alpha", params={"model": "rf"}):
        nbtrack.log_metric("acc", 0.9)
    with nbtrack.track("beta", params={"depth": 3}):
        nbtrack.log_metric("f1", 0.5)
        nbtrack.snapshot(pd.DataFrame({"x": [1, 2]}), "frame")


def test_track_doc_lists_every_track_option():
    from nbtrack.capture.recorder import TrackOptions

    text = (DOCS / "track.md").read_text()
    for name in TrackOptions.__dataclass_fields__:
        if name != "name":
            assert f"--{name.replace('_', '-')}" in text, f"docs/track.md omits --{name.replace('_', '-')}"


def test_order_by_errors_speak_of_sorting_not_filters(two_runs):
    result = CliRunner().invoke(cli, ["runs", "--order-by", "nosuch"])
    assert result.exit_code == 2
    assert "cannot order by 'nosuch'" in result.output and "filter" not in result.output


def test_runs_missing_values_are_nan_in_every_column(two_runs):
    df = nbtrack.runs()
    missing = [df[c].iloc[i] for c in df.columns if c.startswith(("params.", "metrics.")) for i in range(len(df))
               if pd.isna(df[c].iloc[i])]
    assert missing and all(isinstance(v, float) and math.isnan(v) for v in missing), missing
    assert str(df["metrics.acc"].dtype) == "float64"


def test_piped_tables_have_no_padded_titles(two_runs):
    for args in (["runs"], ["datasets"]):
        out = CliRunner().invoke(cli, args).output  # CliRunner's stdout is not a terminal
        assert out.splitlines()[0] in ("2 run(s)", "datasets") or len(out.splitlines()[0]) < 60
        assert all(line == line.rstrip() for line in out.splitlines()), [ln for ln in out.splitlines()
                                                                         if ln != ln.rstrip()][:2]


def test_lineage_prints_no_python_repr(two_runs):
    out = CliRunner().invoke(cli, ["lineage", "frame@1"]).output
    assert out.startswith("lineage of frame@1: 2 nodes, 1 edge\n") and "<" not in out, out
    assert "--output--> frame@1" in out


@pytest.mark.slow
def test_demo_removes_its_temporary_workspace(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("NBTRACK_URI", "NBTRACK_NOTEBOOK")}
    env["TMPDIR"] = str(temp)
    out = subprocess.run([sys.executable, "-m", "nbtrack", "demo"], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=900)
    assert out.returncode == 0, out.stderr
    assert "random-forest" in out.stdout and "--keep" in out.stdout
    assert not list(temp.glob("nbtrack-demo-*"))
