"""Models built from classes (or functions) defined in the notebook itself (``__main__``).

Such a model is stored like any other, but another process can only load it once
the same names exist in its ``__main__``. So at save time the names and their
source are kept with the model version (read from the cell that defined them:
IPython keeps every cell's text in ``linecache``), the user is told once, and
:func:`check_loadable` turns skops' bare ``AttributeError`` into a message that
says what to define or import.
"""

from __future__ import annotations

import ast
import inspect
import linecache
import sys
from typing import Any

from ..errors import InvalidInput

MAIN = "__main__."
_told: set[str] = set()  # names already announced in this process


def main_names(type_names: list[str], obj: Any) -> list[str]:
    """``__main__`` names among a skops archive's type names, and the model's own class."""
    names = [t for t in type_names if t.startswith(MAIN)]
    own = type(obj)
    if own.__module__ == "__main__" and MAIN + own.__qualname__ not in names:
        names.insert(0, MAIN + own.__qualname__)
    return sorted(dict.fromkeys(names))


def sources(names: list[str]) -> dict[str, str | None]:
    """The source of each ``__main__`` name (None when it cannot be found)."""
    main = sys.modules.get("__main__")
    out: dict[str, str | None] = {}
    for name in names:
        target: Any = main
        for part in name[len(MAIN):].split("."):
            target = getattr(target, part, None)
        out[name] = _source(target) if target is not None else None
    return out


def _source(target: Any) -> str | None:
    try:
        return inspect.getsource(target)
    except (OSError, TypeError):
        pass
    # a class defined in a notebook cell: find its methods' cell in linecache, then the class in it
    for member in vars(target).values() if isinstance(target, type) else ():
        code = getattr(getattr(member, "__func__", member), "__code__", None)
        if code is None:
            continue
        text = "".join(linecache.getlines(code.co_filename))
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name == target.__name__ and (
                    node.lineno <= code.co_firstlineno <= (node.end_lineno or node.lineno)):
                return ast.get_source_segment(text, node)
    return None


def announce(model_name: str, names: list[str]) -> None:
    """One line, once per name and process, when a model depends on notebook-defined names."""
    new = [n for n in names if n not in _told]
    if not new:
        return
    _told.update(new)
    short = ", ".join(n[len(MAIN):] for n in names)
    print(f"nbtrack: model {model_name!r} uses {short}, defined in this notebook: it loads in another "
          f"process only where {'it is' if len(names) == 1 else 'they are'} defined too "
          f"(source kept: nbtrack.get_model_version({model_name!r}).class_sources)", file=sys.stderr)


def check_loadable(ref: str, stored: dict[str, str | None]) -> None:
    """Raise a clear InvalidInput when names the model needs are missing from ``__main__``."""
    main = sys.modules.get("__main__")
    missing = []
    for name in stored:
        target: Any = main
        for part in name[len(MAIN):].split("."):
            target = getattr(target, part, None)
        if target is None:
            missing.append(name[len(MAIN):])
    if missing:
        names = ", ".join(missing)
        raise InvalidInput(
            f"model {ref} needs {names}, defined in the notebook that saved it and not in this process: "
            f"define {'it' if len(missing) == 1 else 'them'} first (the source is in "
            f"nbtrack.get_model_version({ref!r}).class_sources), or move {'it' if len(missing) == 1 else 'them'} "
            "into a module, import it in the notebook, and save the model again")
