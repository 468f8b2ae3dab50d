"""Typed pipeline parameters: the approved schema, papermill literal parsing, validation.

The schema of an approved pipeline version is a JSON list of ``{name, default, type, help}``
(parsed from papermill's ``parameters``-tagged cell at approval; ``{name, computed, type,
help}`` for a default the cell computes, e.g. ``start = date.today()``: any literal of the
annotated type, or of any type, overrides it). Values given on the
command line as ``-p NAME VALUE`` are parsed exactly like the ``papermill`` CLI does
(:func:`parse_literal`), then checked and coerced against the schema *before* a kernel
starts, so a typo costs milliseconds, not a failed run.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput

_MISSING = object()
# Type names as written in a parameters cell annotation or inferred from the default.
_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (float, int),
    "str": (str,),
    "bool": (bool,),
    "list": (list, tuple),
    "dict": (dict,),
}
_ALIASES = {"integer": "int", "number": "float", "string": "str", "boolean": "bool", "tuple": "list",
            "List": "list", "Dict": "dict", "Tuple": "list"}


def parse_literal(text: str) -> Any:
    """Parse a ``-p NAME VALUE`` value like the ``papermill`` CLI (``_resolve_type``).

    ``True``/``False``/``None``, then int, then float, else the text itself.
    ``tests/pipeline/test_parameters.py`` checks this against papermill's own function.
    """
    if text == "True":
        return True
    if text == "False":
        return False
    if text == "None":
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


@dataclass(frozen=True)
class Parameter:
    """One parameter of an approved pipeline: name, type name (or None) and default."""

    name: str
    type: str | None
    default: Any = _MISSING
    help: str = ""
    computed: str | None = None  # the expression the parameters cell computes the default with

    @property
    def required(self) -> bool:
        return self.default is _MISSING and self.computed is None

    def describe(self) -> str:
        if self.computed is not None:
            default = f"computed default: {self.computed}"
        else:
            default = "required" if self.required else f"default {self.default!r}"
        return f"{self.name}: {self.type or 'any'} ({default})" + (f"  # {self.help}" if self.help else "")


def _type_name(raw: Any, default: Any) -> str | None:
    name = str(raw).strip() if raw not in (None, "", "None") else ""
    if name.startswith("Optional[") and name.endswith("]"):
        name = name[len("Optional["):-1]
    name = name.split("[", 1)[0].replace("| None", "").replace("None |", "").strip()
    name = _ALIASES.get(name, name)
    if name in _TYPES:
        return name
    if not name and default is not _MISSING and default is not None:
        for tname in ("bool", "int", "float", "str", "list", "dict"):
            if type(default) in _TYPES[tname][:1]:
                return tname
    return None  # unknown or untyped: any value is accepted


def _default(entry: dict) -> Any:
    if entry.get("required") or "default" not in entry or "computed" in entry:
        return _MISSING
    return entry["default"]


def load_schema(raw: str | list | None) -> list[Parameter]:
    """The parameters of an approved version from its stored JSON."""
    entries = json.loads(raw) if isinstance(raw, str) else list(raw or [])
    out = []
    for e in entries:
        default = _default(e)
        tname = e.get("type", e.get("inferred_type_name"))
        out.append(Parameter(e["name"], _type_name(tname, default), default, e.get("help") or "",
                             e.get("computed")))
    return out


def describe_schema(schema: list[Parameter]) -> str:
    """The valid parameters, one per line, for error messages and ``--help``."""
    if not schema:
        return "  (this pipeline takes no parameters)"
    return "\n".join(f"  {p.describe()}" for p in schema)


def _coerce(p: Parameter, value: Any, from_text: str | None) -> Any:
    """``value`` as parameter ``p`` expects it, or raise ValueError."""
    if p.type is None or (value is None and not p.required and p.default is None and p.computed is None):
        return value
    if p.type == "str" and from_text is not None:
        return from_text  # `-p name 123` means the string "123" for a str parameter
    if p.type in ("list", "dict") and isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            example = "[1, 2]" if p.type == "list" else '{"a": 1}'
            raise ValueError(f"expected a {p.type} literal such as {example}") from None
    allowed = _TYPES[p.type]
    if isinstance(value, bool) and p.type != "bool":
        raise ValueError(f"expected {p.type}, got bool")
    if not isinstance(value, allowed):
        hint = " (write True or False)" if p.type == "bool" else ""
        raise ValueError(f"expected {p.type}, got {type(value).__name__} {value!r}{hint}")
    if p.type == "float" and isinstance(value, (int, float)):  # always, given the check above
        return float(value)
    if p.type == "list" and isinstance(value, (list, tuple)):
        return list(value)
    return value


def validate(schema: list[Parameter], params: dict[str, Any] | None, texts: dict[str, str] | None = None,
             pipeline: str = "the pipeline") -> dict[str, Any]:
    """Check ``params`` against ``schema``; return every effective value (defaults filled in).

    Parameters
    ----------
    schema : list of Parameter
        From :func:`load_schema`.
    params : dict
        Values given by the caller (already parsed Python values).
    texts : dict, optional
        The raw command-line text of each value, so a ``str`` parameter keeps
        ``"007"`` as written instead of papermill's ``7``.
    pipeline : str
        Named in the error message.

    Raises
    ------
    InvalidInput
        Listing every problem (unknown names, wrong types, missing required
        values) and the valid parameters with their types and defaults.
    """
    params, texts = dict(params or {}), texts or {}
    by_name = {p.name: p for p in schema}
    problems, out = [], {}
    for name in sorted(set(params) - set(by_name)):
        problems.append(f"unknown parameter {name!r}")
    for p in schema:
        if p.name not in params:
            if p.required:
                problems.append(f"missing required parameter {p.name!r}")
            elif p.computed is None:  # a computed default is known only when the cell runs
                out[p.name] = p.default
            continue
        try:
            out[p.name] = _coerce(p, params[p.name], texts.get(p.name))
        except ValueError as e:
            problems.append(f"parameter {p.name!r}: {e}")
    if problems:
        raise InvalidInput(
            f"invalid parameters for {pipeline}: " + "; ".join(problems)
            + "\nvalid parameters:\n" + describe_schema(schema),
            problems=problems,
        )
    return out


def parse_pairs(pairs: list[tuple[str, str]] | None) -> tuple[dict[str, Any], dict[str, str]]:
    """``-p NAME VALUE`` pairs into (values parsed like papermill, raw texts)."""
    values, texts = {}, {}
    for name, text in pairs or []:
        values[name] = parse_literal(text)
        texts[name] = text
    return values, texts


def injectable(schema: list[Parameter], given: dict[str, Any]) -> dict[str, Any]:
    """The values papermill injects: the given ones (the cell keeps its own defaults)."""
    names = {p.name for p in schema}
    return {k: v for k, v in given.items() if k in names}
