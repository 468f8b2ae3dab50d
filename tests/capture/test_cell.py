"""Cell analysis (issue 20 items 7, 8, 10, 12): params, metric evidence, shown scores, run names."""

from __future__ import annotations

import pytest

from nbtrack.capture.cell import analyze, is_param_value
from nbtrack.capture.cell_key import normalise
from nbtrack.capture.model_hook import _frame_name, fit_calls


def test_tuple_unpacked_literals_are_params_not_metrics():
    info = analyze("C1, C2 = 0.001, 1000\nkernel, degree = 'poly', 3\na, b = f()")
    assert info.params == {"C1": 0.001, "C2": 1000, "kernel": "poly", "degree": 3}
    assert info.metric_names == set()


@pytest.mark.parametrize("src, param", [
    ("results = []\nresults.append(1)", False),  # an accumulator the cell fills
    ("cfg = {'a': 1}\ncfg['b'] = 2", False),  # mutated
    ("empty = []", False),
    ("rows = [[1, 2], [3, 4]]", False),  # data rows
    ("texts = ['a great film', 'dull']", False),  # texts
    ("big = list(range(3))", False),
    ("data = [" + ", ".join(map(str, range(40))) + "]", False),  # a data literal
    ("url = 'https://example.org/data.csv'", False),
    ("path = 'data/train.csv'", False),
    ("out = '/tmp/model'", False),
    ("for i in range(3):\n    lr = 0.1", False),  # inside a loop
    ("lr = 0.1", True),
    ("layers = [64, 32]", True),
    ("grid = {'C': [0.1, 1, 10], 'kernel': ['rbf', 'linear']}", True),
    ("token_pattern = r'(?u)\\b\\w\\w+\\b'", True),
    ("title = 'My experiment'", True),
])
def test_only_small_unmutated_literals_are_params(src, param):
    name = src.split("=")[0].split()[-1] if not src.startswith("for") else "lr"
    assert (name in analyze(src).params) is param


@pytest.mark.parametrize("src, metrics", [
    ("acc = accuracy_score(y, p)", {"acc"}),
    ("m = clf.score(X, y)", {"m"}),
    ("rmse = np.sqrt(mean_squared_error(y, p))", {"rmse"}),
    ("scores = cross_val_score(clf, X, y)\nmean_cv = scores.mean()", {"scores", "mean_cv"}),
    ("val_loss = 0.5 * x", {"val_loss"}),
    ("acc = (pred == y).sum() / len(y)", {"acc"}),
    ("best = grid.best_score_", {"best"}),
    ("t0 = time.time()\nelapsed = time.time() - t0", set()),
    ("n = len(df)\nn_rows = df.shape[0]\nidx = np.argmax(s)", set()),
    ("n = 0\nn += 1\ncount = 3 * k", set()),
    ("for C in [1, 10]:\n    acc = cross_val_score(SVC(C=C), X, y).mean()", set()),  # last-iteration value
    ("y = x + 1\nz = model.predict(X)", set()),  # no evidence
    ("score_time = time.perf_counter()", set()),
])
def test_metrics_need_evidence(src, metrics):
    assert analyze(src).metric_names == metrics


@pytest.mark.parametrize("src, key", [
    ("clf.fit(X, y)\nclf.score(X_test, y_test)", "clf.score"),
    ("grid.best_score_", "grid.best_score_"),
    ("accuracy_score(y, p)", "accuracy_score"),
    ("np.sqrt(mean_squared_error(y, p))", "np.sqrt(mean_squared_error)"),
    ("kmeans.inertia_", "kmeans.inertia_"),
    ("df.shape[0]", None),
    ("len(X_train), len(X_test)", None),
    ("print(accuracy_score(y, p))", None),
    ("model.predict(X)", None),
    ("best_k", None),
])
def test_a_shown_score_is_a_metric(src, key):
    assert analyze(src).display == key


@pytest.mark.parametrize("src, name", [
    ("# Train the forest\nclf.fit(X, y)", "Train the forest"),
    ("x = 1  # not a title\n# later comment\ny = 2", "later comment"),
    ("plt.plot(x)\nplt.title('Learning curve')\nplt.show()", "Learning curve"),
    ("df.plot.hist(bins=30, title='Target distribution')", "Target distribution"),
    ("x = 1", None),
])
def test_run_name_from_the_cell(src, name):
    assert analyze(src).name == name


def test_loop_only_names_and_loop_variables():
    info = analyze("for name, model in models.items():\n    model.fit(X, y)\n    last = model\nbest = models['a']")
    assert info.loop_vars == {"name", "model"}
    assert info.loop_only == {"last"}
    assert "best" not in info.loop_only


def test_comprehension_variables_are_not_written():
    info = analyze("scores = [f(k) for k in ks]")
    assert info.writes == {"scores"} and info.reads == {"f", "ks"}


def test_fit_calls_name_the_training_argument():
    calls = fit_calls("clf = SVC().fit(X_train, y)\npca.fit(X=X2)\nXt = scaler.fit_transform(X)\n"
                      "acc = clf.score(X_test, y_test)\nm.fit(df.values, y)")
    assert {k: _frame_name(v) for k, v in calls.fit_x.items()} == {
        "clf": "X_train", "pca": "X2", "scaler": "X", "m": "df"}
    assert "Xt" not in calls.fit_x  # fit_transform returns data, not the model
    assert [_frame_name(a) for a in calls.eval_x["clf"]] == ["X_test"]


def test_normalised_source_ignores_comments_and_blank_lines():
    assert normalise("# title\nx = 1  \n\n   # note\ny = 2\n") == "x = 1\ny = 2"


def test_param_values():
    assert is_param_value({"a": [1, 2], "b": "rbf"}) and not is_param_value({"a": [[1]]})


def test_an_index_is_no_metric_even_computed_from_scores():
    assert analyze("best_k = int(np.argmax(test_scores)) + 1\nbest_score = max(test_scores)").metric_names == {
        "best_score"}
