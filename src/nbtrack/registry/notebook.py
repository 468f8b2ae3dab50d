"""What approval freezes of a notebook: its content without outputs and its parameters cell.

The parameters cell is the one tagged ``parameters`` (papermill's convention).
Its top-level assignments are read with :mod:`ast` into a typed schema
``[{"name", "default", "type", "help"}]``: the type is the annotation when there
is one (``lr: float = 0.1``), else the type of the default; a trailing
``# comment`` is the help text. Defaults must be literals, because that is all
papermill can override.
"""

from __future__ import annotations

import ast
import json
import os
from typing import Any

from ..errors import InvalidInput, NotFound

HOW_TO_TAG = (
    "tag the cell that assigns the defaults with `parameters`: in JupyterLab open the property inspector "
    "(the gear icon, right sidebar) and add the tag `parameters` under Common Tools > Cell Tags; in the classic "
    "notebook use View > Cell Toolbar > Tags. See https://papermill.readthedocs.io/en/latest/usage-parameterize.html"
)


def read_notebook(path: str | os.PathLike):
    import nbformat

    if not os.path.isfile(path):
        raise NotFound(f"no notebook at {os.fspath(path)!r}")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        raw = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidInput(f"{os.fspath(path)} is not a notebook: not JSON ({_first_line(e)})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells", []), list):
        raise InvalidInput(f"{os.fspath(path)} is not a notebook: its JSON is a {type(raw).__name__}, "
                           "not an object with a list of cells")
    try:
        return nbformat.reads(text, as_version=4)
    except Exception as e:
        raise InvalidInput(f"{os.fspath(path)} is not a readable notebook: {_first_line(e)}") from e


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def frozen_bytes(nb) -> bytes:
    """The notebook with outputs, execution counts and run-time metadata cleared (deterministic)."""
    import copy

    import nbformat

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in ("execution", "collapsed", "scrolled", "papermill"):
            cell.metadata.pop(key, None)
    for key in ("papermill", "widgets"):
        nb.metadata.pop(key, None)
    return nbformat.writes(nb).encode()


def parameters_cell(nb, path: str) -> Any:
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in (c.metadata.get("tags") or [])]
    if not cells:
        raise InvalidInput(f"{path} has no cell tagged `parameters`, so it cannot be approved as a pipeline: "
                           + HOW_TO_TAG)
    return cells[0]


def parse_parameters(source: str, path: str = "the notebook") -> list[dict[str, Any]]:
    """The typed schema of a parameters cell (see the module docstring)."""
    lines = source.splitlines()
    code = "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in lines)
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        raise InvalidInput(f"the parameters cell of {path} does not parse (line {e.lineno}): {e.msg}") from None
    out: list[dict[str, Any]] = []
    for node in tree.body:
        entry = _parameter(node, lines, path)
        if entry is not None:
            out = [e for e in out if e["name"] != entry["name"]] + [entry]
    return out


def _parameter(node: ast.stmt, lines: list[str], path: str) -> dict[str, Any] | None:
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        target, value, annotation = node.target.id, node.value, ast.unparse(node.annotation)
    elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        target, value, annotation = node.targets[0].id, node.value, None
    else:
        return None  # comments, docstrings, imports: not parameters
    if value is None:
        raise InvalidInput(f"parameter {target!r} in {path} has a type but no default value")
    try:
        default = ast.literal_eval(value)
    except ValueError:
        raise InvalidInput(
            f"parameter {target!r} in {path} defaults to `{ast.unparse(value)}`, which is not a literal; "
            "papermill can only override literal values (numbers, strings, booleans, None, lists, dicts): "
            "assign a literal in the parameters cell and compute derived values in a later cell"
        ) from None
    return {"name": target, "default": default, "type": annotation or _type_name(default),
            "help": _comment(lines, node)}


def _type_name(value: Any) -> str | None:
    if value is None:
        return None
    return {tuple: "list"}.get(type(value), type(value).__name__)


def _comment(lines: list[str], node: ast.stmt) -> str:
    line = lines[node.end_lineno - 1] if node.end_lineno and node.end_lineno <= len(lines) else ""
    rest = line[node.end_col_offset:] if node.end_col_offset is not None else ""
    return rest.split("#", 1)[1].strip() if "#" in rest else ""
