"""Contract: DataFrame and model versions round-trip through the workspace's stores."""

from __future__ import annotations

import numpy as np
import pandas as pd

import nbtrack
from nbtrack import workspace as ws_mod


def test_frames_round_trip_with_versions(backend):
    df = pd.DataFrame({"i": np.arange(5000), "f": np.linspace(0, 1, 5000),
                       "s": [f"row {i}" for i in range(5000)],
                       "c": pd.Categorical(["a", "b"] * 2500),
                       "t": pd.date_range("2026-01-01", periods=5000, freq="min")})
    with nbtrack.track("v1"):
        v1 = nbtrack.snapshot(df, "events")
    changed = df.assign(f=df.f * 2)
    with nbtrack.track("v2"):
        v2 = nbtrack.snapshot(changed, "events")
    ws_mod.reset_cache()
    assert (v1.version, v2.version) == (1, 2)
    pd.testing.assert_frame_equal(nbtrack.load("events@1"), df)
    pd.testing.assert_frame_equal(nbtrack.load("events"), changed)


def test_models_round_trip(backend):
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    y = (X.a > 0).astype(int)
    with nbtrack.track("fit"):
        model = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
        nbtrack.log_model(model, "forest")
    ws_mod.reset_cache()
    loaded = nbtrack.load_model("forest")
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
