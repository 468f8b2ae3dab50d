"""Calls into parts of the public API that a given nbtrack may not have yet
(registry, datasets, events, lineage): a missing function is ``NotAvailable``
(HTTP 501), and the sidebar hides that feature."""

from __future__ import annotations

import inspect
from typing import Any

import nbtrack

from .base import NotAvailable
from .serialize import records, scalar

FEATURES = {
    "models": ("models", "model_versions"),
    "aliases": ("set_alias", "promote", "rollback"),
    "approvals": ("approve",),
    "datasets": ("datasets",),
    "events": ("events",),
    "lineage": ("lineage",),
}


def has(name: str) -> bool:
    return name in getattr(nbtrack, "__all__", []) or name in getattr(nbtrack, "_API", {})


def features() -> dict[str, bool]:
    return {feature: all(has(n) for n in names) for feature, names in FEATURES.items()}


def call(function: str, /, *args: Any, workspace: Any = None, **kwargs: Any) -> Any:
    """``nbtrack.<function>(*args, **kwargs)``, passing ``workspace`` where accepted."""
    if not has(function):
        raise NotAvailable(f"this nbtrack has no nbtrack.{function}() yet; upgrade nbtrack for this feature")
    fn = getattr(nbtrack, function)
    try:
        accepts = "workspace" in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins, C functions
        accepts = False
    if accepts and workspace is not None:
        kwargs["workspace"] = workspace
    return fn(*args, **{k: v for k, v in kwargs.items() if v is not None})


def jsonable(value: Any) -> Any:
    """DataFrames, dataclasses, objects with to_dict(), lists and dicts -> JSON values."""
    if hasattr(value, "itertuples") and hasattr(value, "columns"):
        return records(value)
    if hasattr(value, "to_dict") and callable(value.to_dict) and not isinstance(value, dict):
        return jsonable(value.to_dict())
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: jsonable(getattr(value, k)) for k in value.__dataclass_fields__ if not k.startswith("_")}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return scalar(value)
    s = scalar(value)
    return s if isinstance(s, (str, int, float, bool)) or s is None else str(s)
