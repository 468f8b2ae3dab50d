"""Model capture rules in a real kernel (issue 20 items 5, 6, 10, 12): lineage from the fit call,
one history per variable and class, search objects store their best estimator, an object is
stored once, loop variables are no models; cells without ids keep their histories by position."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import nbtrack
from nbtrack.store.schema import dataset_versions, datasets, model_versions, models

pytestmark = pytest.mark.slow

SETUP = """\
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC, LinearSVC
from sklearn.model_selection import GridSearchCV
rng = np.random.default_rng(0)
X = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120)})
y = (X["a"] > 0).astype(int)
"""


def _versions(ws) -> dict[str, list[tuple[str, str | None]]]:
    q = (select(models.c.name, model_versions.c.class_name, datasets.c.name)
         .select_from(model_versions.join(models, models.c.id == model_versions.c.model_id)
                      .outerjoin(dataset_versions, dataset_versions.c.id == model_versions.c.dataset_version_id)
                      .outerjoin(datasets, datasets.c.id == dataset_versions.c.dataset_id))
         .order_by(model_versions.c.id))
    out: dict[str, list] = {}
    with ws.meta.read() as conn:
        for name, cls, data in conn.execute(q):
            out.setdefault(name, []).append((cls.rsplit(".", 1)[-1], data))
    return out


def test_models_lineage_names_and_searches(run_notebook, workspace):
    nb = run_notebook([
        "%load_ext nbtrack", SETUP,
        "%%track\nXa = X.to_numpy()\nclf = LogisticRegression().fit(Xa, y)",  # numpy: training data unknown
        "%%track\nsvm_clf = LinearSVC().fit(X, y)",
        "%%track\nsvm_clf = SVC().fit(X, y)",  # another class: another history
        "%%track\ngrid = GridSearchCV(SVC(), {'C': [0.1, 1]}, cv=3).fit(X, y)",
        "%%track\nbest = grid.best_estimator_\nsame = svm_clf",  # already stored: nothing new
        "%%track\nfor m in [LogisticRegression(), SVC()]:\n    m.fit(X, y)\n    last = m",  # loop: no models
        "%%track\nacc = svm_clf.score(X, y)",
    ])
    assert not any("nbtrack:" in o.get("text", "") for c in nb.cells for o in c.outputs)
    v = _versions(workspace)
    assert v == {"clf": [("LogisticRegression", None)], "svm_clf": [("LinearSVC", "X")],
                 "svm_clf-SVC": [("SVC", "X")], "grid": [("SVC", "X")]}
    runs = {r.name: nbtrack.get_run(r.id) for r in nbtrack.runs().itertuples()}
    assert runs["grid"].metrics["grid.best_score_"] > 0.8
    assert runs["grid"].params["model.grid.C"] in (0.1, 1)  # non-default hyper-parameters of the best model
    assert "model.clf.C" not in runs["clf"].params  # the default C=1.0 stays on the version only
    assert nbtrack.get_model_version("clf@1").params["C"] == 1.0


def test_cells_without_ids_keep_their_history_across_kernels(run_notebook, workspace):
    cells = ["%load_ext nbtrack", "%%track\nx = 1\nacc = 0.5", "%%track\nx = 1\nacc = 0.75",
             "%%track\n# shares nothing\nscore = 0.1"]
    run_notebook(cells)
    edited = cells[:2] + ["%%track\nx = 1\nacc = 0.75 + 0.01  # tuned"] + cells[3:]
    run_notebook(edited)
    df = nbtrack.runs()
    keys = df.groupby(df["id"].map(lambda i: nbtrack.get_run(i).cell_key))["cell_version"].apply(sorted)
    assert sorted(keys.tolist()) == [[1, 2]] * 3  # same position, similar source: the edited cell's history
    names = set(df["name"])
    assert {"x = 1", "shares nothing"} <= names
