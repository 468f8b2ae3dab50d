"""Static analysis of a cell before it runs (``ast`` only, nothing is executed).

* params: top-level assignments of small literals (numbers, str, bool, None
  and short lists/tuples/dicts of those) to plain names, including tuple
  unpacking (``C1, C2 = 0.001, 1000``), when every assignment of that name in
  the cell is such a literal and the cell does not mutate it afterwards
  (``results = []`` later filled is not a param). Data literals (long
  containers), URLs and paths are not params;
* reads: names loaded before the cell binds them (what the cell takes from the
  namespace);
* writes: names the cell binds at top level (not inside functions/classes);
* assigned: names bound by assignment statements;
* metric_names: assigned names with evidence of being a metric (see
  :func:`metric_evidence`): the value comes from a scoring function
  (``score``, ``*_score``, ``*_error``, ``*_loss``, ``best_score_``...), or the
  name itself says so (``acc``, ``rmse``, ``f1``...) — never loop variables,
  counters (``n += 1``), values inside loop bodies (last-iteration values) or
  values computed from ``time.*``, ``len()``, shapes or indices;
* display: the last expression of the cell when it is shown and looks like a
  score (its value is read after the cell runs);
* name: a short run name derived from the cell (first comment, plotted title).
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass, field
from typing import Any

from .._secrets import mask_source

_BUILTINS = set(dir(builtins))
_LITERALS = (int, float, complex, str, bool, type(None), bytes)
MAX_PARAM_ITEMS = 16  # longer literal containers are data, not params
MAX_PARAM_STR = 200
_MUTATORS = {"append", "extend", "insert", "update", "add", "pop", "remove", "setdefault", "clear",
             "discard", "sort", "reverse", "popitem"}
_PATHLIKE = re.compile(r"^([a-z][a-z0-9+.-]*://|~/|\.{0,2}/|[A-Za-z]:\\)|\.(csv|tsv|txt|json|parquet|pkl|"
                       r"pickle|joblib|npy|npz|h5|hdf5|png|jpe?g|svg|pdf|zip|gz|xlsx?|ipynb|py|db|sqlite)$",
                       re.IGNORECASE)
# a callee whose result is a score: accuracy_score, r2_score, mean_squared_error, log_loss, clf.score...
_SCORING_CALL = re.compile(r"^(score|.*_score|.*_error|.*_loss|log_loss|.*_deviance|accuracy|"
                           r"cross_val_score|scores?)$")
_SCORING_ATTR = re.compile(r"^(best_score_|oob_score_|score_|inertia_)$")
# a name that says it is a metric (split on '_' / digits / case changes)
_METRIC_WORDS = {"acc", "accuracy", "score", "scores", "loss", "error", "err", "rmse", "mse", "mae", "mape",
                 "auc", "roc", "f1", "precision", "recall", "r2", "logloss", "auroc", "ap", "kappa", "mcc",
                 "silhouette", "inertia", "balanced", "brier", "deviance", "perplexity", "sensitivity",
                 "specificity", "rsquared", "r_squared", "mean_cv", "cv"}
_NOT_METRIC_CALLS = {"len", "range", "enumerate", "time", "perf_counter", "monotonic", "process_time",
                     "now", "today", "utcnow", "timestamp", "argmax", "argmin", "idxmax", "idxmin", "index",
                     "randint", "choice", "seed", "count_nonzero", "nunique", "count", "shape", "id",
                     "hash", "get_n_splits"}
_INDEX_CALLS = {"argmax", "argmin", "idxmax", "idxmin", "argsort", "searchsorted", "nanargmax", "nanargmin"}
_TIME_CALLS = {"time", "perf_counter", "monotonic", "process_time", "now", "today", "utcnow", "time_ns"}
_NOT_METRIC_ATTRS = {"shape", "size", "ndim", "index", "columns", "n_features_in_", "n_iter_", "n_outputs_",
                     "n_classes_", "nbytes", "best_index_", "dtype", "n_components_"}
_NOT_METRIC_MODULES = {"time", "datetime", "random", "os", "sys"}
_NOT_METRIC_NAMES = re.compile(r"^(i|j|k|n|m|t|idx|ix|index|count|counter|step|epoch|seed|start|end|stop|"
                               r"t0|t1|elapsed|duration|size|n_.*|num_.*|.*_count|.*_idx|.*_index|.*_size|"
                               r".*_time|time_.*|.*_seconds|random_state)$")


@dataclass
class CellInfo:
    params: dict[str, Any] = field(default_factory=dict)
    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    assigned: set[str] = field(default_factory=set)
    loop_vars: set[str] = field(default_factory=set)
    loop_only: set[str] = field(default_factory=set)  # bound only inside loop bodies: last-iteration values
    metric_names: set[str] = field(default_factory=set)
    display: str | None = None  # metric key of a shown last expression that looks like a score
    name: str | None = None  # a short run name derived from the cell
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


def is_param_value(value: Any, depth: int = 0) -> bool:
    """A scalar or a small literal container: what a person would call a setting.

    Not settings: long containers, lists of lists (rows of data), strings with
    spaces inside containers (texts), URLs and paths, empty containers (to be filled).
    """
    if isinstance(value, str):
        if depth and any(c.isspace() for c in value):
            return False
        return len(value) <= MAX_PARAM_STR and "\n" not in value and not _PATHLIKE.search(value)
    if isinstance(value, (int, float, bool, type(None))):
        return True
    if depth >= 2:
        return False
    if isinstance(value, (list, tuple)):
        return 0 < len(value) <= MAX_PARAM_ITEMS and all(
            not isinstance(v, (list, tuple, dict)) and is_param_value(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return 0 < len(value) <= MAX_PARAM_ITEMS and all(is_param_value(v, depth + 1) for v in value.values())
    return False


def _targets(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, (ast.Tuple, ast.List)):
        return [n for elt in node.elts for n in _targets(elt)]
    if isinstance(node, ast.Starred):
        return _targets(node.value)
    return []


def dotted(node: ast.AST) -> str | None:
    """``np.sqrt`` for an attribute chain of names, ``None`` otherwise."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def _callee(node: ast.Call) -> str:
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def metric_words(name: str) -> bool:
    """Whether a variable name says it holds a metric (``val_acc``, ``rmse_test``, ``f1``)."""
    low = name.lower()
    if low in _METRIC_WORDS:
        return True
    words = [w for w in re.split(r"[_\W]+|(?<=[a-z])(?=[A-Z])", name) if w]
    return any(w.lower() in _METRIC_WORDS for w in words)


