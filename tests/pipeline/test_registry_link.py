"""Gates that reach the registry: --register, --promote-to and --gate-vs."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import nbtrack
from nbtrack.cli import cli
from nbtrack.pipeline.gates import parse_vs
from nbtrack.registry.gates import lower_is_better


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_vs_gate_parsing_and_direction():
    g = parse_vs("production:auc", model="churn")
    assert (g.model, g.alias, g.metric) == ("churn", "production", "auc")
    assert parse_vs("churn@staging:log_loss").model == "churn"
    assert parse_vs("churn@p:log_loss").higher_is_better is None and lower_is_better("log_loss")
    assert parse_vs("churn@p:auc:lower").higher_is_better is False and not lower_is_better("auc")


@pytest.mark.slow  # issue 19: kept out of the fast subset (README)
def test_register_promote_then_a_worse_run_is_refused(approve, workspace):
    approve("model.ipynb", "fit")
    first = invoke("run", "fit", "-p", "w", "0.6", "--gate", "auc>=0.7", "--gate-vs", "production:auc",
                   "--register", "weights-model", "--promote-to", "production")
    assert first.exit_code == 0, first.output
    assert "registered weights-model@1, promoted to weights-model@production" in first.output
    assert nbtrack.load_model("weights-model@production", trust=True) == {"w": 0.6}

    worse = invoke("run", "fit", "-p", "w", "0.5", "--gate-vs", "production:auc",
                   "--register", "weights-model", "--promote-to", "production")
    assert worse.exit_code == 1
    assert "FAIL production:auc: run " in worse.output
    assert "auc = 0.75 < weights-model@1 auc = 0.8 (recorded metrics)" in worse.output
    assert nbtrack.load_model("weights-model@production", trust=True) == {"w": 0.6}

    better = invoke("run", "fit", "-p", "w", "0.9", "--gate-vs", "production:auc",
                    "--register", "weights-model", "--promote-to", "production")
    assert better.exit_code == 0, better.output
    assert nbtrack.load_model("weights-model@production", trust=True) == {"w": 0.9}
    run = nbtrack.get_run(nbtrack.runs(kind="pipeline").id[0])
    assert run.tags["nbtrack.model"] == "weights-model@2" and "-> production" in run.tags["nbtrack.promotion"]


def test_gate_vs_needs_a_model_name(approve, workspace):
    approve("model.ipynb", "fit")
    res = invoke("run", "fit", "--gate-vs", "production:auc")
    assert res.exit_code == 2 and "needs a model" in res.output
