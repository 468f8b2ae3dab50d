"""``nbtrack reproduce`` with real kernels: a deterministic run matches, a noisy one does not."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import nbtrack
from nbtrack.cli import cli
from nbtrack.errors import InvalidInput
from nbtrack.pipeline.reproduce import compare_env, compare_metrics


def test_deterministic_pipeline_run_reproduces(approve, workspace):
    approve("train.ipynb", "churn-train")
    first = nbtrack.run_pipeline("churn-train", params={"C": 0.5, "penalty": "l1"})
    res = CliRunner().invoke(cli, ["reproduce", first.run_id[:8]], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "every metric matches" in res.output and "auc" in res.output
    again = nbtrack.runs(kind="pipeline").iloc[0]
    assert again.id != first.run_id
    run = nbtrack.get_run(again.id)
    assert run.tags["nbtrack.reproduces"] == first.run_id
    assert run.params == nbtrack.get_run(first.run_id).params  # same parameters, defaults included


def test_non_deterministic_run_reports_the_difference(approve, workspace):
    approve("noisy.ipynb", "noisy")
    first = nbtrack.run_pipeline("noisy")
    result = nbtrack.reproduce(first.run_id)
    assert not result.matched and result.exit_code == 1
    row = result.metrics.set_index("metric").loc["auc"]
    assert row["original"] == pytest.approx(first.metrics["auc"]) and row["difference"] > 0 and not row["match"]
    res = CliRunner().invoke(cli, ["reproduce", first.run_id, "--tolerance", "1e-9"], catch_exceptions=False)
    assert res.exit_code == 1 and "NOT reproduced" in res.output


def test_seeded_noisy_run_reproduces_and_the_seed_is_a_parameter(approve, workspace):
    approve("noisy.ipynb", "noisy")
    first = nbtrack.run_pipeline("noisy", params={"seed": 42})
    assert nbtrack.reproduce(first.run_id).matched


def test_tracked_cell_is_re_executed_in_a_fresh_kernel(run_notebook, workspace):
    run_notebook(["%load_ext nbtrack", "%%track square\nx = 12\nscore = x * x"])
    cell = nbtrack.runs(kind="cell").iloc[0]
    result = nbtrack.reproduce(cell.id)
    assert result.matched, result.metrics
    new = nbtrack.get_run(result.reproduced)
    assert new.kind == "cell" and new.metrics["score"] == 144 and new.tags["nbtrack.reproduces"] == cell.id


def test_comparisons():
    m = compare_metrics({"a": 1.0, "b": 2.0, "c": 1e6}, {"a": 1.0 + 1e-12, "b": 2.5, "c": 1e6 + 1e-4}, 1e-9)
    assert list(m["match"]) == [True, False, True]
    m = compare_metrics({"a": 1.0}, {}, 1e-9)
    assert not m["match"][0]
    e = compare_env({"python": "3.11.7", "packages": {"numpy": "2.0", "old": "1"}},
                    {"python": "3.12.1", "packages": {"numpy": "2.1", "new": "3"}})
    assert list(e["what"]) == ["python", "package new", "package numpy", "package old"]
    assert e.set_index("what").loc["package new", "original"] == "(none)"


def test_script_runs_cannot_be_reproduced(workspace):
    with nbtrack.track("s") as run:
        pass
    with pytest.raises(InvalidInput, match="script run"):
        nbtrack.reproduce(run.id)


def test_tracked_cell_gets_its_recorded_dataframe_inputs_back(run_notebook, workspace):
    run_notebook(["%load_ext nbtrack\nimport pandas as pd\nraw = pd.DataFrame({'x': [1.0, 2.0, 4.0]})",
                  "%%track\ntotal_score = float(raw['x'].sum())"])
    cell = nbtrack.runs(kind="cell").iloc[0]
    result = nbtrack.reproduce(cell.id)
    assert result.matched, result.metrics
    assert nbtrack.get_run(result.reproduced).metrics["total_score"] == 7.0
