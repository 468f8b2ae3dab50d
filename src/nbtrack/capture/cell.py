"""Static analysis of a cell before it runs (``ast`` only, nothing is executed).

* params: top-level assignments of literals (numbers, str, bool, None and
  lists/tuples/dicts of those) to a plain name, when every assignment of that
  name in the cell is such a literal;
* reads: names loaded before the cell binds them (what the cell takes from the
  namespace);
* writes: names the cell binds at top level (not inside functions/classes);
* assigned: names bound by assignment statements: where metrics come from
  (loop variables and imports are not metrics).
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field
from typing import Any

from .._secrets import MASK, is_secret_key

_BUILTINS = set(dir(builtins))
_LITERALS = (int, float, complex, str, bool, type(None), bytes)


@dataclass
class CellInfo:
    params: dict[str, Any] = field(default_factory=dict)
    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    assigned: set[str] = field(default_factory=set)
    syntax_error: str | None = None
    tree: ast.Module | None = field(default=None, repr=False)


def _literal(node: ast.AST) -> tuple[bool, Any]:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None
    return _plain(value), value


def _plain(value: Any) -> bool:
    if isinstance(value, _LITERALS):
        return not isinstance(value, (bytes, complex))
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, (str, int, float, bool)) and _plain(v) for k, v in value.items())
    return False


def _targets(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, (ast.Tuple, ast.List)):
        return [n for elt in node.elts for n in _targets(elt)]
    if isinstance(node, ast.Starred):
        return _targets(node.value)
    return []


class _Scanner(ast.NodeVisitor):
    """Walk top-level statements in order; do not descend into new scopes' bodies."""

    def __init__(self) -> None:
        self.bound: set[str] = set()
        self.info = CellInfo()
        self.literal_values: dict[str, Any] = {}
        self.non_literal: set[str] = set()

    def bind(self, names: list[str], assigned: bool = False) -> None:
        self.bound.update(names)
        self.info.writes.update(names)
        if assigned:
            self.info.assigned.update(names)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load) and node.id not in self.bound and node.id not in _BUILTINS:
            self.info.reads.add(node.id)
        elif isinstance(node.ctx, ast.Store):
            self.bind([node.id])

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        ok, value = _literal(node.value)
        for t in node.targets:
            names = _targets(t)
            if ok and isinstance(t, ast.Name):
                self.literal_values[t.id] = value
            else:
                self.non_literal.update(names)
                self.visit(t)  # subscripts/attributes read their base
            self.bind(names, assigned=True)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is None:
            return
        self.visit(node.value)
        names = _targets(node.target)
        ok, value = _literal(node.value)
        if ok and isinstance(node.target, ast.Name):
            self.literal_values[node.target.id] = value
        else:
            self.non_literal.update(names)
            self.visit(node.target)
        self.bind(names, assigned=True)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        names = _targets(node.target)
        for n in names:
            if n not in self.bound and n not in _BUILTINS:
                self.info.reads.add(n)
        if not names:
            self.visit(node.target)
        self.non_literal.update(names)
        self.bind(names, assigned=True)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self.non_literal.add(node.target.id)
        self.bind([node.target.id], assigned=True)

    def _scope(self, node: ast.AST, name: str | None) -> None:
        for d in getattr(node, "decorator_list", []):
            self.visit(d)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for default in node.args.defaults + [d for d in node.args.kw_defaults if d]:
                self.visit(default)
            inner = _free_names(node)
            self.info.reads.update(n for n in inner if n not in self.bound and n not in _BUILTINS)
        if isinstance(node, ast.ClassDef):
            for b in node.bases:
                self.visit(b)
        if name:
            self.non_literal.add(name)
            self.bind([name])

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._scope(node, node.name)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._scope(node, node.name)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        inner = _free_names(node)
        self.info.reads.update(n for n in inner if n not in self.bound and n not in _BUILTINS)

    def visit_Import(self, node: ast.Import) -> None:
        names = [(a.asname or a.name).split(".")[0] for a in node.names]
        self.non_literal.update(names)
        self.bind(names)

    visit_ImportFrom = visit_Import

    def visit_For(self, node: ast.For) -> None:
        self.visit(node.iter)
        names = _targets(node.target)
        self.non_literal.update(names)
        self.bind(names)
        for stmt in node.body + node.orelse:
            self.visit(stmt)

    visit_AsyncFor = visit_For


