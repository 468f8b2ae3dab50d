"""skops' default trust decided for one class without importing skops' lists (a first load in ~ms, not ~0.6 s).

skops trusts, by default, every scikit-learn estimator that ``sklearn.utils.all_estimators()``
finds, plus a short list of internal types (losses, links, the binner). Building that list
imports every scikit-learn module (~0.6 s), which a process paid on its first
``load_model``. For one class, membership in ``all_estimators()`` can be proved from the class
itself and the one public module that exports it, following ``all_estimators``' own rules:

* a public module of the ``sklearn`` package (no part starting with ``_`` after ``sklearn.``,
  none of ``_MODULE_TO_IGNORE``), a real file under scikit-learn's directory (what
  ``pkgutil.walk_packages`` finds), lists the class under its own name (``dir()`` +
  ``getattr``, what ``inspect.getmembers`` reads), that name does not start with ``_``;
* the class is a subclass of ``BaseEstimator``, is not ``BaseEstimator`` and has no
  abstract methods;
* skops names it ``f"{cls.__module__}.{cls.__name__}"``, which must be the archive's name.

Only that public module is imported (``all_estimators`` imports it too); the class's own module
must be loaded by it, else the answer is "not proved". Estimators an ``sklearn.experimental``
module enabled are never proved (skops' list has them or not depending on import order).

:func:`listed` answers True only when all of that holds, and only for a scikit-learn whose
``all_estimators`` is a version this module was checked against (the digest of its code and
its ignore list); anything else answers None ("not proved") and the caller asks skops' own
list. So a True here is always a True there, and every other answer is skops' own.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
from typing import Any

# digests of sklearn.utils.discovery.all_estimators (its code, recursively) this rule follows
KNOWN_DISCOVERY = frozenset({
    "3318ed5933fd1c81",  # scikit-learn 1.9 (tests/snapshot/test_skops_rules.py checks the rule against skops' list)
})
_IGNORE = frozenset({"tests", "externals", "setup", "conftest", "experimental", "estimator_checks"})
_state: dict[str, Any] = {}


def _code_digest(code: Any, h: Any) -> None:
    h.update(code.co_code)
    h.update(repr((code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars)).encode())
    for c in code.co_consts:
        if hasattr(c, "co_code"):
            _code_digest(c, h)
        elif isinstance(c, frozenset):  # (a set's repr follows string hashing: sorted)
            h.update(repr(sorted(map(repr, c))).encode())
        else:
            h.update(repr(c).encode())


def discovery_digest() -> str | None:
    """The digest of the installed ``all_estimators`` and its ignore list (None: not readable)."""
    try:
        from sklearn.utils import discovery
    except Exception:
        return None
    fn = getattr(discovery, "all_estimators", None)
    ignore = getattr(discovery, "_MODULE_TO_IGNORE", None)
    if fn is None or not hasattr(fn, "__code__") or not isinstance(ignore, (set, frozenset)):
        return None
    h = hashlib.sha256(repr(sorted(ignore)).encode())
    _code_digest(fn.__code__, h)
    return h.hexdigest()[:16]


def _checked() -> tuple[str, type] | None:
    """(scikit-learn's directory, BaseEstimator) when the installed discovery is a known one."""
    if "ok" not in _state:
        found = None
        if discovery_digest() in KNOWN_DISCOVERY:
            import sklearn
            from sklearn.base import BaseEstimator

            found = (os.path.dirname(os.path.abspath(sklearn.__file__)) + os.sep, BaseEstimator)
        _state["ok"] = found
    return _state["ok"]


def _inside(module: Any, root: str) -> bool:
    spec = getattr(module, "__spec__", None)
    origin = getattr(spec, "origin", None)
    return isinstance(origin, str) and os.path.abspath(origin).startswith(root)


def _experimental(cls: type) -> bool:
    """Whether an ``sklearn.experimental.enable_*`` module put ``cls`` on a public module.

    Those estimators are exported only once enabled, so skops' list holds them or not depending on
    when it was built in the process: never proved here, skops' own list answers."""
    for name, module in list(sys.modules.items()):
        if name.startswith("sklearn.experimental.") and module is not None:
            if any(v is cls for v in vars(module).values()):
                return True
    return False


def listed(name: str) -> bool | None:
    """True if ``name`` is provably one of skops' default-trusted scikit-learn estimators, else None."""
    module_name, _, qual = name.rpartition(".")
    parts = module_name.split(".")
    if (parts[0] != "sklearn" or len(parts) < 2 or not qual.isidentifier() or qual.startswith("_")
            or qual == "BaseEstimator" or any(not p.isidentifier() or p in _IGNORE for p in parts)):
        return None
    checked = _checked()
    if checked is None:
        return None
    root, base = checked
    # the public module all_estimators would read it from: the name's module up to its first private part
    public = []
    for p in parts:
        if p.startswith("_"):
            break
        public.append(p)
    if len(public) < 2:
        return None
    # only the public module is imported (one all_estimators imports too); the class's own module
    # must then be loaded already (a public module imports what it exports)
    pub_name = ".".join(public)
    try:
        pub = sys.modules.get(pub_name) or importlib.import_module(pub_name)
    except Exception:
        return None
    module = sys.modules.get(module_name)
    try:
        found = getattr(module, qual, None) if module is not None else None
    except Exception:
        return None
    if not isinstance(found, type):
        return None
    cls: type = found
    if (cls.__module__ != module_name or cls.__name__ != qual
            or not _inside(module, root) or not _inside(pub, root)):
        return None
    try:
        if getattr(pub, qual, None) is not cls or qual not in dir(pub):
            return None
    except Exception:  # (a module __getattr__ may raise ImportError: sklearn.impute's experimental names)
        return None
    if _experimental(cls):
        return None
    if not issubclass(cls, base) or len(getattr(cls, "__abstractmethods__", ()) or ()):
        return None
    return True