def _root_excluded(expr: ast.AST) -> bool:
    """``len(x)``, ``x.shape[0]``, ``np.argmax(p)``, ``df.index[3]``: a size, shape or index."""
    while isinstance(expr, ast.Subscript):
        expr = expr.value
    if isinstance(expr, ast.Call):
        return _callee(expr) in _NOT_METRIC_CALLS
    return isinstance(expr, ast.Attribute) and expr.attr in _NOT_METRIC_ATTRS


def metric_evidence(expr: ast.AST, metric_vars: set[str] | frozenset[str] = frozenset()) -> str | None:
    """``"score"`` when the expression calls a scoring function or reads a score attribute,
    ``"name"`` when it only reads a metric-named variable, ``"no"`` when it is a size, shape,
    index or time, ``None`` when nothing says either way."""
    if _root_excluded(expr):
        return "no"
    found = None
    for sub in ast.walk(expr):
        if isinstance(sub, ast.Call):
            full = dotted(sub.func) or ""
            if full.split(".")[0] in _NOT_METRIC_MODULES or _callee(sub) in _TIME_CALLS | _INDEX_CALLS:
                return "no"  # a time or a position, wherever it appears (best_k = np.argmax(scores) + 1)
            if _SCORING_CALL.match(_callee(sub)):
                found = "score"
        elif isinstance(sub, ast.Attribute):
            if _SCORING_ATTR.match(sub.attr):
                found = "score"
        elif isinstance(sub, ast.Subscript) and isinstance(sub.slice, ast.Constant) \
                and isinstance(sub.slice.value, str) and metric_words(sub.slice.value):
            found = found or "name"  # results["test_score"]
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and found is None:
            if sub.id in metric_vars or metric_words(sub.id):
                found = "name"
    return found


def display_key(expr: ast.AST) -> str | None:
    """The metric name of a shown expression: ``accuracy_score``, ``clf.score``, ``grid.best_score_``."""
    if isinstance(expr, (ast.Name, ast.Attribute)):
        return dotted(expr)
    if isinstance(expr, ast.Call):
        inner = dotted(expr.func)
        if inner is None:
            return None
        if len(expr.args) == 1 and not _SCORING_CALL.match(_callee(expr)) and isinstance(expr.args[0], ast.Call):
            arg = display_key(expr.args[0])  # np.sqrt(mean_squared_error(...)) -> np.sqrt(mean_squared_error)
            return f"{inner}({arg})" if arg else inner
        return inner
    return None