def _free_names(node: ast.AST) -> set[str]:
    """Names a function or lambda body loads that it does not bind itself (approximate)."""
    loads, stores = set(), set()
    args = node.args
    for a in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]:
        if a is not None:
            stores.add(a.arg)
    body = node.body if isinstance(node.body, list) else [node.body]
    for stmt in body:
        for sub in ast.walk(stmt):
            if isinstance(sub, ast.Name):
                (loads if isinstance(sub.ctx, ast.Load) else stores).add(sub.id)
    return loads - stores


def cell_title(source: str) -> str | None:
    """A cell's title: the text of its first line when that line is a comment."""
    for line in source.splitlines():
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            return s.lstrip("#").strip()[:120] or None
        return None
    return None


def analyze(source: str) -> CellInfo:
    """Params, reads and writes of a cell's source (IPython syntax already removed)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        return CellInfo(syntax_error=f"{e.msg} (line {e.lineno})")
    scanner = _Scanner()
    for stmt in tree.body:
        scanner.visit(stmt)
    info = scanner.info
    info.params = {
        k: v for k, v in scanner.literal_values.items() if k not in scanner.non_literal and not k.startswith("_")
    }
    info.reads -= {"get_ipython", "display"}
    info.tree = tree
    return info


def mask_secrets(source: str, tree: ast.Module | None = None, line_offset: int = 0) -> str:
    """The source with literal values assigned to secret-looking names replaced by '***'.

    Covers ``api_token = "..."`` (and annotated assignments) and keyword
    arguments such as ``connect(password="...")``. ``tree`` may be given when the
    caller already parsed the same code, shifted down by ``line_offset`` lines.
    """
    if tree is None:
        line_offset = 0
        try:
            tree = ast.parse(source)
        except SyntaxError:
            return _mask_by_line(source)
    spans: list[tuple[int, int, int, int]] = []
    for node in ast.walk(tree):
        value, names = None, []
        if isinstance(node, ast.Assign):
            value, names = node.value, [n for t in node.targets for n in _targets(t)]
            names += [t.attr for t in node.targets if isinstance(t, ast.Attribute)]
            names += [t.slice.value for t in node.targets if isinstance(t, ast.Subscript)
                      and isinstance(t.slice, ast.Constant) and isinstance(t.slice.value, str)]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            value, names = node.value, _targets(node.target)
        elif isinstance(node, ast.keyword) and node.arg:
            value, names = node.value, [node.arg]
        elif isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if isinstance(k, ast.Constant) and isinstance(k.value, str) and is_secret_key(k.value):
                    if isinstance(v, ast.Constant) and isinstance(v.value, (str, bytes)):
                        spans.append((v.lineno, v.col_offset, v.end_lineno, v.end_col_offset))
            continue
        if value is None or not any(is_secret_key(n) for n in names):
            continue
        if isinstance(value, (ast.Constant, ast.JoinedStr)) and not isinstance(getattr(value, "value", ""), (int, float)):
            spans.append((value.lineno, value.col_offset, value.end_lineno, value.end_col_offset))
    if not spans:
        return source
    lines = source.splitlines(keepends=True)
    spans = [(l1 - line_offset, c1, l2 - line_offset, c2) for l1, c1, l2, c2 in spans]
    for l1, c1, l2, c2 in sorted(spans, reverse=True):
        # ast offsets are UTF-8 byte offsets within a line
        first = lines[l1 - 1].encode()
        last = lines[l2 - 1].encode()
        merged = (first[:c1] + repr(MASK).encode() + last[c2:]).decode()
        lines[l1 - 1:l2] = [merged]
    return "".join(lines)


def _mask_by_line(source: str) -> str:
    """Fallback for sources that do not parse: mask whole `name = value` lines."""
    out = []
    for line in source.splitlines(keepends=True):
        head = line.split("=", 1)[0]
        if "=" in line and is_secret_key(head) and "==" not in line:
            nl = "\n" if line.endswith("\n") else ""
            out.append(f"{head}= {MASK!r}{nl}")
        else:
            out.append(line)
    return "".join(out)
