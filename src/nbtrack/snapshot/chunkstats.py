"""Exact-over-all-rows statistics of number columns, combined from per-chunk partials.

Each chunk contributes ``(n, mean, M2, min, max)`` of its non-null values (numpy, one pass
for the extremes and two for the moments); partials are combined with Chan's parallel
formula, so a frame's ``mean`` and ``std`` follow from its chunks and an edited frame
recomputes only the chunks whose rows changed (partials are remembered by chunk
fingerprint, see :mod:`.chunkprint`). Integers keep exact ``min``/``max``.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import pyarrow as pa

MEMO_SIZE = 1 << 16
Partial = tuple[int, float, float, Any, Any]  # n, mean, M2, min, max
_memo: OrderedDict[tuple[str, int], Partial] = OrderedDict()
_lock = threading.Lock()


def numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def partial(col: pa.ChunkedArray) -> Partial:
    """The partial statistics of one column range."""
    out: Partial = (0, 0.0, 0.0, None, None)
    for piece in col.chunks:
        if piece.null_count:
            piece = piece.drop_null()
        if not len(piece):
            continue
        a = piece.to_numpy(zero_copy_only=False)
        with np.errstate(all="ignore"):  # infinities: mean/std are None, as with Arrow's kernels
            f = a.astype(np.float64, copy=False)
            mean = float(f.mean())
            d = f - mean
            np.multiply(d, d, out=d)  # (not np.dot: BLAS threads would fight the snapshot pool's)
            out = combine([out, (len(a), mean, float(d.sum()), a.min(), a.max())])
    return out


def combine(parts: list[Partial]) -> Partial:
    with np.errstate(all="ignore"):
        return _combine(parts)


def _combine(parts: list[Partial]) -> Partial:
    n, mean, m2, lo, hi = 0, 0.0, 0.0, None, None
    for pn, pmean, pm2, plo, phi in parts:
        if not pn:
            continue
        if not n:
            n, mean, m2, lo, hi = pn, pmean, pm2, plo, phi
            continue
        total = n + pn
        delta = pmean - mean
        mean = mean + delta * pn / total
        m2 = m2 + pm2 + delta * delta * n * pn / total
        n = total
        lo, hi = min(lo, plo), max(hi, phi)
    return n, mean, m2, lo, hi


def chunk_partials(table: pa.Table, start: int, rows: int, columns: list[int], fp: str) -> dict[int, Partial]:
    """Partials of ``columns`` over rows ``[start, start + rows)``; remembered under ``fp`` if given."""
    out = {}
    part = table.slice(start, rows) if columns else table
    for i in columns:
        key = (fp, i)
        hit = None
        if fp:
            with _lock:
                hit = _memo.get(key)
        if hit is None:
            hit = partial(part.column(i))
            if fp:
                with _lock:
                    _memo[key] = hit
                    while len(_memo) > MEMO_SIZE:
                        _memo.popitem(last=False)
        out[i] = hit
    return out


def known(fp: str, columns: list[int]) -> dict[int, Partial] | None:
    """The remembered partials of ``columns`` for chunk ``fp``, or None if any is missing."""
    out: dict[int, Partial] = {}
    with _lock:
        for i in columns:
            hit = _memo.get((fp, i))
            if hit is None:
                return None
            out[i] = hit
    return out


def exact(parts: list[Partial]) -> dict[str, Any]:
    """``min``, ``max``, ``mean``, ``std`` (ddof=1) of the combined partials (JSON-safe)."""
    from .stats import _num

    n, mean, m2, lo, hi = combine(parts)
    if not n:
        return {}
    finite = math.isfinite(mean) and math.isfinite(m2)
    return {"min": _num(lo), "max": _num(hi), "mean": _num(mean) if finite else None,
            "std": _num(math.sqrt(m2 / (n - 1))) if n > 1 and finite else None}


def clear() -> None:
    with _lock:
        _memo.clear()
