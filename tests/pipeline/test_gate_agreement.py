"""`nbtrack run --gate-vs production:auc` and the registry's gated promotion give one verdict.

Issue 11 part 1: the pipeline gate compared the run's metrics with the metrics the
alias holder recorded, while promotion compares both versions on a shared evaluation
dataset when they have one, so one could pass while the other refused.
"""

from __future__ import annotations

import nbformat
import pandas as pd
import pytest
from click.testing import CliRunner

import nbtrack
from nbtrack.cli import cli
from nbtrack.pipeline.registry_link import model_run


def _notebook(path):
    params = nbformat.v4.new_code_cell("w = 0.5\nholdout = 0.5")
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[
        params,
        nbformat.v4.new_code_cell("%load_ext nbtrack\nimport nbtrack"),
        # recorded metric auc grows with w; the score on the shared holdout data is `holdout`
        nbformat.v4.new_code_cell('%%track fit\nmv = nbtrack.log_model({"w": w}, "weights")\n'
                                  'auc = round(0.5 + w / 2, 6)\n'
                                  'nbtrack.log_evaluation(mv.ref, "holdout@1", "auc", holdout)'),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return str(path)


@pytest.mark.slow  # issue 19: kept out of the fast subset (README)
def test_pipeline_gate_vs_and_promotion_agree(workspace, tmp_path):
    nbtrack.snapshot(pd.DataFrame({"x": [1, 2, 3]}), "holdout")
    nbtrack.approve(_notebook(tmp_path / "fit.ipynb"), name="fit", reason="test")
    # production: recorded auc 0.8, but 0.9 on the shared holdout data
    nbtrack.run_pipeline("fit", params={"w": 0.6, "holdout": 0.9}, register="weights-model", promote_to="production")
    # the candidate: recorded auc 0.95 (better), 0.7 on the same holdout data (worse)
    res = CliRunner().invoke(cli, ["run", "fit", "-p", "w", "0.9", "-p", "holdout", "0.7", "--gate-vs",
                                   "production:auc", "--register", "weights-model", "--promote-to", "production"])
    assert res.exit_code == 1, res.output  # the pipeline gate refuses...
    assert "FAIL production:auc: run " in res.output and "auc = 0.7 < weights-model@1 auc = 0.9 on dataset " \
        "version holdout@1" in res.output
    assert nbtrack.model_versions("weights-model")["version"].max() == 1  # ...before registering anything

    run_id = nbtrack.runs(kind="pipeline")["id"][0]
    result = nbtrack.get_run(run_id)
    mv = nbtrack.register_model("weights-model", run=model_run(workspace, run_id), metrics=result.metrics)
    promotion = nbtrack.promote("weights-model", mv.version, to="production", vs="production", metric="auc",
                                raise_on_refusal=False)
    assert not promotion.accepted  # ...and so does promotion, on the same numbers
    assert "auc = 0.7 < weights-model@1 auc = 0.9 on dataset version holdout@1" in promotion.summary()
