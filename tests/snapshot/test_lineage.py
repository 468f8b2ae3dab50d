"""Lineage graphs and dataset diffs over a real workspace."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import nbtrack
from nbtrack.errors import NotFound
from nbtrack.snapshot import frames
from nbtrack.query.lineage import run_lineage
from nbtrack.store.lineage import link


def frame(n: int = 8000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(size=n), "k": rng.integers(0, 5, n)},
                        index=pd.Index([f"id{i}" for i in range(n)], name="id"))


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(frames, "CHUNK_BYTES", 16 << 10)
    monkeypatch.setattr(frames, "MIN_CHUNK_ROWS", 256)


# -- lineage -------------------------------------------------------------------------------
@pytest.fixture
def pipeline(workspace):
    """raw@1 -> run prep -> features@1 -> (trained_on) model clf@1 <- run fit."""
    from sklearn.linear_model import LinearRegression

    raw = nbtrack.snapshot(frame(50), "raw")
    with nbtrack.track("prep") as prep:
        with workspace.meta.write() as conn:
            link(conn, prep.id, "input", raw.id, "raw")
        feats = nbtrack.snapshot(frame(50).assign(y=1.0), "features")
    with nbtrack.track("fit") as fit:
        with workspace.meta.write() as conn:
            link(conn, fit.id, "input", feats.id, "features")
        model = nbtrack.log_model(LinearRegression().fit(frame(50)[["x"]], np.arange(50.0)), "clf",
                                  dataset_version=str(feats))
    return {"raw": raw, "features": feats, "model": model, "prep": prep.id, "fit": fit.id}


def _labelled(g) -> set[tuple[str, str, str]]:
    return {(g.nodes[s]["label"], rel, g.nodes[t]["label"]) for s, t, rel in g.edges}


def test_graph_from_a_dataset_reaches_runs_and_models(pipeline):
    g = nbtrack.lineage("raw@1")
    prep, fit = f"run {pipeline['prep'][:8]} prep", f"run {pipeline['fit'][:8]} fit"
    assert _labelled(g) == {
        ("raw@1", "input", prep), (prep, "output", "features@1"), ("features@1", "input", fit),
        (fit, "output", "model clf@1"), ("features@1", "trained_on", "model clf@1"),
    }
    assert g.root == f"dataset:{pipeline['raw'].id}"


def test_depth_limits_the_walk(pipeline):
    g = nbtrack.lineage(pipeline["prep"], depth=1)
    assert {n["label"] for n in g.nodes.values()} == {"raw@1", "features@1", f"run {pipeline['prep'][:8]} prep"}


def test_targets_resolve_by_kind(pipeline):
    assert nbtrack.lineage("model:clf@1").root == f"model:{pipeline['model'].id}"
    assert nbtrack.lineage("clf").root == f"model:{pipeline['model'].id}"
    assert nbtrack.lineage(pipeline["features"]).root == f"dataset:{pipeline['features'].id}"
    assert nbtrack.lineage(pipeline["fit"][:6]).root == f"run:{pipeline['fit']}"
    with pytest.raises(NotFound, match="neither a run id nor a dataset or model version"):
        nbtrack.lineage("nothing@3")


def test_frame_plot_and_run_lineage(pipeline):
    g = nbtrack.lineage("features@1")
    edges = g.to_frame()
    assert list(edges.columns[:3]) == ["source", "target", "relation"]
    assert len(edges) == len(g.edges) and set(g.nodes_frame()["kind"]) == {"run", "dataset", "model"}
    fig = g.plot()
    assert type(fig).__name__ == "Figure" and len(fig.axes[0].texts) >= len(g.nodes)
    assert "features@1 --trained_on--> model clf@1" in repr(g)
    items = run_lineage(pipeline["fit"])
    assert [i["ref"] for i in items["inputs"]] == ["features@1"]
    assert [(i["kind"], i["ref"]) for i in items["outputs"]] == [("model", "clf@1")]
    run = nbtrack.get_run(pipeline["fit"])
    assert run.inputs == ["features@1"] and run.outputs == ["model:clf@1"]


# -- diff ----------------------------------------------------------------------------------
def test_diff_rows_columns_and_schema(workspace, small_chunks):
    a = frame()
    b = a.drop(index=["id5", "id6"])
    b.loc["id7000":"id7009", "x"] = 0.0
    b.loc["new1"] = [1.0, 2]
    b["k"] = b["k"].astype("float64")
    b["extra"] = 1
    nbtrack.snapshot(a, "d")
    nbtrack.snapshot(b, "d")
    d = nbtrack.diff("d@1", "d@2")
    assert list(d.added.index) == ["new1"] and list(d.removed.index) == ["id5", "id6"]
    assert d.column_changes.to_dict() == {"x": 10, "k": 0}
    assert len(d.changed) == 10 and d.changed[("x", "b")].eq(0.0).all()
    assert d.schema.set_index("column")["change"].to_dict() == {"extra": "added", "k": "dtype"}
    assert "+1 added, -2 removed, ~10 changed" in repr(d)


def test_diff_skips_equal_chunks(workspace, small_chunks):
    a = frame()
    b = a.copy()
    b.loc["id7000", "x"] = 5.0
    nbtrack.snapshot(a, "d")
    nbtrack.snapshot(b, "d")
    d = nbtrack.diff("d@1", "d@2")
    assert d.chunks_compared == 2 and d.chunks_skipped > 10
    assert d.column_changes["x"] == 1 and list(d.changed.index) == ["id7000"]
    assert not d.identical and nbtrack.diff("d@1", "d@1").identical


def test_diff_with_range_index_and_duplicates(workspace, small_chunks):
    a = pd.DataFrame({"v": np.arange(5000)})
    b = a.copy()
    b.loc[4990, "v"] = -1
    nbtrack.snapshot(a, "r")
    nbtrack.snapshot(b, "r")
    d = nbtrack.diff("r@1", "r@2")
    assert list(d.changed.index) == [4990] and d.matched_by == "index"
    dup = pd.DataFrame({"v": [1, 2, 3]}, index=[0, 0, 1])
    nbtrack.snapshot(dup, "dup")
    nbtrack.snapshot(dup.assign(v=[1, 5, 3]), "dup")
    d = nbtrack.diff("dup@1", "dup@2")
    assert d.matched_by == "position" and d.column_changes["v"] == 1
