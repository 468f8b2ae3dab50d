"""Parameters cells as papermill accepts them: every cell papermill runs is approved, literal
defaults are typed, other defaults are computed parameters, comments are descriptions.

Each messy cell below is also run by papermill itself (parameterized with overrides, executed
in one real kernel) to show that papermill accepts it and that the overrides we allow work."""

from __future__ import annotations

import nbformat
import pytest

from nbtrack.errors import InvalidInput
from nbtrack.pipeline.parameters import load_schema, validate
from nbtrack.registry.notebook import parse_parameters

# (cell, expected {name: (type, default or "=<computed>", help)}, overrides papermill injects, check after)
MESSY = [
    ('import os\nfrom datetime import date\nROOT = "/tmp"  # data root\npath = os.path.join(ROOT, "x")\n'
     "start = date.today()",
     {"ROOT": ("str", "/tmp", "data root"), "path": (None, "=os.path.join(ROOT, 'x')", ""),
      "start": (None, "=date.today()", "")},
     # papermill injects overrides after the cell: computed defaults use the cell's own values
     {"ROOT": "/data"}, "ROOT == '/data' and path == '/tmp/x' and start.year > 2000"),
    ("%matplotlib inline\n!echo hi\nlr = 0.1\nfiles = !ls  # what is here",
     {"lr": ("float", 0.1, ""), "files": (None, "=!ls", "what is here")},
     {"lr": 0.2}, "lr == 0.2 and isinstance(files, list)"),
    ("rows = 10\nn: int  # number of rows, required\nm = rows * 2",
     {"rows": ("int", 10, ""), "n": ("int", None, "number of rows, required"), "m": (None, "=rows * 2", "")},
     {"n": 5, "rows": 1}, "n == 5 and m == 20"),
    ('x, y = 1, "a"', {"x": ("int", 1, ""), "y": ("str", "a", "")}, {"x": 2}, "x == 2 and y == 'a'"),
    ('config = {\n    "depth": 3,  # tree depth\n    "seed": 0,\n}  # model config',
     {"config": ("dict", {"depth": 3, "seed": 0}, "model config")},
     {"config": {"depth": 5}}, "config == {'depth': 5}"),
    ("layers = [8, 4]  # type: List[int] hidden layers", {"layers": ("list", [8, 4], "hidden layers")},
     {"layers": [1]}, "layers == [1]"),
    ("from typing import Optional\nthreshold: Optional[float] = None  # cut-off",
     {"threshold": ("float", None, "cut-off")}, {"threshold": 0.3}, "threshold == 0.3"),
    ("a = b = 1", {"a": ("int", 1, ""), "b": ("int", 1, "")}, {"b": 2}, "a == 1 and b == 2"),
    ("DEBUG = False\nif DEBUG:\n    rows = 100\nelse:\n    rows = None",
     {"DEBUG": ("bool", False, "")}, {"DEBUG": True}, "DEBUG is True"),
    ('import os\n# the API token, from the environment\ntoken = os.environ.get("NB_TOKEN", "")',
     {"token": (None, "=os.environ.get('NB_TOKEN', '')", "the API token, from the environment")},
     {}, "token == ''"),
    ('"""Parameters for training."""\nalpha = 0.5; beta = 2', {"alpha": ("float", 0.5, ""), "beta": ("int", 2, "")},
     {"beta": 3}, "alpha == 0.5 and beta == 3"),
    ('lr = -1e-3\nsteps = 10 ** 3\nname = "a" + "b"',
     {"lr": ("float", -1e-3, ""), "steps": (None, "=10 ** 3", ""), "name": (None, "='a' + 'b'", "")},
     {"steps": 7}, "steps == 7 and name == 'ab'"),
    ("from datetime import date\nday: str = str(date.today())  # run date",
     {"day": ("str", "=str(date.today())", "run date")}, {"day": "2026-01-01"}, "day == '2026-01-01'"),
    ("epochs = 10\nepochs += 0\nσ = 0.1  # noise", {"epochs": ("int", 10, ""), "σ": ("float", 0.1, "noise")},
     {"σ": 0.5}, "σ == 0.5 and epochs == 10"),
]


def _summary(schema):
    out = {}
    for e in schema:
        default = f"={e['computed']}" if "computed" in e else e.get("default")
        out[e["name"]] = (load_schema([e])[0].type, default, e["help"])
    return out


@pytest.mark.parametrize("cell, expected", [(c, e) for c, e, _, _ in MESSY])
def test_messy_parameters_cells_are_read(cell, expected):
    assert _summary(parse_parameters(cell)) == expected


@pytest.mark.parametrize("cell, overrides", [(c, o) for c, _, o, _ in MESSY])
def test_overrides_papermill_injects_are_accepted(cell, overrides):
    schema = load_schema(parse_parameters(cell))
    values = validate(schema, overrides)
    assert {k: values[k] for k in overrides} == overrides
    computed = [p.name for p in schema if p.computed]
    assert not set(computed) & set(values) - set(overrides)  # a computed default is the cell's to compute


def test_papermill_runs_every_messy_cell_with_our_overrides(tmp_path):
    """Parameterized by papermill itself, then executed in one real kernel."""
    from nbclient import NotebookClient
    from papermill.parameterize import parameterize_notebook

    cells = []
    for i, (cell, _, overrides, check) in enumerate(MESSY):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell, metadata={"tags": ["parameters"]})])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.metadata["papermill"] = {}  # what papermill's execute_notebook prepares before parameterizing
        nb = parameterize_notebook(nb, overrides)
        cells += nb.cells + [nbformat.v4.new_code_cell(f"assert {check}, {i}")]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()


@pytest.mark.parametrize("cell, line", [
    ("a = 1\n= 2", 2), ("a = 1\nb = [1,\n", 2), ("x = 1\nif x:\nprint(x)", 3), ("lr = 0.1 0.2", 1),
])
def test_a_cell_that_does_not_parse_is_refused_naming_the_line(cell, line):
    with pytest.raises(InvalidInput, match=rf"does not parse \(line {line}\b"):
        parse_parameters(cell, "nb.ipynb")


def test_describe_shows_computed_defaults_and_help():
    schema = load_schema(parse_parameters("a: float = 2.25  # Variable a\nd = a == 3  # derived"))
    assert [p.describe() for p in schema] == ["a: float (default 2.25)  # Variable a",
                                              "d: any (computed default: a == 3)  # derived"]


def test_every_parameters_cell_of_papermills_own_test_notebooks():
    """papermill ships its test notebooks; each python parameters cell is read (the one
    with a deliberately broken `= 2` line is refused, naming that line)."""
    from pathlib import Path

    import papermill

    folder = Path(papermill.__file__).parent / "tests" / "notebooks"
    if not folder.is_dir():
        pytest.skip("this papermill install does not ship its test notebooks")
    seen = {}
    for path in sorted(folder.rglob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
        if not cells or nb.metadata.get("kernelspec", {}).get("language", "python") != "python":
            continue
        try:
            seen[path.name] = [e["name"] for e in parse_parameters(cells[0].source, path.name)]
        except InvalidInput as e:
            seen[path.name] = str(e)
    assert "does not parse (line 14: `= 2`)" in seen.pop("complex_parameters.ipynb")
    assert seen["result_no_exec.ipynb"] == ["foo", "bar"] and seen["report_mode_test.ipynb"] == ["a", "b"]
    assert len(seen) >= 5 and all(isinstance(v, list) for v in seen.values()), seen
