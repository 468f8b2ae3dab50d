"""The layering contract of ``src/nbtrack``, checked on the source (``ast``, no import).

    low (errors, _secrets, context, expr) <- store <- workspace <- query <- snapshot
    <- capture <- registry <- pipeline <- (monitor, serve, maintenance) <- nbtrack (the
    public API facade) <- ui <- shells (ipython, cli, jupyter)

* every import, top-level or inside a function (also under ``TYPE_CHECKING``),
  points down the table or stays in its own package;
* packages of one rank import each other only where the rank says so (the low
  modules, and monitor/serve/maintenance); shells never import each other, and
  nothing but a shell imports ``ui``;
* there is no cycle between packages, nor between the modules of one package
  (a package's ``__init__`` importing its own modules, e.g. click commands
  registering on the group, is not counted as a cycle).

One exception, named: ``nbtrack.load_ipython_extension`` (the entry point IPython
looks for on the top-level package) imports ``nbtrack.ipython``.

A new top-level package or module must be placed in :data:`RANKS` below.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "nbtrack"

# rank -> (top-level names, whether names of that rank may import each other)
RANKS: list[tuple[set[str], bool]] = [
    ({"errors", "_secrets", "context", "expr", "safety"}, True),
    ({"store"}, False),
    ({"workspace"}, False),
    ({"query"}, False),
    ({"snapshot"}, False),
    ({"capture"}, False),
    ({"registry"}, False),
    ({"pipeline"}, False),
    ({"monitor", "serve", "maintenance", "rekey", "migrate", "interop"}, True),
    ({"nbtrack"}, False),  # the public API facade: src/nbtrack/__init__.py
    ({"ui"}, False),
    ({"ipython", "cli", "jupyter", "__main__"}, False),
]
SHELL_PEERS = {("__main__", "cli")}  # `python -m nbtrack` is the CLI
ENTRY_POINTS = {("nbtrack", "nbtrack.ipython.extension")}  # %load_ext nbtrack


def rank_of(top: str) -> tuple[int, bool]:
    for i, (names, peers) in enumerate(RANKS):
        if top in names:
            return i, peers
    raise AssertionError(f"nbtrack.{top} is not in the layer table: add it to RANKS in tests/test_layers.py")


def modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, int]]:
    """(imported nbtrack module, line) for every import statement in the file, at any depth."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "nbtrack"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "nbtrack":
                continue
            for alias in node.names:  # `from . import x` imports module x when there is one
                sub = f"{target}.{alias.name}"
                found.append((sub if sub in known else target, node.lineno))
    return found


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "nbtrack"


def graph() -> tuple[dict[str, Path], dict[str, list[tuple[str, int]]]]:
    known = modules()
    return known, {m: imports(m, p, known) for m, p in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def test_imports_point_down():
    known, edges = graph()
    wrong = []
    for module, targets in sorted(edges.items()):
        a = top(module)
        rank_a, peers = rank_of(a)
        for target, line in targets:
            b = top(target)
            if a == b or (module, target) in ENTRY_POINTS or (a, b) in SHELL_PEERS:
                continue
            rank_b, _ = rank_of(b)
            if rank_b > rank_a:
                wrong.append(f"{known[module].relative_to(SRC.parent)}:{line}: {module} imports {target} "
                             f"(upward: {a} is below {b})")
            elif rank_b == rank_a and not peers:
                wrong.append(f"{known[module].relative_to(SRC.parent)}:{line}: {module} imports {target} "
                             f"({a} and {b} are peers that must not import each other)")
    assert not wrong, "imports against the layering contract:\n" + "\n".join(wrong)


def test_no_cycles_between_packages():
    _known, edges = graph()
    packages: dict[str, set[str]] = defaultdict(set)
    for module, targets in edges.items():
        for target, _line in targets:
            if (module, target) not in ENTRY_POINTS and top(module) != top(target):
                packages[top(module)].add(top(target))
    found = cycles(packages)
    assert not found, "packages that import each other: " + "; ".join(" <-> ".join(c) for c in found)


def test_no_cycles_between_modules_of_a_package():
    known, edges = graph()
    plain: dict[str, set[str]] = defaultdict(set)
    for module, targets in edges.items():
        is_package = known[module].name == "__init__.py"
        for target, _line in targets:
            if target == module or (module, target) in ENTRY_POINTS:
                continue
            if is_package and target.startswith(module + "."):  # a package importing its own modules
                continue
            plain[module].add(target)
    found = cycles(plain)
    assert not found, ("modules that import each other (directly or round a loop; move the shared part "
                       "into a module both import):\n" + "\n".join(" <-> ".join(c) for c in found))


def test_the_checker_sees_function_local_and_relative_imports(tmp_path):
    """The walker is not blind: a function-local relative import is found and resolved."""
    known = {"nbtrack.store.x": tmp_path / "x.py", "nbtrack.capture.run": tmp_path / "run.py",
             "nbtrack.capture": tmp_path / "__init__.py"}
    (tmp_path / "x.py").write_text("def f():\n    if True:\n        from ..capture import run\n"
                                   "    import nbtrack.ui\n")
    found = sorted(imports("nbtrack.store.x", tmp_path / "x.py", known))
    assert found == [("nbtrack.capture.run", 3), ("nbtrack.ui", 4)]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert rank_of("store")[0] < rank_of("capture")[0] < rank_of("ipython")[0]
