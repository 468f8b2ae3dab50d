"""The %%track data hook in real kernels: inputs/outputs become dataset versions with lineage."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sqlalchemy import func, select

import nbtrack
from nbtrack.store.schema import dataset_chunks, dataset_versions, lineage
from tests.conftest import outputs_text

pytestmark = pytest.mark.slow

SETUP = """\
import numpy as np, pandas as pd
rng = np.random.default_rng(0)
raw = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300),
                    "city": pd.Categorical(rng.choice(["Oslo", "Rome"], 300))})
raw["y"] = (raw["a"] > 0).astype(int)
"""

TRAIN = """%%track train
from sklearn.linear_model import LogisticRegression
features = raw[["a", "b"]].assign(ab=raw["a"] * raw["b"])
clf = LogisticRegression().fit(features, raw["y"])
acc = float(clf.score(features, raw["y"]))
"""

OBJECTS = "import nbtrack; objs = set(nbtrack.get_workspace().objects)"


def _data_oids(ws) -> set[str]:
    with ws.meta.read() as conn:
        chunks = set(conn.execute(select(dataset_chunks.c.oid)).scalars())
        manifests = set(conn.execute(select(dataset_versions.c.manifest_oid)).scalars())
    return chunks | manifests


def _cell_runs(ws):
    df = nbtrack.runs(kind="cell", order_by="started", workspace=ws)
    return [nbtrack.get_run(i, ws) for i in df["id"]]


def test_tracked_cell_lineage_and_free_rerun(run_notebook, workspace):
    nb = run_notebook(["%load_ext nbtrack", SETUP, TRAIN, OBJECTS, TRAIN,
                      "import json; print(json.dumps(sorted(set(nbtrack.get_workspace().objects) - objs)))"])
    for cell in nb.cells[:5]:
        assert "nbtrack:" not in outputs_text(cell), outputs_text(cell)
    first, second = _cell_runs(workspace)
    assert first.inputs == ["raw@1"]
    assert "features@1" in first.outputs and "model:clf@1" in first.outputs
    assert second.inputs == ["raw@1"] and "features@1" in second.outputs
    # the unchanged re-run stored no new chunk or manifest objects
    new_objects = set(json.loads(outputs_text(nb.cells[5])))
    assert not new_objects & _data_oids(workspace)
    assert len(nbtrack.dataset_versions("raw", workspace)) == 1
    # the model knows its training data (the model hook reads the data hook's state)
    assert nbtrack.get_model_version("clf@1", workspace).dataset_version_id == \
        nbtrack.dataset_version("features@1", workspace).id
    g = nbtrack.lineage(first.id, workspace=workspace)
    labels = {(g.nodes[s]["label"], rel, g.nodes[t]["label"]) for s, t, rel in g.edges}
    assert ("raw@1", "input", f"run {first.id[:8]} train") in labels
    assert (f"run {first.id[:8]} train", "output", "features@1") in labels


def test_in_place_change_is_a_new_version(run_notebook, workspace):
    run_notebook(["%load_ext nbtrack", SETUP, "%%track\nraw['a'] = raw['a'] + 1\n", "%%track\nraw.shape\n"])
    changed, untouched = _cell_runs(workspace)
    assert changed.inputs == ["raw@1"] and changed.outputs == ["raw@2"]
    assert untouched.inputs == ["raw@2"] and untouched.outputs == []
    a1, a2 = nbtrack.load("raw@1", workspace)["a"], nbtrack.load("raw@2", workspace)["a"]
    pd.testing.assert_series_equal(a1 + 1, a2)


def test_no_data_and_size_limit_switch_it_off(run_notebook, workspace):
    run_notebook(["%load_ext nbtrack", SETUP, "%%track --no-data\nout = raw.head()\n"])
    run_notebook(["%load_ext nbtrack", SETUP, "%%track\nout = raw.head()\n"], name="limited.ipynb",
                 env={"NBTRACK_MAX_SNAPSHOT_BYTES": "100"})
    with workspace.meta.read() as conn:
        assert conn.execute(select(func.count()).select_from(dataset_versions)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(lineage)).scalar() == 0
    limited = _cell_runs(workspace)[-1]
    assert "bytes > NBTRACK_MAX_SNAPSHOT_BYTES=100" in limited.tags["data_skipped.raw"]


def test_unsupported_frame_fails_soft(run_notebook, workspace):
    nb = run_notebook(["%load_ext nbtrack", "import pandas as pd",
                       "%%track\nweird = pd.DataFrame({'obj': [object(), object()]})\nok = pd.DataFrame({'x': [1]})\n"
                       "print('cell ran')"])
    text = outputs_text(nb.cells[2])
    assert "cell ran" in text
    assert "dataset 'weird'" in text and "column 'obj'" in text
    run = _cell_runs(workspace)[0]
    assert run.status == "finished" and run.outputs == ["ok@1"]


def test_tutorial_frames_are_saved_and_a_refusal_warns_once(run_notebook, workspace):
    nb = run_notebook(["%load_ext nbtrack", SETUP,
                       "%%track grid\nfrom sklearn.model_selection import GridSearchCV\n"
                       "from sklearn.linear_model import LogisticRegression\n"
                       "grid = GridSearchCV(LogisticRegression(), {'C': [0.1, 1.0]}, cv=3)"
                       ".fit(raw[['a', 'b']], raw['y'])\n"
                       "results = pd.DataFrame(grid.cv_results_)",
                       "%%track\nbins = pd.cut(raw['a'], 5, labels=[1, 2, 3, 4, 5])\n"
                       "pairs = pd.Series([1, 2], index=[(0, 'x'), (1, 'y')])\n"
                       "long = raw[['a', 'city']].head().stack()",
                       "%%track\nweird = pd.DataFrame({'obj': [object(), object()]})",
                       "%%track\nn1 = len(weird)", "%%track\nn2 = weird.shape[0]"])
    for cell in nb.cells[2:4]:
        assert "nbtrack" not in outputs_text(cell), outputs_text(cell)
    warnings = [outputs_text(c).count("dataset 'weird'") for c in nb.cells[4:]]
    assert warnings == [1, 0, 0]  # once per object, not in every cell that reads it
    assert "column 'obj' holds a builtins.object value (row 0)" in outputs_text(nb.cells[4])
    runs = _cell_runs(workspace)
    assert all("object value" in r.tags["data_skipped.weird"] for r in runs[-3:])
    for name in ("results", "bins", "pairs", "long"):  # loaded back in this (another) process
        back = nbtrack.load(name)
        assert len(back) > 0
    assert nbtrack.load("results")["params"][0] == {"C": 0.1}
    assert list(nbtrack.load("bins").cat.categories) == [1, 2, 3, 4, 5]
    assert nbtrack.load("pairs").index[1] == (1, "y")


def test_restore_brings_back_data_and_code(run_notebook, workspace):
    restore = ("rid = nbtrack.runs(kind='cell').id[0]\n"
               "%track_restore $rid\n"
               "import json\n"
               "payload = [p for p in get_ipython().payload_manager._payload if p.get('source') == 'set_next_input']\n"
               "print(json.dumps({'same': bool(raw.equals(orig)), 'payload': payload}))")
    tagged = TRAIN.replace("%%track train", "%%track train --tag stage=dev", 1)  # --tag survives (issue 19)
    nb = run_notebook(["%load_ext nbtrack", SETUP, tagged, "import nbtrack\norig = raw.copy()\ndel raw, features",
                       restore])
    text = outputs_text(nb.cells[4])
    assert "restored raw = raw@1" in text
    result = json.loads(text.strip().splitlines()[-1])
    assert result["same"] is True
    (payload,) = result["payload"]
    assert payload["text"] == "%%track train --tag stage=dev\n" + TRAIN.split("\n", 1)[1]
    assert payload["replace"] is False


def test_restore_unknown_run_is_a_usage_error(run_notebook, workspace):
    nb = run_notebook(["%load_ext nbtrack", "%track_restore ffffffff"], allow_errors=True)
    assert "UsageError" in outputs_text(nb.cells[1]) and "no run" in outputs_text(nb.cells[1])


DATA = """\
import pandas as pd, nbtrack
nbtrack.snapshot(pd.DataFrame({"a": [1, 2, 3]}), "customers")
nbtrack.snapshot(pd.DataFrame({"a": [1, 2, 3, 4]}), "customers")
"""

USE = """%%track use
df = nbtrack.load("customers")
summary = nbtrack.load("customers@1").describe()
"""

CHANGE = """%%track change
df2 = nbtrack.load("customers")
df2["b"] = df2["a"] * 2
"""


def test_datasets_loaded_in_a_tracked_cell_are_its_inputs(run_notebook, workspace):
    nb = run_notebook(["%load_ext nbtrack", DATA, USE, CHANGE])
    for cell in nb.cells:
        assert "nbtrack:" not in outputs_text(cell), outputs_text(cell)
    use, change = _cell_runs(workspace)
    # `df = nbtrack.load(...)` is the version itself, not a new dataset "df"; what was only read counts too
    assert sorted(use.inputs) == ["customers@1", "customers@2"]
    assert use.outputs == ["summary@1"]
    assert not any(d == "df" for d in nbtrack.datasets(workspace)["name"])
    with workspace.meta.read() as conn:
        variables = dict(conn.execute(select(lineage.c.variable, lineage.c.dataset_version_id)
                                      .where(lineage.c.run_id == use.id, lineage.c.direction == "input")).all())
    assert set(variables) == {"df", None}
    # changed in place after loading: still an input, and the changed frame is an output
    assert change.inputs == ["customers@2"] and change.outputs == ["df2@1"]


def test_dataset_loaded_inside_a_script_run_is_an_input(workspace):
    nbtrack.snapshot(pd.DataFrame({"a": [1.0, 2.0]}), "prices")
    with nbtrack.track("script-load") as run:
        nbtrack.load("prices")
    assert nbtrack.get_run(run.id).inputs == ["prices@1"]
    nbtrack.load("prices")  # outside any run: nothing to record, nothing fails
