"""The read model the shells share: a run's versions, comparisons, one model, the newest events."""

from __future__ import annotations

import pandas as pd
import pytest

import nbtrack
from nbtrack.errors import InvalidInput, NotFound
from nbtrack.jupyter import serialize


@pytest.fixture
def recorded(workspace):
    raw = nbtrack.snapshot(pd.DataFrame({"x": [1.0, 2.0, 3.0]}), "raw")
    with nbtrack.track("a", params={"lr": 0.1, "depth": 3}) as a:
        nbtrack.load("raw@1")
        nbtrack.log_metric("acc", 0.5)
        nbtrack.snapshot(pd.DataFrame({"y": [1.0]}), "made")
    with nbtrack.track("b", params={"lr": 0.3, "depth": 3}) as b:
        nbtrack.log_metric("acc", 0.75)
        nbtrack.log_metric("loss", 0.1)
    return {"raw": raw, "a": a.id, "b": b.id}


def test_run_carries_its_versions(recorded):
    run = nbtrack.get_run(recorded["a"])
    assert run.inputs == ["raw@1"] and run.outputs == ["made@1"]
    assert [(i["kind"], i["ref"], i["id"]) for i in run.input_versions] == [("dataset", "raw@1", recorded["raw"].id)]
    assert [i["ref"] for i in run.output_versions] == ["made@1"]
    io = serialize.run_io(run)  # what the sidebar gets, straight from the run
    assert io["inputs"][0] | {"id": 0} == {"kind": "dataset", "ref": "raw@1", "label": "raw@1", "relation": "input",
                                           "id": 0, "variable": None}


def test_compare_runs_aligns_params_and_metrics(recorded):
    c = nbtrack.compare_runs(recorded["a"], recorded["b"][:8], recorded["a"])  # prefix; duplicate dropped
    assert [r.id for r in c.runs] == [recorded["a"], recorded["b"]]
    assert c.params == {"depth": [3, 3], "lr": [0.1, 0.3]}
    assert c.metrics == {"acc": [0.5, 0.75], "loss": [None, 0.1]}
    assert c.differing("params") == ["lr"] and c.differing("metrics") == ["acc", "loss"]
    assert c.metric_deltas() == [{"key": "acc", "a": 0.5, "b": 0.75, "delta": 0.25},
                                 {"key": "loss", "a": None, "b": 0.1, "delta": None}]
    assert c.param_changes() == [{"key": "lr", "a": 0.1, "b": 0.3}]
    assert c.same_source and c.source_diff() == ""  # script runs have no cell source
    with pytest.raises(InvalidInput):
        nbtrack.compare_runs()
    with pytest.raises(InvalidInput, match="at most 12"):
        nbtrack.compare_runs(*[f"{i:04d}" for i in range(13)])


def test_get_model_and_newest_events(workspace):
    from sklearn.linear_model import LogisticRegression

    X, y = [[0.0], [1.0], [0.2], [0.9]], [0, 1, 0, 1]
    for c in (0.5, 1.0):
        nbtrack.register_model("churn", model=LogisticRegression(C=c).fit(X, y))
    nbtrack.set_alias("churn", "production", 1)
    nbtrack.set_alias("churn", "staging", 2)
    m = nbtrack.get_model("churn")
    assert (m.name, m.versions, m.latest, m.aliases) == ("churn", 2, 2, {"production": 1, "staging": 2})
    assert m.alias_labels == "production=1, staging=2" == nbtrack.models()["aliases"][0]
    with pytest.raises(NotFound, match="no model named 'nope'"):
        nbtrack.get_model("nope")
    newest = nbtrack.events(limit=2)
    assert list(newest["action"]) == ["alias.set", "alias.set"]
    assert list(newest["target"]) == ["model:churn@production", "model:churn@staging"]  # oldest first
    assert len(nbtrack.events()) == 4
