"""Columns, index levels and labels Arrow/parquet cannot carry exactly, made storable.

:func:`prepare` returns a shallow copy of a frame in which

* categoricals whose categories are not strings (``pd.cut(..., labels=[1, 2, 3])``,
  intervals, dates, periods...) become their integer codes, the categories kept in
  the manifest (parquet can only restore string dictionaries);
* sparse columns become dense, their dtype (with the fill value) kept;
* object columns of mixed types, containers (dicts, tuples, lists), tz-mixed
  timestamps, numpy scalars... and complex columns become exact JSON texts
  (:mod:`.values`);
* index levels get the same treatment; non-string column labels, index names and
  column-index names that pandas metadata would turn into strings are kept exactly;

plus the spec that :func:`restore` uses to undo all of it after decoding. What has
no exact form raises :class:`~nbtrack.errors.InvalidInput` naming the column (or
index level), the row and the type.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from collections.abc import Callable

import numpy as np

from ..errors import InvalidInput
from . import values as codec

_NATIVE = {str, bytes, bool, int, float, dt.date}
_INT64 = (-(2**63), 2**63 - 1)

Inline = Callable[[Any], dict]  # Series -> small self-contained encoding (categories)
Outline = Callable[[dict], Any]  # the inverse


def _object_array(items: list) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    for i, v in enumerate(items):
        out[i] = v
    return out


def needs_codec(arr: np.ndarray) -> bool:
    """Whether an object array would change through Arrow (mixed types, containers, two kinds of null...)."""
    import pandas as pd

    every = set(map(type, arr))  # one pass settles the common case: one type, None for missing
    one = every - {type(None)}
    if len(one) <= 1 and one <= _NATIVE - {float, int}:
        return False
    isna = pd.isna(arr)
    types = set(map(type, arr[~isna]))
    if len(types) > 1 or not types <= _NATIVE:
        return True
    if int in types:  # Arrow gives ints with nulls back as floats
        ints = arr[~isna]
        if isna.any() or min(ints) < _INT64[0] or max(ints) > _INT64[1]:
            return True
    nulls = {type(v) for v in arr[isna]}
    return len(nulls) > 1 or not nulls <= {type(None), float}


def _string_categories(cats: Any) -> bool:
    import pandas as pd

    if cats.dtype == object:
        return pd.api.types.infer_dtype(cats, skipna=False) in ("string", "empty")
    return pd.api.types.is_string_dtype(cats.dtype)


def transform(values: Any, inline: Inline) -> tuple[Any, dict] | None:
    """(storable values, spec) for one column or index level; None when Arrow stores it exactly."""
    import pandas as pd

    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        if _string_categories(dtype.categories):
            return None
        # the categories as the index of an empty frame: an index keeps its dtype and freq
        return (np.asarray(values.codes), {"kind": "categorical", "ordered": bool(dtype.ordered),
                                           "categories": inline(pd.DataFrame(index=dtype.categories))})
    if isinstance(dtype, pd.SparseDtype):
        return np.asarray(values), {"kind": "sparse", "dtype": str(dtype)}
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "python":  # Arrow's metadata says "string" only
        return values, {"kind": "string", "storage": "python", "na": "NA" if dtype.na_value is pd.NA else "nan"}
    if isinstance(dtype, pd.ArrowDtype) and not _parses(str(dtype)):
        # pandas cannot rebuild this dtype from its name in Arrow's metadata: the decoder
        # rebuilds the column from its Arrow data instead (see frames.decode)
        return values, {"kind": "arrow"}
    if getattr(dtype, "kind", None) == "c" or (pd.api.types.is_object_dtype(dtype)
                                               and needs_codec(np.asarray(values, dtype=object))):
        return _object_array(codec.encode_column(np.asarray(values, dtype=object))), {"kind": "json",
                                                                                       "dtype": str(dtype)}
    return None


def _parses(name: str) -> bool:
    import pandas as pd

    try:
        pd.api.types.pandas_dtype(name)
        return True
    except (TypeError, ValueError, NotImplementedError):
        return False


def untransform(stored: Any, spec: dict, outline: Outline) -> Any:
    import pandas as pd

    kind = spec["kind"]
    if kind == "categorical":
        cats = outline(spec["categories"]).index
        codes = np.asarray(stored).astype(np.int64)
        return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(cats, ordered=spec["ordered"]))
    if kind == "sparse":
        return pd.array(np.asarray(stored)).astype(pd.api.types.pandas_dtype(spec["dtype"]))
    if kind == "arrow":
        return stored
    if kind == "string":
        return pd.array(stored).astype(pd.StringDtype("python", na_value=pd.NA if spec["na"] == "NA" else np.nan))
    decoded = _object_array(codec.decode_column(list(stored)))
    return decoded if spec["dtype"] == "object" else decoded.astype(spec["dtype"])


# -- whole frames --------------------------------------------------------------------------
def _refuse(where: str, e: codec.Unencodable, labels: Any) -> InvalidInput:
    row = labels[e.position] if e.position is not None and e.position < len(labels) else e.position
    return InvalidInput(f"{where} holds a {e} value (row {row!r}) that cannot be stored exactly; "
                        "convert it (e.g. .astype(str)) or drop it before snapshotting")


def _exact_name(v: Any) -> bool:
    return v is None or type(v) is str


def prepare(frame: Any, inline: Inline) -> tuple[Any, dict]:
    """(a storable shallow copy of ``frame``, the spec to restore it); see the module docstring."""
    import pandas as pd

    spec: dict[str, Any] = {}
    out = frame
    cols: dict[str, dict] = {}
    for i in range(frame.shape[1]):
        col = frame.iloc[:, i]
        try:
            t = transform(col.array, inline)
        except codec.Unencodable as e:
            raise _refuse(f"column {frame.columns[i]!r}", e, frame.index) from None
        except InvalidInput as e:
            raise InvalidInput(f"column {frame.columns[i]!r}: {e}") from None
        if t is not None:
            if out is frame:
                out = frame.copy(deep=False)
            out.isetitem(i, t[0])
            cols[str(i)] = t[1]
    if cols:
        spec["columns"] = cols
    index, levels = frame.index, {}
    arrays = [index.get_level_values(k) for k in range(index.nlevels)]
    for k, level in enumerate(arrays):
        try:
            t = transform(level.array, inline)
        except codec.Unencodable as e:
            where = "the index" if index.nlevels == 1 else f"index level {k} ({index.names[k]!r})"
            raise _refuse(where, e, range(len(index))) from None
        if t is not None:
            arrays[k] = pd.Index(t[0], dtype=object if t[1]["kind"] == "json" else None)
            levels[str(k)] = t[1]
    names = list(index.names)
    odd_names = not all(_exact_name(n) for n in names)
    if levels or odd_names:
        if out is frame:
            out = frame.copy(deep=False)
        new_names = [None if odd_names else n for n in names]
        out.index = (pd.MultiIndex.from_arrays(arrays, names=new_names) if index.nlevels > 1
                     else pd.Index(arrays[0], name=new_names[0]) if levels else index.rename(new_names[0]))
        if levels:
            spec["index"] = levels
        if odd_names:
            spec["index_names"] = [codec.encode(n) for n in names]
    labels = _labels(frame.columns)
    if labels is not None:
        if out is frame:
            out = frame.copy(deep=False)
        strs = [str(c) for c in frame.columns]
        out.columns = strs if len(set(strs)) == len(strs) else [f"{i}:{s}" for i, s in enumerate(strs)]
        spec["labels"] = labels
    return out, spec


def _labels(columns: Any) -> dict | None:
    """How to rebuild column labels Arrow would turn into strings (None: Arrow keeps them)."""
    import pandas as pd

    if isinstance(columns, pd.MultiIndex):
        if all(pd.api.types.infer_dtype(level, skipna=False) in ("string", "empty") for level in columns.levels) and \
                all(_exact_name(n) for n in columns.names):
            return None
        try:
            return {"tuples": codec.encode_column(_object_array(list(columns))),
                    "names": [codec.encode(n) for n in columns.names]}
        except (codec.Unencodable, TypeError, ValueError) as e:
            raise InvalidInput(f"column labels of type {e} cannot be stored exactly; rename the columns") from None
    if isinstance(columns, pd.RangeIndex) and columns.name is None:
        return {"range": [columns.start, columns.stop, columns.step]}
    if all(type(c) is str for c in columns) and _exact_name(columns.name):
        return None
    try:
        return {"values": codec.encode_column(np.asarray(columns, dtype=object)), "dtype": str(columns.dtype),
                "name": codec.encode(columns.name), **({"range": [columns.start, columns.stop, columns.step]}
                                                       if isinstance(columns, pd.RangeIndex) else {})}
    except (codec.Unencodable, TypeError, ValueError) as e:
        raise InvalidInput(f"column labels of type {e} cannot be stored exactly; rename the columns") from None


def restore(frame: Any, spec: dict, outline: Outline) -> Any:
    """Undo :func:`prepare` on a decoded frame (in place where possible); returns the frame."""
    import pandas as pd

    for pos, s in spec.get("columns", {}).items():
        i = int(pos)
        values = untransform(frame.iloc[:, i].array, s, outline)
        frame.isetitem(i, pd.Series(values, index=frame.index, dtype=_object_or_none(values)))
    index = frame.index
    if spec.get("index"):
        arrays = [index.get_level_values(k) for k in range(index.nlevels)]
        for pos, s in spec["index"].items():
            values = untransform(arrays[int(pos)].array, s, outline)
            arrays[int(pos)] = pd.Index(values, dtype=_object_or_none(values))
        frame.index = (pd.MultiIndex.from_arrays(arrays, names=index.names) if index.nlevels > 1
                       else pd.Index(arrays[0], name=index.name))
    if spec.get("index_names"):
        frame.index = frame.index.set_names([codec.decode(n) for n in spec["index_names"]])
    labels = spec.get("labels")
    if labels is not None:
        frame.columns = _rebuild_labels(labels, pd)
    return frame


def _object_or_none(values: Any) -> Any:
    """Object arrays stay object (pandas would infer ``str`` from an all-text object array)."""
    return object if isinstance(values, np.ndarray) and values.dtype == object else None


def _rebuild_labels(labels: dict, pd: Any) -> Any:
    if "tuples" in labels:
        return pd.MultiIndex.from_tuples(codec.decode_column(labels["tuples"]),
                                         names=[codec.decode(n) for n in labels["names"]])
    name = codec.decode(labels["name"]) if "name" in labels else None
    if "range" in labels:
        return pd.RangeIndex(*labels["range"], name=name)
    vals = _object_array(codec.decode_column(labels["values"]))
    return pd.Index(vals, dtype=labels["dtype"] if labels["dtype"] != "object" else object, name=name)

