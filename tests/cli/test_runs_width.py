"""Issue 19 acceptance: at COLUMNS=80 and 120 the runs table shows id, name and status whole;
the widget's run list follows the same rule (estimator hyper-parameters only when asked)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import nbtrack
from nbtrack.cli import cli


@pytest.fixture
def wide_runs(workspace):
    ids = []
    for i, status in enumerate(("finished", "failed")):
        try:
            with nbtrack.track(f"train-{i}") as run:
                ids.append(run.id)
                run.log_params({f"learning_rate_schedule_{k:02d}": k * 0.001 for k in range(15)})
                run.log_params({f"model.clf.hyper_{k}": k for k in range(30)})
                run.log_metric("validation_accuracy", 0.8 + i / 100)
                if status == "failed":
                    raise ValueError("boom")
        except ValueError:
            pass
    return ids


@pytest.mark.parametrize("width", [80, 120])
def test_id_name_status_whole_at_terminal_widths(wide_runs, width):
    res = CliRunner().invoke(cli, ["runs"], env={"COLUMNS": str(width)})
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert max(map(len, lines)) <= width, [ln for ln in lines if len(ln) > width]
    header = lines[2]
    assert "id" in header and "name" in header and "status" in header
    for run_id, name, status in zip(wide_runs, ("train-0", "train-1"), ("finished", "failed")):
        row = next(ln for ln in lines if run_id[:8] in ln)
        assert f" {name} " in row and f" {status} " in row, row
    assert "model.clf" not in res.output and "more column" in lines[-1]


def test_widget_run_list_leaves_estimator_hyperparameters_out(wide_runs):
    from nbtrack.ui import browser

    b = browser(notebook="", page_size=10)
    assert len(b.rows) == 2
    assert "hyper_" not in b.table_html and "validation_accuracy" in b.table_html
