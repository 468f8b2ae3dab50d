"""The lifecycle loop: train -> register -> promote -> log predictions of shifted data ->
``nbtrack monitor check`` alerts (a real webhook) -> retrain pipeline on the newest data ->
gate -> promotion; and, with a weaker retrained model, refusal. Every step is audited.

The serving issue's server is not on main yet: predictions are logged directly as the
``churn.predictions`` dataset, which is what the server's prediction log will be.
"""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

import nbtrack
from monitor.webhook import Receiver

CELLS = [
    ("parameters", 'dataset = "customers"\ndepth = 0'),
    (None, "%load_ext nbtrack\nimport nbtrack\nfrom sklearn.metrics import roc_auc_score\n"
           "from sklearn.tree import DecisionTreeClassifier\ncustomers = nbtrack.load(dataset)"),
    (None, "%%track train\nX = customers.drop(columns=['y'])\n"
           "model = DecisionTreeClassifier(max_depth=depth or None, random_state=0).fit(X, customers['y'])\n"
           "auc = float(roc_auc_score(customers['y'], model.predict_proba(X)[:, 1]))"),
]


def data(shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    df = load_breast_cancer(as_frame=True).frame.iloc[:, [0, 1, 2, 3, 4, 30]]
    df.columns = ["radius", "texture", "perimeter", "area", "smoothness", "y"]
    df = df.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    df["radius"] += shift * df["radius"].std()
    df["area"] *= 1 + shift
    return df


@pytest.fixture
def deployed(run_notebook, workspace, tmp_path):
    """churn@production trained by the approved pipeline churn-train on customers@1."""
    nbtrack.snapshot(data(), "customers")
    cells = []
    for tag, src in CELLS:
        c = nbformat.v4.new_code_cell(src)
        if tag:
            c.metadata["tags"] = [tag]
        cells.append(c)
    run_notebook(cells, name="churn_train.ipynb")
    nbtrack.approve(str(tmp_path / "churn_train.ipynb"), name="churn-train", reason="validated")
    first = nbtrack.run_pipeline("churn-train", register="churn", promote_to="production")
    assert first.promoted == "churn@production"
    mv = nbtrack.get_model_version("churn@production")
    assert mv.dataset_version_id is not None  # the training frame, from lineage
    # production traffic drifts: the prediction log, and the newest labelled data
    shifted = data(shift=1.0, seed=1)
    model = mv.load()
    X = shifted.drop(columns=["y"])
    nbtrack.snapshot(X.assign(prediction=model.predict(X)), "churn.predictions")
    nbtrack.snapshot(shifted, "customers")
    return mv


def _events(action):
    return nbtrack.events(action=action)


@pytest.mark.slow
def test_alert_retrain_gate_promotion_and_refusal(deployed, tmp_path):
    with Receiver() as hook:
        # case 1: a weaker retrained model (stumps) is refused: production does not move
        weak = subprocess.run([sys.executable, "-m", "nbtrack", "monitor", "add", "churn@production", "--psi", "0.2",
                               "--sink", hook.url, "--sink", f"jsonl:{tmp_path / 'alerts.jsonl'}",
                               "--retrain", "churn-train", "-p", "depth", "1", "--promote-to", "production",
                               "--gate-vs", "production:auc"], capture_output=True, text=True, cwd=tmp_path)
        assert weak.returncode == 0, weak.stderr
        out = subprocess.run([sys.executable, "-m", "nbtrack", "monitor", "check", "--fail-on-alert"],
                             capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert out.returncode == 1, out.stderr
        assert "ALERT" in out.stdout and "radius" in out.stdout and "refused" in out.stdout
        assert nbtrack.get_model_version("churn@production").version == 1
        (body,) = hook.bodies
        assert body["model"] == "churn@1" and "radius" in body["drifted"] and "area" in body["drifted"]
        assert json.loads((tmp_path / "alerts.jsonl").read_text().splitlines()[0])["event_id"] == body["event_id"]

        refused = _events("monitor.retrain").iloc[-1]["detail"]
        assert refused["outcome"] == "refused" and refused["alert_event"] == body["event_id"]
        assert "auc" in refused["detail"]
        run = nbtrack.get_run(refused["run"])
        assert run.kind == "pipeline" and run.tags["nbtrack.alert_event"] == str(body["event_id"])
        assert json.loads(run.tags["nbtrack.pins"]) == {"customers": 2}  # the newest data
        assert nbtrack.get_run(run.parent_id).kind == "monitor"  # the check run
        assert run.tags["nbtrack.gates"].startswith("failed: FAIL production:auc")  # refused before registering

        # case 2: full-depth trees on the newest data pass "not worse than production": promoted
        subprocess.run([sys.executable, "-m", "nbtrack", "monitor", "rm", "1"], check=True, cwd=tmp_path,
                       capture_output=True)
        from nbtrack.monitor.check import check
        from nbtrack.monitor.rules import Rule, add_rule

        add_rule(Rule("churn@production", {"psi": 0.2}, sinks=[hook.url], retrain="churn-train",
                      promote_to="production", gate_vs="production:auc"))
        (result,) = check()
        assert result.alerted and result.retraining.outcome == "promoted", result.summary()
        assert len(hook.bodies) == 2

    prod = nbtrack.get_model_version("churn@production")
    assert prod.version == result.retraining.model.split("@")[1] or prod.ref == result.retraining.model
    assert prod.version > 1
    promoted = _events("monitor.retrain").iloc[-1]["detail"]
    assert promoted["outcome"] == "promoted" and promoted["model_version"] == prod.ref
    assert promoted["alert_event"] == hook.bodies[1]["event_id"]
    move = _events("alias.promote").iloc[-1]
    assert move["reason"].endswith(promoted["run"]) and move["detail"]["conditions"]
    # the next check compares against the new version's own training data (customers@2): no alert
    (again,) = check(retrain=False)
    assert again.model_version == prod.ref and not any("radius" in a for a in again.alerts), again.alerts
