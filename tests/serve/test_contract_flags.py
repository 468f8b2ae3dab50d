"""Rows failing the model's data contract are flagged in the prediction log (real HTTP)."""

from __future__ import annotations

import httpx
import pytest

import nbtrack


@pytest.mark.slow
def test_prediction_log_flags_rows_failing_the_contract(churn):
    X, m1, _ = churn
    nbtrack.contract("churn@production")  # stored as churn-train@1: guards the training data
    rows = X.head(4).assign(plan=X["plan"].astype(str).head(4))
    rows.loc[1, "income"] = 1e6  # far outside the training range
    with nbtrack.serve("churn@production", flush_every=60) as s:
        r = httpx.post(s.url + "/v1/models/churn/predict", json={"records": rows.to_dict("records")})
        assert r.status_code == 200
    log = nbtrack.load("churn.predictions")
    assert log.columns[-1] == "contract_failures"
    assert log["contract_failures"].tolist()[0] == "" and log["contract_failures"].tolist()[2:] == ["", ""]
    assert log["contract_failures"][1].startswith("income:in_range")
    assert nbtrack.drift("churn@production", "churn.predictions@latest", log=False).to_frame().shape[0] == 3
