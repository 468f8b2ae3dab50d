"""`nbtrack runs` fits the terminal (issue 20 acceptance, issue 19 item 1); limit 0 means all."""

from __future__ import annotations

from click.testing import CliRunner

import nbtrack
from nbtrack.cli import cli


def _many_runs(n: int = 4) -> None:
    for i in range(n):
        with nbtrack.track(f"run-{i}-with-a-rather-long-descriptive-name-for-the-table") as run:
            run.log_params({f"param_{k:02d}": k * i for k in range(12)})
            run.log_params({f"model.clf.hyper_{k}": k for k in range(20)})
            run.log_metric("accuracy", 0.5 + i / 10)


def test_table_fits_the_width_and_counts_what_it_leaves_out(workspace):
    _many_runs()
    res = CliRunner().invoke(cli, ["runs"], env={"COLUMNS": "100"})
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert max(map(len, lines)) <= 100
    assert "id" in lines[2] and "name" in lines[2] and "status" in lines[2]
    assert lines[-1].startswith("+") and "more columns" in lines[-1] and "--all" in lines[-1]
    assert "model.clf" not in res.output  # estimator hyper-parameters stay on the model versions


def test_columns_and_all(workspace):
    _many_runs(2)
    res = CliRunner().invoke(cli, ["runs", "--columns", "metrics.accuracy,params.param_03"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    header = res.output.splitlines()[2]
    assert "metrics.accuracy" in header and "params.param_03" in header and "param_04" not in header
    res = CliRunner().invoke(cli, ["runs", "--all"], env={"COLUMNS": "80"})
    assert "params.model.clf.hyper_19" in res.output and "more column" not in res.output
    res = CliRunner().invoke(cli, ["runs", "--columns", "nope"])
    assert res.exit_code == 2 and "no column 'nope'" in res.output


def test_limit_zero_means_all(workspace):
    _many_runs(3)
    assert len(nbtrack.runs(limit=0)) == 3 and len(nbtrack.runs(limit=2)) == 2
    assert "params.model.clf.hyper_0" in nbtrack.runs(model_params=True).columns
    res = CliRunner().invoke(cli, ["runs", "-n", "0", "--format", "csv"])
    assert len(res.output.strip().splitlines()) == 4
