"""Check a request's rows against the model version's signature before predicting.

The schema comes from the signature recorded with the version (input names and
training dtypes) and, when the training dataset version is known, its manifest
statistics (which columns had missing values). :meth:`Schema.validate` returns
the frame coerced the way training saw it (ints where floats were trained,
category dtype for categoricals, parsed datetimes) or raises
:class:`InvalidRows` naming *every* problem at once: missing and unexpected
columns, wrong types (with the first offending rows) and missing values where
training had none.

Only pandas and numpy are imported here, so a deployment bundle can ship this
file without the rest of nbtrack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

MAX_ROWS_SHOWN = 5


class InvalidRows(Exception):
    """The rows do not fit the schema; ``problems`` lists each one (JSON-safe dicts)."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(p["message"] for p in problems))
        self.problems = problems


@dataclass
class Column:
    name: str
    dtype: str | None  # the training dtype as pandas prints it ('float64', 'category', ...), None: unknown
    nullable: bool = True

    @property
    def kind(self) -> str:
        d = (self.dtype or "").lower()
        if d.startswith(("float", "double")):
            return "float"
        if d.startswith(("int", "uint")):
            return "int"
        if d.startswith("bool"):
            return "bool"
        if d.startswith("category"):
            return "category"
        if d.startswith("datetime"):
            return "datetime"
        if d in ("object", "str", "string") or d.startswith("string"):
            return "str"
        return "any"


