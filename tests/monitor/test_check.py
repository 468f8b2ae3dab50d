"""``monitor check`` without retraining: metric and drift conditions in the expression language,
the default current data (MODEL.predictions@latest), --current, and rules with nothing to check."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sklearn.datasets import load_breast_cancer
from sklearn.tree import DecisionTreeClassifier

import nbtrack
from nbtrack.cli import cli
from nbtrack.monitor.check import check
from nbtrack.monitor.rules import Rule, add_rule


@pytest.fixture
def production(workspace):
    data = load_breast_cancer(as_frame=True).frame
    X, y = data.iloc[:, :5], data["target"]
    train = nbtrack.snapshot(X, "cells")
    mv = nbtrack.log_model(DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y), "churn", X=X,
                           dataset_version=str(train))
    nbtrack.set_alias("churn", "production", mv.version)
    return X, y


def test_conditions_on_metrics_and_drift(production):
    X, y = production
    rule = add_rule(Rule("churn@production", metrics=["auc < 0.999", "drift.share >= 0.5"], sinks=["log"]))
    (skipped,) = check()
    assert skipped.skipped and "churn.predictions" in skipped.skipped and not skipped.alerted
    nbtrack.snapshot(X.assign(prediction=0), "churn.predictions")  # the training data itself: no drift
    scores = nbtrack.evaluate("churn@production", X.assign(y=y), label="y")
    assert 0.8 < scores["auc"] < 0.999
    (r,) = check([rule.id])
    assert r.drift is not None and r.drift.drifted == []
    assert r.alerts == [f"condition auc < 0.999: auc = {scores['auc']:.6g} < 0.999"] or \
        r.alerts[0].startswith("condition auc < 0.999")
    assert not any("drift.share" in a for a in r.alerts)
    assert nbtrack.events(action="monitor.alert").iloc[-1]["detail"]["rule"] == rule.id
    hist = nbtrack.monitor.evaluate.performance("churn@production")
    assert hist["auc"].tolist() == [scores["auc"]]


def test_check_cli_current_and_exit_codes(production):
    X, _ = production
    shifted = X.assign(**{"mean radius": X["mean radius"] * 1.5})
    nbtrack.snapshot(shifted, "batch-7")
    add_rule(Rule("churn@production", {"psi": 0.2}))
    runner = CliRunner()
    out = runner.invoke(cli, ["monitor", "check", "--current", "batch-7@1", "--fail-on-alert"])
    assert out.exit_code == 1 and "mean radius: PSI" in out.stdout
    assert runner.invoke(cli, ["monitor", "check", "--current", "batch-7@1"]).exit_code == 0
    out = runner.invoke(cli, ["monitor", "drift", "churn@production", "batch-7@1", "--format", "json",
                              "--fail-on-drift"])
    rows = {r["feature"]: r for r in json.loads(out.stdout)}
    assert out.exit_code == 1 and rows["mean radius"]["drifted"] and "PSI" in rows["mean radius"]["reasons"]
    assert runner.invoke(cli, ["monitor", "check", "--rule", "42"]).exit_code == 2


def test_current_data_failing_the_stored_contract_alerts(production):
    X, _ = production
    nbtrack.contract("churn@production")  # stored as cells@1: guards the training data
    bad = X.assign(prediction=0)
    bad.loc[3, "mean area"] = -5.0
    nbtrack.snapshot(bad, "churn.predictions")
    add_rule(Rule("churn@production", {"psi": 0.2}))
    (r,) = check()
    assert r.alerts == ["contract cells@1: column 'mean area': in_range(0, 2736.75) failed for 1 row (e.g. -5.0)"]
    assert (nbtrack.runs(kind="monitor")["name"] == "validate churn.predictions@1").sum() == 1
