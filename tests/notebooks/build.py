"""Write the fixture notebooks of tests/pipeline (run: python tests/notebooks/build.py).

Each notebook is tiny (no scikit-learn) so a real-kernel test costs about a kernel start.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent


def params(source: str):
    cell = new_code_cell(source)
    cell.metadata["tags"] = ["parameters"]
    return cell


NOTEBOOKS = {
    # A deterministic metric that depends on the parameters.
    "train.ipynb": [
        new_markdown_cell("# Train (fixture)"),
        params('C = 1.0\npenalty = "l2"\nn = 3'),
        new_code_cell("%load_ext nbtrack"),
        new_code_cell('%%track train\nif C <= 0:\n    raise ValueError("C must be positive")\n'
                      'bonus = 0.01 if penalty == "l1" else 0.0\n'
                      "auc = round(1 - 1 / (1 + C * n) + bonus, 6)\nprint('auc', auc)"),
    ],
    # The second code cell raises.
    "failing.ipynb": [
        params("x = 1"),
        new_code_cell("%load_ext nbtrack"),
        new_code_cell('raise ValueError(f"boom {x}")'),
        new_code_cell("never = True"),
    ],
    # A metric that changes on every execution.
    "noisy.ipynb": [
        params("seed = None"),
        new_code_cell("%load_ext nbtrack"),
        new_code_cell("%%track\nimport random\nrng = random.Random(seed)\nauc = rng.random()"),
    ],
    # Sleeps (timeouts, Ctrl-C); writes the kernel's pid first.
    "slow.ipynb": [
        params('seconds = 30.0\npidfile = ""'),
        new_code_cell("import os, time\nif pidfile:\n    open(pidfile, 'w').write(str(os.getpid()))"),
        new_code_cell("time.sleep(seconds)"),
    ],
    # The kernel process dies in the second cell.
    "dies.ipynb": [
        params("code = 3"),
        new_code_cell("import os\nos._exit(code)"),
    ],
    # Logs a (tiny, non-scikit-learn) model, so runs can be registered and promoted.
    "model.ipynb": [
        params("w = 0.5"),
        new_code_cell("%load_ext nbtrack\nimport nbtrack"),
        new_code_cell('%%track fit\nnbtrack.log_model({"w": w}, "weights")\nauc = round(0.5 + w / 2, 6)'),
    ],
    # Reads the dataset "customers" (pinned at approval).
    "pinned.ipynb": [
        params('dataset = "customers"'),
        new_code_cell("%load_ext nbtrack\nimport nbtrack\ncustomers = nbtrack.load(dataset)"),
        new_code_cell("%%track --metrics rows,total\nrows = len(customers)\ntotal = float(customers['x'].sum())"),
    ],
}


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(cells=cells)
        for i, cell in enumerate(nb.cells):  # stable ids: rebuilding changes nothing
            cell.id = f"{name.split('.')[0]}-{i}"
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.metadata["language_info"] = {"name": "python"}
        nbformat.write(nb, HERE / name)


if __name__ == "__main__":
    main()
