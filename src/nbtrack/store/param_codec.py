"""How a param value is stored: text, a number for exact numeric filters, and its type.

Kept apart from :mod:`.runs` so that recording a run on SQLite (:mod:`.sqlite_direct`)
never imports SQLAlchemy.
"""

from __future__ import annotations

import json
import math
from typing import Any


def encode_param(value: Any) -> tuple[str | None, float | None, str]:
    """(text, number, type) of a param value; the number makes numeric filters exact."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy scalar
        value = value.item()
    if value is None:
        return None, None, "none"
    if isinstance(value, bool):
        return str(value), float(value), "bool"
    if isinstance(value, int):
        try:
            num = float(value)
        except OverflowError:  # 2**1279: kept exactly as text, no number for filters
            num = None
        return str(value), num, "int"
    if isinstance(value, float):
        return repr(value), (value if math.isfinite(value) else None), "float"
    if isinstance(value, str):
        return value, None, "str"
    try:
        return json.dumps(value, sort_keys=True, default=str), None, "json"
    except (TypeError, ValueError):
        return repr(value)[:1000], None, "repr"


def decode_param(text: str | None, vtype: str) -> Any:
    if vtype == "none" or text is None:
        return None
    if vtype == "bool":
        return text == "True"
    if vtype == "int":
        return int(text)
    if vtype == "float":
        return float(text)
    if vtype == "json":
        return json.loads(text)
    return text
