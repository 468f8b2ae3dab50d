"""Contract: register, alias, gated promotion, rollback and the audit log on both backends."""

from __future__ import annotations

import numpy as np
import pytest
from registry.regfixtures import frame, trained_run

import nbtrack
from nbtrack.errors import GateFailed


def test_register_alias_promote_rollback_audit(backend, monkeypatch):
    monkeypatch.setenv("NBTRACK_USER", "carol")
    X, _ = frame()
    r1, m1 = trained_run(0.01, 0.80)
    r2, _ = trained_run(1.0, 0.90)
    r3, _ = trained_run(100.0, 0.85)
    for r in (r1, r2, r3):
        nbtrack.register_model("churn", run=r)
    nbtrack.set_alias("churn", "production", 1, reason="go live")
    ok = nbtrack.promote("churn", 2, to="production", gate="metrics.auc >= 0.85", vs="production")
    assert ok.accepted and nbtrack.get_model_version("churn@production").version == 2
    with pytest.raises(GateFailed):
        nbtrack.promote("churn", 3, gate="metrics.auc >= 0.8", vs="production")
    back = nbtrack.rollback("churn", alias="production", reason="incident")
    assert (back.previous, back.version) == (2, 1)
    np.testing.assert_array_equal(nbtrack.load_model("churn@production").predict_proba(X), m1.predict_proba(X))
    ev = nbtrack.events(target="churn")
    assert list(ev["action"]) == ["model.register"] * 3 + ["alias.set", "alias.promote", "alias.promote_refused",
                                                           "alias.rollback"]
    assert set(ev["actor"]) == {"carol"}
