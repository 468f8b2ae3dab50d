"""A fast content fingerprint of a DataFrame: what makes re-snapshots almost free.

The fingerprint hashes the memory that holds the values (numpy buffers, Arrow
buffers with their offset and length, masks, categorical codes and categories)
with xxh3-128, plus every column's name and dtype. It is a *process-local*
cache key, never stored: two frames with the same fingerprint hold the same
values, so a snapshot computed for one is valid for the other. Object columns
hold pointers, not values, so they are hashed through their Arrow conversion
(``id()`` and pointers are never trusted).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xxhash


def _update_arrow(h: xxhash.xxh3_128, arr: Any) -> None:
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        h.update(b"chunked%d" % arr.num_chunks)
        for chunk in arr.chunks:
            _update_arrow(h, chunk)
        return
    h.update(f"{arr.type}|{arr.offset}|{len(arr)}|{arr.null_count}".encode())
    for buf in arr.buffers():
        if buf is None:
            h.update(b"-")
        else:
            h.update(memoryview(buf))
    if isinstance(arr, pa.DictionaryArray):
        _update_arrow(h, arr.dictionary)


def _update_numpy(h: xxhash.xxh3_128, a: np.ndarray) -> None:
    h.update(f"{a.dtype.str}|{a.shape}".encode())
    if a.dtype.kind == "O":
        raise TypeError("object arrays are hashed by value")
    h.update(np.ascontiguousarray(a).view(np.uint8).data)


def buffers(values: Any) -> list[Any] | None:
    """The memory pandas keeps ``values`` in (numpy arrays or one Arrow array), or None.

    Read from pandas' private fields (``_pa_array`` of Arrow-backed arrays, ``_data`` and
    ``_mask`` of masked ones, ``_ndarray`` of numpy-backed ones): hashing them is ~100x
    faster than converting the values. If pandas renames them, this returns None and the
    values are hashed through Arrow: slower, never wrong (tests/test_upstream.py notices).
    """
    pa_array = getattr(values, "_pa_array", None)  # ArrowExtensionArray / ArrowStringArray
    if pa_array is not None:
        return [pa_array]
    data, mask = getattr(values, "_data", None), getattr(values, "_mask", None)  # masked (Int64, boolean...)
    if isinstance(data, np.ndarray) and isinstance(mask, np.ndarray):
        return [data, mask]
    nd = getattr(values, "_ndarray", values)  # numpy-backed, datetime, timedelta
    if isinstance(nd, np.ndarray) and nd.dtype.kind != "O":
        return [nd]
    return None


def _update_values(h: xxhash.xxh3_128, values: Any) -> None:
    """Hash one column's (or index level's) values."""
    import pandas as pd
    import pyarrow as pa

    h.update(str(getattr(values, "dtype", type(values))).encode())
    if isinstance(values, pd.Categorical):
        h.update(b"ordered" if values.ordered else b"unordered")
        _update_numpy(h, values.codes)
        _update_values(h, values.categories.array)
        return
    native = buffers(values)
    if native is not None:
        for buf in native:
            (_update_numpy if isinstance(buf, np.ndarray) else _update_arrow)(h, buf)
        return
    # object columns and anything unusual: hash the values through Arrow, or through their exact
    # text encoding when Arrow would change them (mixed types, dicts, tuples: see snapshot.columns)
    from .columns import needs_codec
    from .values import encode_column

    arr = np.asarray(values, dtype=object)
    if needs_codec(arr):
        h.update(b"json")
        for text in encode_column(arr):
            h.update(text.encode())
            h.update(b"\0")
        return
    _update_arrow(h, pa.array(arr, from_pandas=True))
    h.update(repr([type(v).__name__ for v in _null_sentinels(values)]).encode())


def _null_sentinels(values: Any) -> list:
    """The kind of missing value an object column uses (None vs NaN): part of exactness."""
    import pandas as pd

    arr = np.asarray(values, dtype=object)
    isna = pd.isna(arr)
    return [arr[isna.argmax()]] if isna.any() else []


def fingerprint(obj: Any) -> str:
    """xxh3-128 of a DataFrame's or Series' structure and values (hex).

    Parameters
    ----------
    obj : pandas.DataFrame or pandas.Series

    Returns
    -------
    str
        32 hex characters; equal for frames with equal values, names and dtypes.
    """
    import pandas as pd

    h = xxhash.xxh3_128()
    if isinstance(obj, pd.Series):
        h.update(b"series|" + repr(obj.name).encode())
        columns: list[tuple[Any, Any]] = [(obj.name, obj.array)]
    else:
        h.update(b"frame|" + repr(list(obj.columns)).encode() + repr(obj.columns.names).encode())
        columns = [(name, obj.iloc[:, i].array) for i, name in enumerate(obj.columns)]
    h.update(f"{len(obj)}".encode())
    _update_index(h, obj.index)
    for name, values in columns:
        h.update(b"col|" + repr(name).encode())
        _update_values(h, values)
    return h.hexdigest()


def _update_index(h: xxhash.xxh3_128, index: Any) -> None:
    import pandas as pd

    h.update(b"index|" + repr(list(index.names)).encode() + type(index).__name__.encode())
    if isinstance(index, pd.RangeIndex):
        h.update(f"{index.start}:{index.stop}:{index.step}".encode())
        return
    if isinstance(index, pd.MultiIndex):
        for i in range(index.nlevels):
            _update_values(h, index.get_level_values(i).array)
        return
    _update_values(h, index.array)
