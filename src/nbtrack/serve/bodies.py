"""Request bodies -> a DataFrame, and predictions -> JSON-safe lists.

Accepted bodies (by ``Content-Type``, or sniffed when it is missing):

- JSON ``{"records": [{"col": value, ...}, ...]}`` (one object per row);
- JSON ``{"columns": [...], "data": [[...], ...]}`` (split orientation);
  MLflow's ``dataframe_records`` / ``dataframe_split`` keys are accepted too;
- CSV (``text/csv``) with a header row;
- Parquet (``application/vnd.apache.parquet`` or ``application/x-parquet``).
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pandas as pd

PARQUET_TYPES = ("application/vnd.apache.parquet", "application/x-parquet", "application/parquet")


class BadBody(Exception):
    """The body cannot be read as rows (HTTP 400, or 415 for an unknown content type)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def read_frame(body: bytes, content_type: str | None) -> pd.DataFrame:
    """The rows of a request body as a DataFrame (columns as sent)."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    if not ctype:
        ctype = "application/vnd.apache.parquet" if body[:4] == b"PAR1" else "application/json"
    if ctype == "application/json" or ctype.endswith("+json"):
        return _json_frame(body)
    if ctype in ("text/csv", "application/csv"):
        try:
            return pd.read_csv(io.BytesIO(body))
        except Exception as e:
            raise BadBody(f"the CSV body cannot be read: {_first_line(e)}") from None
    if ctype in PARQUET_TYPES or (ctype == "application/octet-stream" and body[:4] == b"PAR1"):
        try:
            return pd.read_parquet(io.BytesIO(body))
        except Exception as e:
            raise BadBody(f"the parquet body cannot be read: {_first_line(e)}") from None
    raise BadBody(f"unsupported Content-Type {ctype!r}: send application/json, text/csv or "
                  "application/vnd.apache.parquet", status=415)


def _json_frame(body: bytes) -> pd.DataFrame:
    cols, n = read_json(body)
    return pd.DataFrame(cols, index=pd.RangeIndex(n)) if cols else pd.DataFrame(index=pd.RangeIndex(n))


def read_json(body: bytes) -> tuple[dict[str, list], int]:
    """A JSON body as ``({column: [values]}, rows)``: plain Python values, no pandas."""
    try:
        doc = json.loads(body)
    except ValueError as e:
        raise BadBody(f"the body is not valid JSON: {e}") from None
    if isinstance(doc, list):
        doc = {"records": doc}
    if not isinstance(doc, dict):
        raise BadBody(_SHAPES)
    records = doc.get("records", doc.get("dataframe_records"))
    if records is not None:
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise BadBody('"records" must be a list of objects, one per row: {"records": [{"age": 31}]}')
        names = list(dict.fromkeys(k for r in records for k in r))
        return {str(c): [r.get(c) for r in records] for c in names}, len(records)
    split = doc.get("dataframe_split", doc)
    if isinstance(split, dict) and "data" in split:
        cols, data = split.get("columns"), split["data"]
        if cols is None and isinstance(data, list) and data and isinstance(data[0], list):
            cols = [str(i) for i in range(len(data[0]))]
        if not isinstance(cols, list) or not isinstance(data, list) or not all(isinstance(r, list) for r in data):
            raise BadBody('"columns" must be a list of names and "data" a list of rows (lists)')
        bad = [i for i, r in enumerate(data) if len(r) != len(cols)]
        if bad:
            raise BadBody(f"rows {bad[:5]} of \"data\" do not have {len(cols)} values (one per column)")
        values = [list(c) for c in zip(*data)] if data else [[] for _ in cols]
        return {str(c): v for c, v in zip(cols, values)}, len(data)
    raise BadBody(_SHAPES)


_SHAPES = ('send {"records": [{"col": value, ...}, ...]} or {"columns": [...], "data": [[...], ...]} '
           "(or a CSV / parquet body)")


def _first_line(e: Exception) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0][:200]


def to_list(values: Any) -> list:
    """Predictions (numpy array, Series, list) as plain JSON-safe Python values."""
    if isinstance(values, (pd.Series, pd.DataFrame)):
        values = values.to_numpy()
    arr = np.asarray(values)
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        return [[_float(x) for x in row] if isinstance(row, list) else _float(row) for row in arr.tolist()]
    if arr.dtype.kind in "OUS":
        return [_plain(v) for v in arr.tolist()]
    return arr.tolist()


def _float(x: Any) -> Any:
    return x if x is None or np.isfinite(x) else None


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v if isinstance(v, (str, int, float, bool)) or v is None else str(v)
