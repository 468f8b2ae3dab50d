"""nbtrack.monitoring(name): the rules watching a model and its newest monitor runs."""

from __future__ import annotations

import pandas as pd
from sklearn.linear_model import LogisticRegression

import nbtrack
from nbtrack.monitor.rules import Rule, add_rule


def _model(name: str) -> None:
    """Version 1 of ``name``, trained on the stored dataset ``NAME-train@1``."""
    X = pd.DataFrame({"x0": [0.0, 1.0, 0.2, 0.9, 0.1, 0.8, 0.3, 0.7]})
    nbtrack.snapshot(X, f"{name}-train")
    nbtrack.log_model(LogisticRegression().fit(X, [0, 1, 0, 1, 0, 1, 0, 1]), name, dataset_version=f"{name}-train@1")


def test_rules_and_checks_of_one_model_only(workspace):
    _model("churn_a")
    _model("churnXa")  # `_` in a name is literal, not a LIKE wildcard
    add_rule(Rule("churn_a@1", {"psi": 0.3}, ["auc < 0.99"]))
    add_rule(Rule("churnXa@1", {"psi": 0.1}))
    assert nbtrack.monitoring("churn_a") == {"rules": [{"id": 1, "model": "churn_a@1",
                                                        "rule": "psi=0.3, metric 'auc < 0.99'",
                                                        "sinks": ["log"], "retrain": None}], "checks": []}

    frame = pd.DataFrame({"x0": [0.0, 1.0, 0.2, 0.9], "y": [0, 1, 0, 1]})
    nbtrack.evaluate("churn_a@1", frame, label="y")
    nbtrack.evaluate("churnXa@1", frame, label="y")
    report = nbtrack.drift(reference="churn_a@1", current=frame[["x0"]] + 5.0)
    checks = nbtrack.monitoring("churn_a")["checks"]
    assert [c["model"] for c in checks] == ["churn_a@1", "churn_a@1"]
    newest = checks[0]
    assert newest["kind"] == "drift" and newest["status"] == "finished"
    assert newest["alerts"] == [str(a) for a in report.alerts] and newest["alerts"]
    assert checks[1]["kind"] == "evaluate" and checks[1]["alerts"] == []
    assert len(nbtrack.monitoring("churn_a", last=1)["checks"]) == 1
    assert nbtrack.monitoring("nosuch") == {"rules": [], "checks": []}
