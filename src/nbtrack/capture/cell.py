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

from .._secrets import mask_source

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
    """The source with secrets replaced by '***' (see ``nbtrack._secrets.mask_source``).

    ``tree`` may be given when the caller already parsed the same code, shifted down by
    ``line_offset`` lines.
    """
    return mask_source(source, tree, line_offset)[0]
