"""Register -> alias -> gated promotion (accepted, refused) -> rollback -> audit trail."""

from __future__ import annotations

import numpy as np
import pytest
from registry.regfixtures import dataset_version, frame, trained_run

import nbtrack
from nbtrack.errors import GateFailed, InvalidInput, NotFound


@pytest.mark.parametrize("store", [
    pytest.param("workspace", id="sqlite"), pytest.param("pg_workspace", id="postgres", marks=pytest.mark.postgres)])
def test_full_lifecycle_and_audit_trail(store, request, monkeypatch):
    request.getfixturevalue(store)
    monkeypatch.setenv("NBTRACK_USER", "alice")
    X, _ = frame()
    r1, m1 = trained_run(0.01, 0.80)
    r2, m2 = trained_run(1.0, 0.90)
    r3, _ = trained_run(100.0, 0.85)
    v1 = nbtrack.register_model("churn", run=r1, reason="baseline")
    assert (v1.ref, v1.metrics, v1.run_id) == ("churn@1", {"auc": 0.8}, r1)
    assert v1.source_version_id == nbtrack.get_model_version("clf@1").id
    nbtrack.set_alias("churn", "production", 1, reason="first deploy")
    v2 = nbtrack.register_model("churn", run=r2)
    ok = nbtrack.promote("churn", v2.version, to="production", gate="metrics.auc >= 0.85", vs="production",
                         reason="better auc")
    assert ok.accepted and ok.previous == 1
    assert nbtrack.get_model_version("churn@production").version == 2
    v3 = nbtrack.register_model("churn", run=r3)
    with pytest.raises(GateFailed) as refused:
        nbtrack.promote("churn", v3.version, gate="metrics.auc >= 0.8", vs="production", reason="try")
    msg = str(refused.value)
    assert "churn@3 auc = 0.85 < churn@2 auc = 0.9" in msg and "[ok] metrics.auc >= 0.8" in msg
    assert nbtrack.get_model_version("churn@production").version == 2  # a refusal changes nothing
    back = nbtrack.rollback("churn", alias="production", reason="incident 42")
    assert (back.previous, back.version) == (2, 1)
    loaded = nbtrack.load_model("churn@production")
    np.testing.assert_array_equal(loaded.predict_proba(X), m1.predict_proba(X))
    assert not np.array_equal(loaded.predict_proba(X), m2.predict_proba(X))

    ev = nbtrack.events(target="churn")
    assert list(ev["action"]) == ["model.register", "alias.set", "model.register", "alias.promote",
                                  "model.register", "alias.promote_refused", "alias.rollback"]
    assert list(ev["reason"])[:2] == ["baseline", "first deploy"] and ev["reason"].iloc[-1] == "incident 42"
    moves = [(d.get("from"), d.get("to")) for d in ev["detail"]]
    assert moves[1] == (None, 1) and moves[3] == (1, 2) and moves[5] == (2, 3) and moves[6] == (2, 1)
    assert ev["detail"].iloc[5]["conditions"][1]["passed"] is False
    assert set(ev["actor"]) == {"alice"}
    assert list(nbtrack.events(target="churn@production", action="alias.")["action"]) == [
        "alias.set", "alias.promote", "alias.promote_refused", "alias.rollback"]
    assert list(nbtrack.events(action="alias.rollback")["target"]) == ["model:churn@production"]


def test_refusal_can_be_returned_and_gate_errors(workspace):
    r1, _ = trained_run(1.0, 0.7)
    nbtrack.register_model("m", run=r1)
    res = nbtrack.promote("m", 1, to="staging", gate="metrics.auc >= 0.9 and metrics.f1 > 0.5",
                          raise_on_refusal=False)
    assert not res and [c.passed for c in res.conditions] == [False, False]
    assert "auc = 0.7" in res.conditions[0].detail and "'f1' not recorded (has: auc)" in res.conditions[1].detail
    with pytest.raises(NotFound):
        nbtrack.get_model_version("m@staging")
    with pytest.raises(InvalidInput, match="not a valid expression"):
        nbtrack.promote("m", 1, gate="metrics.auc >=")
    with pytest.raises(InvalidInput, match="metric="):
        nbtrack.promote("m", 1, gate="metrics.auc > 0 and metrics.f1 > 0", vs="production")
    with pytest.raises(InvalidInput, match="must start with a letter"):
        nbtrack.set_alias("m", "3", 1)
    assert nbtrack.promote("m", 1, to="staging", gate="0.5 < metrics.auc").accepted