@dataclass
class Schema:
    """What a model version accepts: ordered columns, or only a number of features."""

    columns: list[Column] = field(default_factory=list)
    n_features: int | None = None

    @classmethod
    def from_signature(cls, signature: dict | None, nulls: dict[str, int] | None = None) -> Schema:
        """``nulls``: missing values per column in the training data (None: unknown, allow them)."""
        sig = signature or {}
        cols = [Column(str(c["name"]), c.get("dtype"),
                       nullable=True if nulls is None or c["name"] not in nulls else nulls[c["name"]] > 0)
                for c in (sig.get("inputs") or [])]
        return cls(cols, sig.get("n_features"))

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [{"name": c.name, "dtype": c.dtype, "nullable": c.nullable} for c in self.columns],
                "n_features": self.n_features}

    @classmethod
    def from_dict(cls, d: dict) -> Schema:
        return cls([Column(c["name"], c.get("dtype"), c.get("nullable", True)) for c in d.get("columns") or []],
                   d.get("n_features"))

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def validate(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The frame in training column order and dtypes, or :class:`InvalidRows`."""
        if not self.columns:
            return self._unnamed(frame)
        problems: list[dict[str, Any]] = []
        have = [str(c) for c in frame.columns]
        frame.columns = have
        missing = [c for c in self.names if c not in set(have)]
        extra = [c for c in have if c not in set(self.names)]
        for c in missing:
            problems.append(_problem(c, "missing", f"column {c!r} is missing"))
        for c in extra:
            problems.append(_problem(c, "unexpected", f"column {c!r} is not an input of this model"))
        out = {}
        for col in self.columns:
            if col.name in frame:
                out[col.name] = _coerce(frame[col.name], col, problems)
        if problems:
            raise InvalidRows(problems)
        return pd.DataFrame(out, index=frame.index, columns=self.names)

    @property
    def fast(self) -> bool:
        """Whether small JSON requests can be checked on plain Python values (:meth:`validate_columns`)."""
        return bool(self.columns) and all(c.kind in _PY_CHECKS for c in self.columns)

    def validate_columns(self, cols: dict[str, list], n: int) -> dict[str, list]:
        """:meth:`validate` for a few rows given as Python lists (a JSON body), without pandas.

        Returns the columns in schema order, values coerced (whole floats to ints);
        the problems and their messages are those of :meth:`validate`.
        """
        problems: list[dict[str, Any]] = []
        names = self.names
        for c in names:
            if c not in cols:
                problems.append(_problem(c, "missing", f"column {c!r} is missing"))
        known = set(names)
        for c in cols:
            if c not in known:
                problems.append(_problem(c, "unexpected", f"column {c!r} is not an input of this model"))
        out = {}
        for col in self.columns:
            values = cols.get(col.name)
            if values is None:
                continue
            check = _PY_CHECKS[col.kind]
            nulls, bad, fixed = [], [], values
            for i, v in enumerate(values):
                if v is None or (v.__class__ is float and v != v):
                    nulls.append(i)
                elif not check(v):
                    bad.append(i)
            if col.kind == "int" and not bad and any(v.__class__ is float for v in values):
                fixed = [None if v is None or v != v else int(v) for v in values]
            if nulls and not col.nullable:
                rows = nulls[:MAX_ROWS_SHOWN]
                problems.append(_problem(col.name, "null", f"column {col.name!r} has missing values in rows "
                                         f"{rows} but the training data had none", rows))
            if bad:
                rows, sample = bad[:MAX_ROWS_SHOWN], [values[i] for i in bad[:3]]
                problems.append(_problem(col.name, "dtype", f"column {col.name!r} must hold {_WHAT[col.kind]} "
                                         f"(trained as {col.dtype}); rows {rows} hold {sample}", rows))
            out[col.name] = fixed
        if problems:
            raise InvalidRows(problems)
        return out

    def frame(self, parts: list[dict[str, list]]) -> pd.DataFrame:
        """One DataFrame, in training dtypes, from the validated columns of several requests."""
        out = {}
        for col in self.columns:
            values = parts[0][col.name] if len(parts) == 1 else [v for p in parts for v in p[col.name]]
            out[col.name] = _build(values, col)
        return pd.DataFrame(out)

    def _unnamed(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.n_features is not None and frame.shape[1] != self.n_features:
            raise InvalidRows([_problem(None, "shape", f"this model takes {self.n_features} features per row, "
                                                       f"got {frame.shape[1]}")])
        return frame


def _problem(column: str | None, kind: str, message: str, rows: list[int] | None = None) -> dict[str, Any]:
    p: dict[str, Any] = {"column": column, "problem": kind, "message": message}
    if rows is not None:
        p["rows"] = rows
    return p


def _rows(mask: np.ndarray) -> list[int]:
    return [int(i) for i in np.flatnonzero(mask)[:MAX_ROWS_SHOWN]]


def _coerce(s: pd.Series, col: Column, problems: list[dict[str, Any]]) -> pd.Series:
    kind = col.kind
    isna = s.isna().to_numpy()
    if not col.nullable and isna.any():
        problems.append(_problem(col.name, "null", f"column {col.name!r} has missing values in rows "
                                 f"{_rows(isna)} but the training data had none", _rows(isna)))
    try:
        fixed, bad = _CONVERT.get(kind, _as_is)(s, isna)
    except (TypeError, ValueError, OverflowError):
        fixed, bad = s, ~isna
    if bad is not None and bad.any():
        sample = [_jsonable(v) for v in s.to_numpy()[bad][:3]]
        problems.append(_problem(col.name, "dtype", f"column {col.name!r} must hold {_WHAT[kind]} "
                                 f"(trained as {col.dtype}); rows {_rows(bad)} hold {sample}", _rows(bad)))
    return fixed


def _numeric(s: pd.Series, isna: np.ndarray) -> tuple[pd.Series, np.ndarray | None]:
    if s.dtype.kind in "iuf":
        return s, None
    if s.dtype.kind == "b":
        return s, ~isna
    values = s.to_numpy(dtype=object)
    ok = np.fromiter((isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
                      for v in values), bool, len(values))
    bad = ~ok & ~isna
    return (pd.to_numeric(s.where(ok), errors="coerce") if not bad.any() else s), bad


def _to_float(s: pd.Series, isna: np.ndarray):
    s, bad = _numeric(s, isna)
    if bad is not None and bad.any():
        return s, bad
    return s.astype("float64"), None


def _to_int(s: pd.Series, isna: np.ndarray):
    s, bad = _numeric(s, isna)
    if bad is not None and bad.any():
        return s, bad
    if s.dtype.kind == "f":
        v = s.to_numpy()
        frac = ~isna & (np.mod(np.where(isna, 0, v), 1) != 0)
        if frac.any():
            return s, frac
        if isna.any():  # reported as missing when training had none; keep floats otherwise
            return s, None
        return s.astype("int64"), None
    return s, None


def _to_bool(s: pd.Series, isna: np.ndarray):
    if s.dtype.kind == "b":
        return s, None
    values = s.to_numpy(dtype=object)
    bad = np.fromiter((not isinstance(v, (bool, np.bool_)) for v in values), bool, len(values)) & ~isna
    return s, bad


def _to_str(s: pd.Series, isna: np.ndarray):
    if pd.api.types.is_string_dtype(s.dtype) and s.dtype != object:
        return s, None
    values = s.to_numpy(dtype=object)
    bad = np.fromiter((not isinstance(v, str) for v in values), bool, len(values)) & ~isna
    return s, bad


def _to_category(s: pd.Series, isna: np.ndarray):
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s, None
    values = s.to_numpy(dtype=object)
    bad = np.fromiter((isinstance(v, (bool, dict, list)) for v in values), bool, len(values)) & ~isna
    return (s if bad.any() else s.astype("category")), bad


def _to_datetime(s: pd.Series, isna: np.ndarray):
    if s.dtype.kind == "M":
        return s, None
    parsed = pd.to_datetime(s, errors="coerce", utc=False, format="ISO8601")
    bad = parsed.isna().to_numpy() & ~isna
    return parsed, bad


def _as_is(s: pd.Series, isna: np.ndarray):
    return s, None


_CONVERT = {"float": _to_float, "int": _to_int, "bool": _to_bool, "str": _to_str, "category": _to_category,
            "datetime": _to_datetime}
_WHAT = {"float": "numbers", "int": "whole numbers", "bool": "true/false values", "str": "strings",
         "category": "category labels (strings or numbers)", "datetime": "ISO 8601 dates", "any": "values"}


_PY_CHECKS = {
    "float": lambda v: v.__class__ in (int, float),
    "int": lambda v: v.__class__ is int or (v.__class__ is float and v.is_integer()),
    "bool": lambda v: v.__class__ is bool,
    "str": lambda v: v.__class__ is str,
    "category": lambda v: v.__class__ in (str, int, float),
    "any": lambda v: True,
}


def _build(values: list, col: Column) -> Any:
    kind = col.kind
    if kind == "float":
        return np.array([np.nan if v is None else v for v in values], dtype="float64")
    if kind == "int":
        if any(v is None for v in values):
            return np.array([np.nan if v is None else v for v in values], dtype="float64")
        return np.array(values, dtype="int64")
    if kind == "bool" and not any(v is None for v in values):
        return np.array(values, dtype=bool)
    if kind == "category":
        return pd.Categorical(values)
    return pd.array(values) if kind == "str" else values


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.generic,)):
        return v.item()
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)