_QUIET_CALLS = re.compile(r"^(print|display|plt\..*|.*\.(plot|show|hist|scatter|imshow|bar|barh|boxplot|"
                          r"legend|set_.*|savefig|head|tail|describe|info))$")


class _Scanner(ast.NodeVisitor):
    """Walk top-level statements in order; do not descend into new scopes' bodies."""

    def __init__(self) -> None:
        self.bound: set[str] = set()
        self.info = CellInfo()
        self.literal_values: dict[str, Any] = {}
        self.non_literal: set[str] = set()
        self.mutated: set[str] = set()
        self.loop_depth = 0
        self.values: dict[str, list[ast.AST]] = {}  # top-level (not in a loop) assigned expressions
        self.in_loop: set[str] = set()
        self.top_assigned: set[str] = set()
        self.non_loop_aug: set[str] = set()

    def bind(self, names: list[str], assigned: bool = False) -> None:
        self.bound.update(names)
        self.info.writes.update(names)
        if assigned:
            self.info.assigned.update(names)
            if self.loop_depth:
                self.in_loop.update(names)
            else:
                self.top_assigned.update(names)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load) and node.id not in self.bound and node.id not in _BUILTINS:
            self.info.reads.add(node.id)
        elif isinstance(node.ctx, ast.Store):
            self.bind([node.id])

    def _store_target(self, t: ast.AST) -> None:
        """Subscript/attribute targets read their base and mutate it."""
        base = t
        while isinstance(base, (ast.Subscript, ast.Attribute)):
            base = base.value
        if isinstance(base, ast.Name) and t is not base:
            self.mutated.add(base.id)
        self.visit(t)

    def _assign(self, target: ast.AST, value: ast.AST) -> None:
        names = _targets(target)
        if isinstance(target, ast.Name):
            ok, lit = _literal(value)
            if ok and not self.loop_depth:
                self.literal_values[target.id] = lit
            else:
                self.non_literal.add(target.id)
            if not self.loop_depth:
                self.values.setdefault(target.id, []).append(value)
        elif isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)) \
                and len(target.elts) == len(value.elts) and not any(isinstance(e, ast.Starred) for e in target.elts):
            for t, v in zip(target.elts, value.elts):  # C1, C2 = 0.001, 1000
                self._assign(t, v)
            return
        else:
            self.non_literal.update(names)
            if isinstance(target, (ast.Tuple, ast.List)):
                for elt in target.elts:  # a, b[0] = ...: only the subscript reads
                    if not isinstance(elt, (ast.Name, ast.Starred)):
                        self._store_target(elt)
            else:
                self._store_target(target)
        self.bind(names, assigned=True)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for t in node.targets:
            self._assign(t, node.value)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is None:
            return
        self.visit(node.value)
        self._assign(node.target, node.value)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        names = _targets(node.target)
        for n in names:
            if n not in self.bound and n not in _BUILTINS:
                self.info.reads.add(n)
        if not names:
            self._store_target(node.target)
        self.non_literal.update(names)
        self.bind(names, assigned=True)
        self.in_loop.update(names)  # a counter or an accumulator, never a metric
        if not self.loop_depth:
            self.non_loop_aug.update(names)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self.non_literal.add(node.target.id)
        self.bind([node.target.id], assigned=True)

    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr in _MUTATORS and isinstance(f.value, ast.Name):
            self.mutated.add(f.value.id)
        self.generic_visit(node)

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> None:
        local = {n for g in node.generators for n in _targets(g.target)}
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and sub.id not in local \
                    and sub.id not in self.bound and sub.id not in _BUILTINS:
                self.info.reads.add(sub.id)
            elif isinstance(sub, ast.Call):
                f = sub.func
                if isinstance(f, ast.Attribute) and f.attr in _MUTATORS and isinstance(f.value, ast.Name):
                    self.mutated.add(f.value.id)

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comprehension

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

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._scope(node, node.name)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._scope(node, node.name)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        inner = _free_names(node)
        self.info.reads.update(n for n in inner if n not in self.bound and n not in _BUILTINS)

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        names = [(a.asname or a.name).split(".")[0] for a in node.names]
        self.non_literal.update(names)
        self.bind(names)

    visit_ImportFrom = visit_Import

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        names = _targets(node.target)
        self.non_literal.update(names)
        self.info.loop_vars.update(names)
        self.bind(names)
        if not isinstance(node.target, ast.Name):
            for elt in ast.walk(node.target):
                if isinstance(elt, (ast.Subscript, ast.Attribute)):
                    self._store_target(elt)
                    break
        self.loop_depth += 1
        for stmt in node.body:
            self.visit(stmt)
        self.loop_depth -= 1
        for stmt in node.orelse:
            self.visit(stmt)

    visit_AsyncFor = visit_For

    def visit_While(self, node: ast.While) -> None:
        self.visit(node.test)
        self.loop_depth += 1
        for stmt in node.body:
            self.visit(stmt)
        self.loop_depth -= 1
        for stmt in node.orelse:
            self.visit(stmt)


