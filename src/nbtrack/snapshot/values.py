"""An exact, safe text encoding of Python values that Arrow cannot store as they are.

Object columns of mixed types, dicts (``cv_results_["params"]``), tuples, lists,
sets, time-zone-mixed timestamps, numpy scalars, decimals, complex numbers...
are stored one JSON text per value. Plain JSON values stand for themselves
except dicts; every other type is a one-key object ``{"$tag": payload}``, so
nothing is ambiguous and nothing is ever unpickled. ``encode_column`` checks that
each value decodes back to an equal value of the same type (same ``repr``) and
raises :class:`Unencodable` naming the row otherwise: a value is stored exactly
or refused, never changed.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np


class Unencodable(ValueError):
    """A value has no exact encoding; ``.position`` is its row, ``.value`` the value."""

    def __init__(self, value: Any, position: int | None = None) -> None:
        super().__init__(f"{type(value).__module__}.{type(value).__qualname__}")
        self.value, self.position = value, position


def _tz_name(tz: Any) -> str | float | None:
    """A zone name (zoneinfo, pytz) or a fixed offset in seconds (``datetime.timezone``)."""
    if tz is None:
        return None
    if type(tz) is dt.timezone:
        return tz.utcoffset(None).total_seconds()
    key = getattr(tz, "key", None) or getattr(tz, "zone", None)
    if isinstance(key, str) and key:
        return key
    raise Unencodable(tz)


def _tz(name: str | float | None) -> Any:
    if name is None:
        return None
    if isinstance(name, (int, float)):
        return dt.timezone(dt.timedelta(seconds=name))
    import zoneinfo

    return zoneinfo.ZoneInfo(name)


def to_json(v: Any) -> Any:
    """A JSON-able form of ``v`` (tagged where needed); Unencodable for unknown types."""
    t = type(v)
    if v is None or t is bool or t is int or t is str:
        return v
    if t is float:
        return v if math.isfinite(v) else {"$f": repr(v)}
    if t is list:
        return [to_json(x) for x in v]
    if t is tuple:
        return {"$t": [to_json(x) for x in v]}
    if t is dict:
        return {"$d": [[to_json(k), to_json(x)] for k, x in v.items()]}
    if t is set or t is frozenset:
        return {"$set" if t is set else "$fset": [to_json(x) for x in v]}
    if t is bytes:
        return {"$b": base64.b64encode(v).decode()}
    if t is complex:
        return {"$c": [to_json(v.real), to_json(v.imag)]}
    if t is decimal.Decimal:
        return {"$dec": str(v)}
    if isinstance(v, np.generic) and t.__module__ == "numpy":
        if v.dtype.kind in "mM":
            return {"$np": [v.dtype.str, int(v.view("int64"))]}
        if v.dtype.kind in "biufcU":
            return {"$np": [v.dtype.str, to_json(v.item())]}
        raise Unencodable(v)
    return _pandas_or_datetime(v, t)


def _pandas_or_datetime(v: Any, t: type) -> Any:
    import pandas as pd

    if t is pd.Timestamp:
        return {"$ts": [int(v.as_unit("ns")._value), v.unit, _tz_name(v.tz)]}
    if t is pd.Timedelta:
        return {"$ptd": [int(v.as_unit("ns")._value), v.unit]}
    if v is pd.NaT:
        return {"$nat": 0}
    if v is pd.NA:
        return {"$na": 0}
    if t is pd.Interval:
        return {"$iv": [to_json(v.left), to_json(v.right), v.closed]}
    if t is pd.Period:
        return {"$per": [v.ordinal, v.freqstr]}
    if t is dt.datetime:
        return {"$dt": [v.replace(tzinfo=None).isoformat(), _tz_name(v.tzinfo), v.fold]}
    if t is dt.date:
        return {"$date": v.isoformat()}
    if t is dt.time and v.tzinfo is None:
        return {"$time": v.isoformat()}
    if t is dt.timedelta:
        return {"$td": [v.days, v.seconds, v.microseconds]}
    raise Unencodable(v)


def from_json(j: Any) -> Any:
    if j is None or isinstance(j, (bool, int, str, float)):
        return j
    if isinstance(j, list):
        return [from_json(x) for x in j]
    (tag, p), = j.items()
    return _DECODE[tag](p)


def _decode_np(p: list) -> Any:
    dtype = np.dtype(p[0])
    if dtype.kind in "mM":
        return np.array(p[1], dtype="int64").view(dtype)[()]
    return dtype.type(from_json(p[1]))


def _decode_ts(p: list) -> Any:
    import pandas as pd

    ts = pd.Timestamp(p[0], unit="ns", tz=None if p[2] is None else "UTC")
    return (ts if p[2] is None else ts.tz_convert(_tz(p[2]))).as_unit(p[1])


def _decode_pd(kind: str, p: Any) -> Any:
    import pandas as pd

    if kind == "ptd":
        return pd.Timedelta(p[0], unit="ns").as_unit(p[1])
    if kind == "iv":
        return pd.Interval(from_json(p[0]), from_json(p[1]), closed=p[2])
    if kind == "per":
        return pd.Period(ordinal=p[0], freq=p[1])
    return pd.NaT if kind == "nat" else pd.NA


def _decode_dt(p: list) -> dt.datetime:
    return dt.datetime.fromisoformat(p[0]).replace(tzinfo=_tz(p[1]), fold=p[2])


_DECODE: dict[str, Callable[[Any], Any]] = {
    "$f": float, "$t": lambda p: tuple(from_json(x) for x in p),
    "$d": lambda p: {from_json(k): from_json(x) for k, x in p},
    "$set": lambda p: {from_json(x) for x in p}, "$fset": lambda p: frozenset(from_json(x) for x in p),
    "$b": base64.b64decode, "$c": lambda p: complex(from_json(p[0]), from_json(p[1])),
    "$dec": decimal.Decimal, "$np": _decode_np, "$ts": _decode_ts,
    "$ptd": lambda p: _decode_pd("ptd", p), "$nat": lambda p: _decode_pd("nat", p),
    "$na": lambda p: _decode_pd("na", p), "$iv": lambda p: _decode_pd("iv", p),
    "$per": lambda p: _decode_pd("per", p), "$dt": _decode_dt, "$date": dt.date.fromisoformat,
    "$time": dt.time.fromisoformat, "$td": lambda p: dt.timedelta(p[0], p[1], p[2]),
}


def encode(v: Any) -> str:
    return json.dumps(to_json(v), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def decode(s: str | None) -> Any:
    return None if s is None else from_json(json.loads(s))


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and repr(a) == repr(b)


def encode_column(values: Any) -> list[str]:
    """One text per value; Unencodable (with the row position) when a value has no exact form."""
    out = []
    for i, v in enumerate(values):
        try:
            s = encode(v)
            ok = _same(decode(s), v)
        except Unencodable as e:
            raise Unencodable(e.value, i) from None
        except (TypeError, ValueError, OverflowError, KeyError):
            ok = False
        if not ok:
            raise Unencodable(v, i)
        out.append(s)
    return out


def decode_column(texts: Any) -> list:
    return [decode(s) for s in texts]
