"""Search spaces for tuned sweeps: bounds from the command line, types from the parameters cell.

``-p NAME SPEC`` where SPEC is

* ``log:1e-3..1e2``  a log-uniform range (float; int when the parameter is an int),
* ``int:2..12``      integers (``int:2..12:2`` with a step; ``int:log:1..1024``),
* ``float:0..1`` or ``0..1``  a uniform float range (``0..1:0.1`` with a step),
* ``choice:rbf,linear`` or ``rbf,linear``  categories,
* a single value (``3``, ``l2``)  a fixed value, the same for every trial.

Values are checked against the approved schema before any trial starts: a range on a
``str`` parameter, floats for an ``int`` one or an unknown name is one line, exit code 2.
Nothing here imports Optuna; :mod:`nbtrack.pipeline.tuning` turns a :class:`Dimension`
into an Optuna distribution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInput
from .parameters import Parameter, parse_literal, validate

KINDS = ("float", "int", "choice", "fixed")


@dataclass(frozen=True)
class Dimension:
    """One searched (or fixed) parameter."""

    name: str
    kind: str  # float | int | choice | fixed
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple = field(default_factory=tuple)  # choice: the values; fixed: (value,)
    spec: str = ""  # as given, e.g. "log:1e-3..1e2"

    @property
    def searched(self) -> bool:
        return self.kind != "fixed"


def _bad(name: str, spec: str, why: str, example: str) -> InvalidInput:
    return InvalidInput(f"-p {name} {spec!r}: {why}; e.g. -p {name} {example}")


def _number(name: str, spec: str, text: str, integer: bool, example: str) -> float:
    value = parse_literal(text.strip())
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad(name, spec, f"{text.strip() or '(empty)'!r} is not a number", example)
    if integer and not float(value).is_integer():
        raise _bad(name, spec, f"{text.strip()!r} is not an integer", example)
    return float(value)


def _range(name: str, spec: str, body: str, kind: str, log: bool) -> Dimension:
    integer = kind == "int"
    example = ("int:2..12" if integer else "log:1e-3..1e2" if log else "0..1")
    parts = body.split(":")
    if len(parts) > 2 or ".." not in parts[0]:
        raise _bad(name, spec, "expected LOW..HIGH", example)
    lo_text, _, hi_text = parts[0].partition("..")
    low = _number(name, spec, lo_text, integer, example)
    high = _number(name, spec, hi_text, integer, example)
    step = _number(name, spec, parts[1], integer, example) if len(parts) == 2 else None
    if not low < high:
        raise _bad(name, spec, f"the low bound {low:g} must be below the high bound {high:g}", example)
    if log and low <= 0:
        raise _bad(name, spec, "a log range needs bounds above 0", example)
    if step is not None and (step <= 0 or log):
        raise _bad(name, spec, "a step must be above 0 and cannot go with log", example)
    return Dimension(name, kind, low, high, log, step, spec=spec)


def parse_dimension(name: str, spec: str, param: Parameter | None = None) -> Dimension:
    """One ``-p NAME SPEC`` into a :class:`Dimension` (typed by ``param`` when known)."""
    text = str(spec).strip()
    if not text:
        raise _bad(name, spec, "empty value", "log:1e-3..1e2")
    ptype = param.type if param is not None else None
    prefix, sep, body = text.partition(":")
    prefix = prefix.lower() if sep else ""
    if prefix == "log":
        if body.lower().startswith("int:"):
            return _range(name, text, body[4:], "int", True)
        return _range(name, text, body, "int" if ptype == "int" else "float", True)
    if prefix == "int":
        log = body.lower().startswith("log:")
        return _range(name, text, body[4:] if log else body, "int", log)
    if prefix == "float":
        return _range(name, text, body, "float", False)
    if prefix in ("choice", "choices", "cat"):
        items = [t.strip() for t in body.split(",")]
        if not all(items):
            raise _bad(name, spec, "give comma-separated choices", "choice:rbf,linear")
        return Dimension(name, "choice", choices=tuple(items), spec=text)
    if ".." in text and ptype not in ("str", "list", "dict"):
        return _range(name, text, text, "int" if ptype == "int" else "float", False)
    if "," in text and ptype not in ("list", "dict"):
        items = [t.strip() for t in text.split(",")]
        if not all(items):
            raise _bad(name, spec, "give comma-separated choices", "choice:rbf,linear")
        return Dimension(name, "choice", choices=tuple(items), spec=text)
    return Dimension(name, "fixed", choices=(text,), spec=text)


def _typed(dim: Dimension, schema: list[Parameter], pipeline: str) -> Dimension:
    """Choices and fixed values coerced like ``-p`` values; ranges checked against the type."""
    param = _param(dim.name, dim.spec, schema, pipeline)
    if dim.kind in ("float", "int"):
        if param.type not in (None, "int", "float"):
            raise InvalidInput(f"-p {dim.name} {dim.spec!r}: {dim.name} is a {param.type} parameter, a range needs "
                               f"int or float; e.g. -p {dim.name} choice:a,b")
        if param.type == "int" and dim.kind == "float":
            raise InvalidInput(f"-p {dim.name} {dim.spec!r}: {dim.name} is an int parameter; e.g. "
                               f"-p {dim.name} int:{dim.low:g}..{dim.high:g}")
        return dim
    values = []
    for text in dim.choices:
        try:
            values.append(validate([param], {param.name: parse_literal(text)}, {param.name: text},
                                   pipeline=pipeline)[param.name])
        except InvalidInput as e:
            problems: Any = e.fields.get("problems") or [str(e)]
            raise InvalidInput(f"-p {dim.name} {dim.spec!r}: {problems[0]}") from None
    if dim.kind == "choice" and any(not isinstance(v, (type(None), bool, int, float, str)) for v in values):
        raise InvalidInput(f"-p {dim.name} {dim.spec!r}: choices must be numbers, text, True/False or None")
    return Dimension(dim.name, dim.kind, choices=tuple(values), spec=dim.spec)


def parse_space(pairs: list[tuple[str, Any]], schema: list[Parameter], pipeline: str = "the pipeline",
                ) -> list[Dimension]:
    """``-p NAME SPEC`` pairs (or a ``{name: spec}`` dict's items) into typed dimensions.

    A spec may also be a Python value: a ``list``/``tuple`` of choices, or a
    ``Dimension`` itself. At least one dimension must be searched.
    """
    dims: dict[str, Dimension] = {}
    by_name = {p.name: p for p in schema}
    for name, spec in pairs:
        if name in dims:
            raise InvalidInput(f"-p {name} is given twice; give one range or choice list per parameter")
        if isinstance(spec, Dimension):
            dim = spec
        elif isinstance(spec, (list, tuple)):
            dim = Dimension(name, "choice", choices=tuple(spec), spec=",".join(map(str, spec)))
            if len(spec) == 0:
                raise InvalidInput(f"parameter {name!r}: an empty list of choices")
            dims[name] = _typed_values(dim, by_name, schema, pipeline)
            continue
        else:
            dim = parse_dimension(name, str(spec), by_name.get(name))
        dims[name] = _typed(dim, schema, pipeline)
    if not any(d.searched for d in dims.values()):
        raise InvalidInput("a tuned sweep needs at least one range or choice, e.g. -p C log:1e-3..1e2 "
                           "-p max_depth int:2..12 -p kernel choice:rbf,linear")
    return list(dims.values())


def _param(name: str, spec: str, schema: list[Parameter], pipeline: str) -> Parameter:
    param = next((p for p in schema if p.name == name), None)
    if param is None:
        valid = ", ".join(p.name for p in schema) or "none"
        raise InvalidInput(f"-p {name} {spec!r}: {pipeline} has no parameter {name!r} (its parameters: {valid})")
    return param


def _typed_values(dim: Dimension, by_name: dict, schema: list[Parameter], pipeline: str) -> Dimension:
    """Python choices (not texts): checked and coerced by the schema like any given value."""
    param = _param(dim.name, dim.spec, schema, pipeline)
    values = tuple(validate([param], {param.name: v}, pipeline=pipeline)[param.name] for v in dim.choices)
    return Dimension(dim.name, "choice", choices=values, spec=dim.spec)


def describe(dims: list[Dimension]) -> dict[str, str]:
    """``{name: spec}``: the space as the sweep run's params."""
    return {d.name: d.spec for d in dims}