def _free_names(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> set[str]:
    """Names a function or lambda body loads that it does not bind itself (approximate)."""
    loads: set[str] = set()
    stores: set[str] = set()
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


def _metrics(scanner: _Scanner, params: set[str]) -> set[str]:
    out: set[str] = set()
    candidates = scanner.info.assigned - params - scanner.in_loop - scanner.info.loop_vars - scanner.mutated
    def first_line(n: str) -> int:
        return min(getattr(v, "lineno", 0) for v in scanner.values.get(n, [ast.Pass()]))

    for name in sorted(candidates, key=first_line):
        exprs = scanner.values.get(name)
        if not exprs or name.startswith("_"):
            continue
        evidence = [metric_evidence(e, out) for e in exprs]
        if "no" in evidence:
            continue
        if "score" in evidence or (("name" in evidence or metric_words(name)) and not _NOT_METRIC_NAMES.match(name)):
            out.add(name)
    return out


def _display(tree: ast.Module, metric_vars: set[str]) -> str | None:
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        return None
    expr = tree.body[-1].value
    if isinstance(expr, ast.Call) and _QUIET_CALLS.match(dotted(expr.func) or ""):
        return None
    key = display_key(expr)
    if key is None:
        return None
    ev = metric_evidence(expr, metric_vars)
    if ev == "score" or (ev == "name" and not _NOT_METRIC_NAMES.match(key.split(".")[-1])):
        return key
    return None


_TITLE_CALLS = {"title", "set_title", "suptitle"}


def derive_name(source: str, tree: ast.Module | None) -> str | None:
    """A short run name: the cell's first comment line, else the title it plots."""
    for line in source.splitlines():
        s = line.strip()
        if s.startswith("#") and not s.startswith(("#!", "# %%", "#%%")):
            text = s.lstrip("#").strip()
            if text and not text.lower().startswith(("noqa", "type:", "pylint", "fmt:")):
                return text[:80]
    if tree is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if _callee(node) in _TITLE_CALLS and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str) and node.args[0].value.strip():
                return node.args[0].value.strip()[:80]
            for kw in node.keywords:
                if kw.arg == "title" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str) \
                        and kw.value.value.strip():
                    return kw.value.value.strip()[:80]
    return None


def analyze(source: str) -> CellInfo:
    """Params, reads, writes, metric names and a run name of a cell's source (IPython syntax removed)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        return CellInfo(syntax_error=f"{e.msg} (line {e.lineno})")
    scanner = _Scanner()
    for stmt in tree.body:
        scanner.visit(stmt)
    info = scanner.info
    excluded = scanner.non_literal | scanner.mutated | info.loop_vars
    info.params = {k: v for k, v in scanner.literal_values.items()
                   if k not in excluded and not k.startswith("_") and is_param_value(v)}
    info.loop_only = scanner.in_loop - scanner.top_assigned - scanner.non_loop_aug
    info.metric_names = _metrics(scanner, set(scanner.literal_values))
    info.display = _display(tree, info.metric_names)
    info.name = derive_name(source, tree)
    info.reads -= {"get_ipython", "display"}
    info.tree = tree
    return info


def mask_secrets(source: str, tree: ast.Module | None = None, line_offset: int = 0) -> str:
    """The source with secrets replaced by '***' (see ``nbtrack._secrets.mask_source``).

    ``tree`` may be given when the caller already parsed the same code, shifted down by
    ``line_offset`` lines.
    """
    return mask_source(source, tree, line_offset)[0]
