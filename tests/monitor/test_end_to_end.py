"""The lifecycle loop: train -> register -> promote -> serve (real HTTP) -> the server logs
predictions of shifted data -> ``nbtrack monitor check`` alerts (a real webhook) -> retrain
pipeline on the newest data -> gate -> promotion, and the served version changes; and, with a
weaker retrained model, refusal (the served version stays). Every step is audited.
"""

from __future__ import annotations

import json
import subprocess
import sys

import time

import httpx
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
    # newer labelled data arrives (what retraining will use)
    nbtrack.snapshot(data(shift=1.0, seed=1), "customers")
    return mv


def _events(action):
    return nbtrack.events(action=action)


def _served_version(server, rows) -> int:
    r = httpx.post(server.url + "/v1/models/churn/predict", json={"records": rows})
    assert r.status_code == 200, r.text
    return int(r.headers["X-Model-Version"])


def _wait_for_version(server, rows, version: int) -> int:
    deadline = time.monotonic() + 30
    while (seen := _served_version(server, rows)) != version and time.monotonic() < deadline:
        time.sleep(0.1)
    return seen


@pytest.mark.slow
def test_alert_retrain_gate_promotion_and_refusal(deployed, tmp_path):
    shifted = data(shift=1.0, seed=2).drop(columns=["y"]).head(300).to_dict("records")
    with Receiver() as hook, nbtrack.serve("churn@production", poll=0.2, flush_every=60) as server:
        # production traffic drifts: the server answers with version 1 and logs churn.predictions
        assert _served_version(server, shifted) == 1
        server.log.flush()
        assert len(nbtrack.load("churn.predictions")) == 300

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
        assert run.tags["nbtrack.gates"].startswith("failed")  # refused before registering
        time.sleep(0.5)
        assert _served_version(server, shifted[:5]) == 1  # the served version did not change

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
        assert prod.ref == result.retraining.model and prod.version > 1
        assert _wait_for_version(server, shifted[:5], prod.version) == prod.version  # served without a restart

    promoted = _events("monitor.retrain").iloc[-1]["detail"]
    assert promoted["outcome"] == "promoted" and promoted["model_version"] == prod.ref
    assert promoted["alert_event"] == hook.bodies[1]["event_id"]
    move = _events("alias.promote").iloc[-1]
    assert move["reason"].endswith(promoted["run"]) and move["detail"]["conditions"]
    # the next check compares against the new version's own training data (customers@2's features)
    (again,) = check(current="customers@2", retrain=False)
    assert again.model_version == prod.ref and not any("radius" in a for a in again.alerts), again.alerts
