"""Model capture in a real kernel: %%track cells that fit models create model versions."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from sqlalchemy import select

import nbtrack
from nbtrack.store.schema import lineage, model_versions

pytestmark = pytest.mark.slow

SETUP = """\
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
rng = np.random.default_rng(0)
X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
y = (X["a"] > 0).astype(int)
"""

FIT = """%%track train
C = 0.5
clf = LogisticRegression(C=C).fit(X, y)
acc = float((clf.predict(X) == y).mean())
"""


def _outputs(ws):
    with ws.meta.read() as conn:
        return conn.execute(select(lineage.c.run_id, lineage.c.model_version_id, lineage.c.variable)
                            .where(lineage.c.model_version_id.is_not(None)).order_by(lineage.c.id)).all()


def test_tracked_fit_creates_one_version(run_notebook, workspace):
    nb = run_notebook(["%load_ext nbtrack", SETUP, FIT, FIT, "%%track\nclf.fit(X[:150], y[:150])"])
    for cell in nb.cells:
        assert "nbtrack:" not in "".join(o.get("text", "") for o in cell.outputs), cell.outputs
    versions = nbtrack.get_model_version("clf@latest", workspace)
    assert versions.version == 2  # the two identical runs share clf@1; the in-place refit is clf@2
    v1 = nbtrack.get_model_version("clf@1", workspace)
    assert v1.class_name == "sklearn.linear_model._logistic.LogisticRegression"
    assert [c["name"] for c in v1.signature["inputs"]] == ["a", "b"]
    assert v1.params["C"] == 0.5
    links = _outputs(workspace)
    assert [(mv, var) for _, mv, var in links] == [(v1.id, "clf"), (v1.id, "clf"), (versions.id, "clf")]
    run = nbtrack.get_run(links[0][0], workspace)
    assert run.params["model.clf.C"] == 0.5 and run.metrics["acc"] > 0.9
    assert "params.model.clf.C" not in nbtrack.runs(workspace=workspace)
    assert "params.model.clf.C" in nbtrack.runs(model_params=True, workspace=workspace)
    with workspace.meta.read() as conn:
        assert conn.execute(select(model_versions.c.id)).all().__len__() == 2


def test_untracked_and_non_model_cells_make_nothing(run_notebook, workspace):
    run_notebook(["%load_ext nbtrack", SETUP, "clf = LogisticRegression().fit(X, y)",
                  "%%track\nunfitted = LogisticRegression()\nz = X.sum()",
                  "%%track --no-models\nclf2 = LogisticRegression().fit(X, y)"])
    assert _outputs(workspace) == []


def test_custom_type_refused_in_kernel_then_trusted(run_notebook, workspace, monkeypatch):
    custom = """\
from sklearn.base import BaseEstimator, ClassifierMixin
class Majority(BaseEstimator, ClassifierMixin):
    def fit(self, X, y):
        self.classes_ = np.unique(y); self.majority_ = int(np.bincount(y).argmax()); return self
    def predict(self, X):
        return np.full(len(X), self.majority_)
"""
    load = """\
import nbtrack
from nbtrack.errors import UntrustedModel
try:
    nbtrack.load_model("maj@1")
except UntrustedModel as e:
    print("REFUSED", e)
print("LOADED", nbtrack.load_model("maj@1", trust=["__main__.Majority"]).predict(X[:3]).tolist())
class Odd:
    z = None
odd = Odd(); odd.z = 1 + 2j  # skops cannot save complex numbers: joblib, unsafe
v = nbtrack.log_model(odd, "odd")
print("FORMAT", v.format, v.unsafe)
try:
    nbtrack.load_model("odd")
except UntrustedModel as e:
    print("PICKLE REFUSED", e)
print("PICKLE LOADED", nbtrack.load_model("odd", trust=True).z)
"""
    nb = run_notebook(["%load_ext nbtrack", SETUP, custom, "%%track\nmaj = Majority().fit(X, y)", load])
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert "REFUSED" in text and "__main__.Majority" in text and "trust=['__main__.Majority']" in text
    assert "LOADED [1, 1, 1]" in text or "LOADED [0, 0, 0]" in text
    assert "FORMAT joblib True" in text and "PICKLE LOADED (1+2j)" in text
    assert "PICKLE REFUSED" in text and "trust=True" in text
    # a class defined in the notebook: said once at save time, its source kept, and loading it in a
    # process without it explains what to do
    said = [o["text"] for o in nb.cells[3].outputs if o.get("name") == "stderr"]
    assert len(said) == 1 and said[0].count("\n") == 1, said
    assert "model 'maj' uses Majority, defined in this notebook" in said[0]
    v = nbtrack.get_model_version("maj@1", workspace)
    assert list(v.class_sources) == ["__main__.Majority"]
    source = v.class_sources["__main__.Majority"]
    assert source.startswith("class Majority(BaseEstimator, ClassifierMixin):") and "majority_" in source
    with pytest.raises(nbtrack.errors.InvalidInput, match=r"model maj@1 needs Majority, defined in the notebook"):
        nbtrack.load_model("maj@1", workspace=workspace)  # this test process has no Majority
    # a process that defines it (here: from the stored source) loads the model
    from sklearn.base import BaseEstimator, ClassifierMixin

    scope = {"BaseEstimator": BaseEstimator, "ClassifierMixin": ClassifierMixin, "np": np, "__name__": "__main__"}
    exec(source, scope)
    monkeypatch.setattr(sys.modules["__main__"], "Majority", scope["Majority"], raising=False)
    m = nbtrack.load_model("maj@1", trust=["__main__.Majority"], workspace=workspace)
    assert type(m).__name__ == "Majority" and m.predict(np.zeros((2, 2))).shape == (2,)


def test_training_and_evaluation_data_from_lineage(run_notebook, workspace):
    split = ("from sklearn.model_selection import train_test_split\n"
             "X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)")
    fit = ("%%track\nclf = LogisticRegression().fit(X_train, y_train)\n"
           "acc = float((clf.predict(X_test) == y_test).mean())")
    run_notebook(["%load_ext nbtrack", SETUP, split, fit])
    from nbtrack.store.schema import dataset_versions, datasets, evaluations

    v = nbtrack.get_model_version("clf@1", workspace)
    with workspace.meta.read() as conn:
        def name_of(dv):
            return conn.execute(select(datasets.c.name).join(
                dataset_versions, dataset_versions.c.dataset_id == datasets.c.id)
                .where(dataset_versions.c.id == dv)).scalar()

        assert name_of(v.dataset_version_id) == "X_train"
        rows = conn.execute(select(evaluations.c.dataset_version_id, evaluations.c.metric, evaluations.c.value)
                            .where(evaluations.c.model_version_id == v.id)).all()
    assert [r[1] for r in rows] == ["acc"]
    assert rows[0][2] > 0.9
    with workspace.meta.read() as conn:
        assert conn.execute(select(datasets.c.name)
                            .join(dataset_versions, dataset_versions.c.dataset_id == datasets.c.id)
                            .where(dataset_versions.c.id == rows[0][0])).scalar() == "X_test"

