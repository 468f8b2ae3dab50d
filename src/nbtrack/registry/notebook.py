"""What approval freezes of a notebook: its content without outputs and its parameters cell.

The parameters cell is the one tagged ``parameters`` (papermill's convention).
Its top-level assignments are read with :mod:`ast` into a typed schema
``[{"name", "default", "type", "help"}]``: the type is the annotation when there
is one (``lr: float = 0.1``), or a ``# type: List[str]`` comment, else the type of
the default; a trailing ``# comment`` (else the comment lines just above) is the
help text. A default that is not a literal (``start = date.today()``) is kept as
``{"computed": "date.today()"}``: papermill injects overrides after the cell, so
such parameters can be overridden too; they are typed by their annotation or
accept any literal.
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
    """The typed schema of a parameters cell (see the module docstring).

    Every cell papermill runs is accepted: papermill injects the overrides in a new
    cell *after* this one, so any top-level assignment is a parameter. A literal
    default is typed (the annotation, a ``# type:`` comment, else the default's
    type); any other default (``d = a == 3``, ``start = date.today()``) is a
    *computed* default, ``{"computed": "a == 3"}``, of the annotation's type or any
    literal type. A cell that does not parse is refused, naming the line.
    """
    lines = source.splitlines()
    code, shell = _python(source, lines)
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        line = lines[e.lineno - 1].strip() if e.lineno and 0 < e.lineno <= len(lines) else ""
        shown = f": `{line[:80]}`" if line else ""
        raise InvalidInput(f"the parameters cell of {path} does not parse (line {e.lineno}{shown}): {e.msg}; "
                           "papermill could not run it either") from None
    out: list[dict[str, Any]] = []
    code_lines = code.splitlines()
    for node in tree.body:
        for entry in _parameters(node, code_lines, path):
            if entry.get("computed") == _SHELL:
                entry["computed"] = shell.get(node.lineno, "shell output")
            out = [e for e in out if e["name"] != entry["name"]] + [entry]
    return out


_SHELL = "_nbtrack_shell_output_"


def _python(source: str, lines: list[str]) -> tuple[str, dict[int, str]]:
    """The cell as the kernel runs it, line for line (so line numbers and comments stay):
    ``%magic`` and ``!cmd`` lines define nothing; ``x = !ls`` is a computed ``x``.
    Returns the code and, by line number, the original right side of ``x = !ls`` lines."""
    shell: dict[int, str] = {}
    if not any(ln.lstrip().startswith(("%", "!")) or "!" in ln or "%" in ln for ln in lines):
        return source, shell
    out = []
    for i, ln in enumerate(lines, 1):
        stripped = ln.lstrip()
        target, eq, rhs = ln.partition("=")
        if stripped.startswith(("%", "!")):
            out.append("")
        elif eq and target.strip().isidentifier() and rhs.lstrip().startswith(("!", "%")):
            command, hash_, comment = rhs.partition("  #")
            shell[i] = command.strip()
            out.append(f"{target.rstrip()} = {_SHELL}" + (f"  #{comment}" if hash_ else ""))
        else:
            out.append(ln)
    return "\n".join(out), shell


def _parameters(node: ast.stmt, lines: list[str], path: str) -> list[dict[str, Any]]:
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        annotation = _annotation(node.annotation)
        if node.value is None:  # `a: int`: papermill must be given a value
            return [{"name": node.target.id, "type": annotation, "help": _help(lines, node), "required": True}]
        return [_entry(node.target.id, node.value, annotation, lines, node)]
    if isinstance(node, ast.Assign):
        out = []
        for target in node.targets:
            if isinstance(target, ast.Name):
                out.append(_entry(target.id, node.value, None, lines, node))
            elif isinstance(target, (ast.Tuple, ast.List)) and all(isinstance(t, ast.Name) for t in target.elts):
                values = node.value.elts if isinstance(node.value, (ast.Tuple, ast.List)) and \
                    len(node.value.elts) == len(target.elts) else None
                for i, t in enumerate(target.elts):
                    if not isinstance(t, ast.Name):  # checked above; narrows the type
                        continue
                    value = values[i] if values is not None else ast.Subscript(node.value, ast.Constant(i))
                    out.append(_entry(t.id, value, None, lines, node))
        return out
    return []  # comments, docstrings, imports, loops...: not parameters


def _entry(name: str, value: ast.expr, annotation: str | None, lines: list[str], node: ast.stmt) -> dict[str, Any]:
    type_comment, help_text = _type_comment(_help(lines, node))
    annotation = annotation or type_comment
    try:
        default = ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return {"name": name, "computed": ast.unparse(value), "type": annotation, "help": help_text}
    return {"name": name, "default": default, "type": annotation or _type_name(default), "help": help_text}


def _annotation(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # c: "NoneType" = None
        text = node.value
    else:
        text = ast.unparse(node)
    return None if text in ("NoneType", "None", "Any", "typing.Any") else text


def _type_comment(help_text: str) -> tuple[str | None, str]:
    """``# type: List[str] Nice list`` -> (``List[str]``, ``Nice list``)."""
    if not help_text.startswith("type:"):
        return None, help_text
    rest = help_text[len("type:"):].strip()
    depth, end = 0, len(rest)
    for i, ch in enumerate(rest):
        depth += ch == "["
        depth -= ch == "]"
        if ch.isspace() and depth == 0:
            end = i
            break
    return rest[:end] or None, rest[end:].strip()


def _type_name(value: Any) -> str | None:
    if value is None:
        return None
    return {tuple: "list"}.get(type(value), type(value).__name__)


def _help(lines: list[str], node: ast.stmt) -> str:
    """The trailing ``# comment`` of the assignment, else the comment lines just above it."""
    line = lines[node.end_lineno - 1] if node.end_lineno and node.end_lineno <= len(lines) else ""
    rest = line[node.end_col_offset:] if node.end_col_offset is not None else ""
    if "#" in rest:
        return rest.split("#", 1)[1].strip()
    above = []
    i = node.lineno - 2
    while i >= 0 and lines[i].strip().startswith("#"):
        above.append(lines[i].strip().lstrip("#").strip())
        i -= 1
    return " ".join(reversed(above))


def describe_parameter(entry: dict[str, Any]) -> str:
    """``x=1``, ``d=<computed: a == 3>`` or ``n=<required int>``: one parameter of a schema, short."""
    if "computed" in entry:
        return f"{entry['name']}=<computed: {entry['computed']}>"
    if entry.get("required") or "default" not in entry:
        return f"{entry['name']}=<required{' ' + entry['type'] if entry.get('type') else ''}>"
    return f"{entry['name']}={entry['default']!r}"
