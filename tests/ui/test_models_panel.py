"""The browser's Models tab: versions and aliases, where each model is served, what monitors it."""

from __future__ import annotations

import json
import urllib.request

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import nbtrack
from nbtrack import ui
from nbtrack.monitor.rules import Rule, add_rule

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_models_tab_shows_versions_servers_rules_and_checks(workspace):
    b = ui.browser(notebook="")
    b.view = "models"
    assert "No registered models yet" in b.models_panel.w_body.value

    X = pd.DataFrame({"x0": [0.0, 1.0, 0.2, 0.9]})
    for c in (0.5, 2.0):
        nbtrack.register_model("churn", model=LogisticRegression(C=c).fit(X, [0, 1, 0, 1]), metrics={"auc": c / 2})
    nbtrack.set_alias("churn", "production", 2)
    with nbtrack.serve("churn@production") as server:
        req = urllib.request.Request(server.url + "/v1/models/churn/predict", method="POST",
                                     data=json.dumps({"records": [{"x0": 0.5}, {"x0": 0.1}]}).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=30).read()
    add_rule(Rule("churn@production", {"psi": 0.25}, ["auc < 0.85"]))
    nbtrack.evaluate("churn@2", pd.DataFrame({"x0": [0.0, 1.0, 0.2, 0.9], "y": [0, 1, 0, 1]}), label="y")

    b.models_panel.invalidate()  # shown: redraws now
    html = b.models_panel.w_body.value
    assert "churn" in html and "v1" in html and "production" in html
    assert "0.25" in html  # rule text
    assert "rule 1 on churn@production: psi=0.25, metric &#x27;auc &lt; 0.85&#x27;" in html
    served = html.split("served", 1)[1]
    assert "churn@production" in served and "finished" in served  # the stopped server, with its traffic
    assert ">2<" in served  # two rows logged
    assert "evaluate" in html and "churn@2" in html and ">ok<" in html
