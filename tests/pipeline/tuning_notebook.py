"""The tuning fixture: an RBF SVM on scikit-learn's shipped digits data (no download).

``accuracy`` (held-out) depends sharply on ``gamma`` (best near 1e-3) and on ``C``.
With ``steps > 0`` the model is fit on growing shares of the training data and
``nbtrack.log_metric("accuracy", value, step=k)`` reports each step (what a tuned
sweep's pruner sees). :func:`objective` is the same computation in this process.
"""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

PARAMS = "C = 1.0\ngamma = 0.001\nkernel = \"rbf\"\nsteps = 0\nsleep = 0.0"

BODY = """from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC
import time
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X[:500], y[:500], test_size=0.4, random_state=0)
for k in range(steps):
    n = len(X_train) * (k + 1) // (steps + 1)
    part = SVC(C=C, gamma=gamma, kernel=kernel).fit(X_train[:n], y_train[:n])
    nbtrack.log_metric("accuracy", part.score(X_test, y_test), step=k)
    time.sleep(sleep)
model = SVC(C=C, gamma=gamma, kernel=kernel).fit(X_train, y_train)
accuracy = model.score(X_test, y_test)
"""


def objective(C: float, gamma: float, kernel: str = "rbf") -> float:
    """The notebook's final ``accuracy``, computed in this process."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.svm import SVC

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X[:500], y[:500], test_size=0.4, random_state=0)
    return SVC(C=C, gamma=gamma, kernel=kernel).fit(X_train, y_train).score(X_test, y_test)


def write(path) -> None:
    params = new_code_cell(PARAMS)
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell("%load_ext nbtrack\nimport nbtrack"),
                             new_code_cell("%%track fit\n" + BODY)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
