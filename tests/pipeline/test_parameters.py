"""Parameter schema, papermill literal parsing and validation (no kernel needed)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from nbtrack.cli import cli
from nbtrack.errors import InvalidInput
from nbtrack.pipeline.parameters import describe_schema, load_schema, parse_literal, parse_pairs, validate

from .conftest import NOTEBOOKS

SCHEMA = load_schema([
    {"name": "C", "default": 1.0, "type": None},
    {"name": "penalty", "default": "l2", "type": "str"},
    {"name": "n", "default": 3, "type": "int"},
    {"name": "fast", "default": False},
    {"name": "layers", "default": [8, 4], "type": "list"},
    {"name": "target", "type": "str", "required": True},
])


@pytest.mark.parametrize("text", ["1", "-3", "1.5", "1e-3", "True", "False", "None", "l2", "true", "0x10", " 7",
                                  "nan", "inf", "1_000", "[1, 2]", ""])
def test_parse_literal_matches_papermill_cli(text):
    from papermill.cli import _resolve_type

    got, want = parse_literal(text), _resolve_type(text)
    assert type(got) is type(want)
    assert got == want or (got != got and want != want)  # nan


def test_types_are_inferred_from_defaults_when_not_annotated():
    types = {p.name: p.type for p in SCHEMA}
    assert types == {"C": "float", "penalty": "str", "n": "int", "fast": "bool", "layers": "list", "target": "str"}
    assert [p.name for p in SCHEMA if p.required] == ["target"]


def test_valid_values_are_coerced_and_defaults_filled():
    values, texts = parse_pairs([("C", "2"), ("penalty", "007"), ("layers", "[1, 2, 3]"), ("target", "churn")])
    out = validate(SCHEMA, values, texts)
    assert out == {"C": 2.0, "penalty": "007", "n": 3, "fast": False, "layers": [1, 2, 3], "target": "churn"}
    assert isinstance(out["C"], float)


def test_every_problem_is_listed_with_the_valid_parameters():
    with pytest.raises(InvalidInput) as e:
        validate(SCHEMA, {"C": "high", "n": 1.5, "fast": "yes", "lr": 0.1}, pipeline="churn-train@1")
    msg = str(e.value)
    assert "unknown parameter 'lr'" in msg
    assert "parameter 'C': expected float, got str 'high'" in msg
    assert "parameter 'n': expected int, got float" in msg
    assert "'fast': expected bool" in msg and "True or False" in msg
    assert "missing required parameter 'target'" in msg
    assert "valid parameters:" in msg and "C: float (default 1.0)" in msg and "target: str (required)" in msg
    assert e.value.exit_code == 2


def test_bool_is_not_an_int():
    with pytest.raises(InvalidInput, match="expected int, got bool"):
        validate(SCHEMA, {"n": True, "target": "x"})


def test_describe_empty_schema():
    assert "no parameters" in describe_schema([])


def test_cli_rejects_bad_parameters_before_any_kernel_starts(approve, workspace):
    approve("train.ipynb", "churn-train")
    res = CliRunner().invoke(cli, ["run", "churn-train", "-p", "C", "abc", "-p", "gamma", "1"])
    assert res.exit_code == 2, res.output
    assert "unknown parameter 'gamma'" in res.output
    assert "parameter 'C': expected float" in res.output
    assert "penalty: str (default 'l2')" in res.output
    import nbtrack

    assert len(nbtrack.runs()) == 0  # nothing ran, nothing was recorded


def test_cli_unknown_pipeline_and_bad_gate_exit_2(approve, workspace):
    approve("train.ipynb", "churn-train")
    res = CliRunner().invoke(cli, ["run", "nope"])
    assert res.exit_code == 2 and "nope" in res.output
    res = CliRunner().invoke(cli, ["run", "churn-train", "--gate", "auc >> 3"])
    assert res.exit_code == 2 and "cannot read gate" in res.output


# papermill's own test notebook (papermill/tests/notebooks/complex_parameters.ipynb, copied verbatim)
COMPLEX = NOTEBOOKS / "papermill_complex_parameters.ipynb"


def _complex(tmp_path, broken_line: bool = False) -> str:
    import nbformat

    nb = nbformat.read(COMPLEX, as_version=4)
    if not broken_line:
        nb.cells[0].source = nb.cells[0].source.replace("\n= 2", "")
        nb.cells.append(nbformat.v4.new_code_cell("print(repr(a), repr(b), repr(c), repr(d))"))
    path = tmp_path / "complex_parameters.ipynb"
    nbformat.write(nb, path)
    return str(path)


def test_papermill_complex_parameters_notebook_approves_and_runs(workspace, tmp_path):
    import nbformat

    import nbtrack

    p = nbtrack.approve(_complex(tmp_path), name="complex", reason="papermill's own notebook")
    assert p.parameters == [
        {"name": "msg", "default": None, "type": None, "help": ""},
        {"name": "a", "default": 2.25, "type": "float", "help": "Variable a"},
        {"name": "b", "default": ["Hello", "World"], "type": "List[str]", "help": "Nice list"},
        {"name": "c", "default": None, "type": None, "help": "Interesting c variable"},
        {"name": "d", "computed": "a == 3", "type": None, "help": "Not introspectable line"},
    ]
    out = tmp_path / "out.ipynb"
    res = CliRunner().invoke(cli, ["run", "complex", "-p", "a", "3.5", "-p", "b", '["x"]', "--output", str(out)])
    assert res.exit_code == 0, res.output
    printed = nbformat.read(out, as_version=4).cells[-1].outputs[0]["text"]
    assert printed.strip() == "3.5 ['x'] None False"  # d is computed by the cell, before the overrides
    assert nbtrack.get_run(nbtrack.runs(kind="pipeline").id[0]).params == {"msg": None, "a": 3.5, "b": ["x"],
                                                                            "c": None}
    bad = CliRunner().invoke(cli, ["run", "complex", "-p", "a", "not-a-float"])
    assert bad.exit_code == 2 and "parameter 'a': expected float, got str 'not-a-float'" in bad.output
    assert "d: any (computed default: a == 3)  # Not introspectable line" in bad.output
    listing = CliRunner().invoke(cli, ["pipelines", "complex"])
    assert "d=<computed: a == 3>" in listing.output.replace("\n", "") or "computed" in listing.output
    assert "d: any (computed default: a == 3)" in listing.output


def test_papermill_complex_parameters_broken_line_is_refused(workspace, tmp_path):
    res = CliRunner().invoke(cli, ["approve", _complex(tmp_path, broken_line=True), "--name", "complex"])
    assert res.exit_code == 2 and "does not parse (line 14: `= 2`)" in res.output