def test_vs_compares_on_the_same_evaluation_data(workspace):
    test1 = dataset_version(workspace, "test", 1)
    other = dataset_version(workspace, "other", 1)
    nbtrack.register_model("m", run=trained_run(0.01, 0.99)[0])  # better recorded auc...
    nbtrack.register_model("m", run=trained_run(1.0, 0.50)[0])
    nbtrack.set_alias("m", "production", 2)
    nbtrack.log_evaluation("m@1", "test@1", "auc", 0.70)  # ...but worse on the shared test data
    assert nbtrack.log_evaluation("m@2", test1, "auc", 0.75) == 1
    assert nbtrack.log_evaluation("m@2", test1, "auc", 0.75) == 0  # recorded once
    res = nbtrack.promote("m", 1, vs="production", metric="auc", raise_on_refusal=False)
    assert not res.accepted and "m@1 auc = 0.7 < m@2 auc = 0.75 on dataset version test@1" in res.conditions[0].detail
    nbtrack.register_model("m", run=trained_run(3.0, 0.5)[0])
    nbtrack.log_evaluation("m@3", other, "auc", 0.9)
    res = nbtrack.promote("m", 3, vs="production", metric="auc", raise_on_refusal=False)
    assert not res.accepted and "different datasets" in res.conditions[0].detail
    res = nbtrack.promote("m", 1, vs="staging", metric="auc", to="staging")
    assert res.accepted and "no version holds 'staging'" in res.conditions[0].detail


def test_lower_is_better_metrics(workspace):
    for C, rmse in ((0.01, 2.0), (1.0, 1.5)):
        X, y = frame()
        with nbtrack.track() as run:
            from sklearn.linear_model import LogisticRegression

            nbtrack.log_model(LogisticRegression(C=C).fit(X, y), "r")
            nbtrack.log_metric("rmse", rmse)
        nbtrack.register_model("reg", run=run.id)
    nbtrack.set_alias("reg", "production", 1)
    assert nbtrack.promote("reg", 2, vs="production", metric="rmse").accepted
    assert not nbtrack.promote("reg", 1, vs="production", metric="rmse", raise_on_refusal=False).accepted
    assert nbtrack.promote("reg", 1, vs="production", metric="rmse", higher_is_better=True).accepted


def test_register_sources_and_dedupe(workspace):
    rid, model = trained_run(1.0, 0.9)
    a = nbtrack.register_model("churn", run=rid[:8])
    assert a.new and a.ref == "churn@1"
    again = nbtrack.register_model("churn", run=rid)
    assert (again.ref, again.new) == ("churn@1", False)
    b = nbtrack.register_model("copy", version="churn@1", description="mirror")
    assert (b.ref, b.oid, b.description, b.metrics) == ("copy@1", a.oid, "mirror", {"auc": 0.9})
    X, y = frame(3)
    from sklearn.linear_model import LogisticRegression

    c = nbtrack.register_model("churn", model=LogisticRegression(C=5.0).fit(X, y), metrics={"auc": 0.5},
                               reason="hand-made")
    assert (c.ref, c.metrics) == ("churn@2", {"auc": 0.5})
    with nbtrack.track() as two:
        nbtrack.log_model(model, "left")
        nbtrack.log_model(LogisticRegression(C=7.0).fit(X, y), "right")
    with pytest.raises(InvalidInput, match="several models"):
        nbtrack.register_model("x", run=two.id)
    assert nbtrack.register_model("x", run=two.id, variable="right").source_version_id is not None
    with nbtrack.track() as empty:
        pass
    with pytest.raises(NotFound, match="produced no model"):
        nbtrack.register_model("x", run=empty.id)
    with pytest.raises(InvalidInput, match="exactly one"):
        nbtrack.register_model("x")
    table = nbtrack.models()
    assert set(table["name"]) == {"churn", "clf", "copy", "left", "right", "x"}
    versions = nbtrack.model_versions("churn")
    assert list(versions["version"]) == [2, 1]
    assert versions["source"].isna().tolist() == [True, False] and versions["source"].iloc[1] == "clf@1"


def test_rollback_walks_back_through_history(workspace):
    for i, C in enumerate((0.01, 0.1, 1.0)):
        nbtrack.register_model("m", run=trained_run(C, 0.5 + i / 10)[0])
    with pytest.raises(NotFound, match="not set"):
        nbtrack.rollback("m")
    for v in (1, 2, 3):
        nbtrack.set_alias("m", "production", v)
    assert nbtrack.set_alias("m", "production", 3).event_id is None  # already there: no event
    assert nbtrack.rollback("m").version == 2
    assert nbtrack.rollback("m").version == 1
    with pytest.raises(InvalidInput, match="no earlier version"):
        nbtrack.rollback("m")
    nbtrack.set_alias("m", "production", 3)
    assert nbtrack.rollback("m").version == 1
    nbtrack.delete_alias("m", "production", reason="retired")
    with pytest.raises(NotFound):
        nbtrack.load_model("m@production")
