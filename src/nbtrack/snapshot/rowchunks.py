"""Frames fingerprinted and encoded chunk by chunk from pandas' own buffers (edits cost what they change).

For a frame whose every column (and index) keeps its values in plain memory (numpy numbers,
booleans and datetimes, tz-aware datetimes, masked ``Int64``/``boolean``..., Arrow-backed
``str``, categoricals of strings), :func:`plan` hashes each row range of each column with
xxh3-128 straight from those buffers, before any conversion: numpy values byte for byte
(zero-copy slices), masked arrays as values plus mask, Arrow arrays as in :mod:`.chunkprint`,
categoricals as their codes (their categories are part of the frame's structure key). What
does not depend on the values (the Arrow schema, pandas' metadata, which the frame's
``dtypes``, labels and index determine) comes from converting zero rows, and is hashed into a
structure key. A chunk's fingerprint covers the key, its row count and its columns' digests, so
equal fingerprints mean equal raw bytes under equal dtypes: the same rows.

:func:`encode` then converts to Arrow and encodes only the chunks the chunk memo does not
already know (a hit is checked in the store, see :class:`.chunkprint.ChunkMemo`), reuses the
number partials of unchanged chunks (:mod:`.chunkstats`) and the statistics of unchanged
columns (a column's fingerprint is the hash of its chunk digests), and builds the same
manifest as :func:`.frames.encode` (the tests compare them). The frame's fingerprint (the
snapshot cache key) is derived from the chunk fingerprints: one pass over the memory in all.

Object columns holding only ``str`` values are digested by row blocks (:mod:`.objstrings`: a
block whose string objects are the ones seen before is not read again; others are converted
to Arrow as the whole-frame path converts them and hashed like Arrow strings). Anything else (other object columns,
Python-storage strings, sparse, Arrow dtypes other than ``str``, non-string labels,
MultiIndex, frames of fewer than two minimal chunks...) gets ``None`` from :func:`plan` and
takes :func:`.frames.encode`, as before.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import xxhash

from ..store.objects import hash_bytes
from . import chunkstats, columns, frames, objstrings
from .chunkprint import ChunkMemo, column_range
from .fingerprint import buffers
from .stats import SAMPLE_ROWS, number_stats, one_column

VERSION = b"nbtrack.rowchunks/1"
# convert the whole frame at once when at least this share of its chunks changed (a first snapshot)
WHOLE_SHARE = 0.5
STATS_MEMO_SIZE = 4096


class _Ineligible(Exception):
    pass


class Mismatch(RuntimeError):
    """The frame's rows convert to another Arrow schema than its dtypes predicted (the caller
    encodes the whole frame instead)."""


@dataclass
class Plan:
    """A frame cut into row chunks, each fingerprinted from its raw buffers."""

    frame: Any  # the frame as stored (a Series as a one-column frame)
    original: Any
    kind: str
    series_name: Any
    schema: pa.Schema  # of the stored table (no metadata)
    pandas_meta: dict[str, Any]
    objects: dict[str, Any]
    rows: int  # rows per chunk
    bounds: list[tuple[int, int]]
    chunk_fps: list[str]
    column_fps: list[str]  # per Arrow column (index columns included)
    fingerprint: str  # the frame's content key (the snapshot cache key)


# -- which columns qualify, and their raw buffers ------------------------------------------
def _source(values: Any, objects: bool = False) -> tuple[str, Any, bytes]:
    """(kind, buffers, structure bytes) of one column's or index's values; _Ineligible otherwise.

    With ``objects``, an object column qualifies too ("objstr"): :func:`plan` digests it by row
    blocks, and it must hold only ``str`` values (exactly that type, no nulls)."""
    import pandas as pd

    dtype = values.dtype
    if isinstance(dtype, pd.core.dtypes.dtypes.NumpyEADtype):  # a numpy column's .array
        dtype = dtype.numpy_dtype
    if objects and isinstance(dtype, np.dtype) and dtype == object:  # (digested by block in plan())
        return "objstr", np.asarray(values, dtype=object), b"object|str"
    if isinstance(dtype, pd.CategoricalDtype):
        cats = dtype.categories
        if not len(cats) or not columns._string_categories(cats) or cats.dtype == object:
            raise _Ineligible
        native = buffers(cats.array)
        if native is None or len(native) != 1 or isinstance(native[0], np.ndarray):
            raise _Ineligible
        h = xxhash.xxh3_128()
        column_range(h, native[0] if isinstance(native[0], pa.ChunkedArray) else pa.chunked_array([native[0]]))
        key = b"cat|%s|%s|%s" % (repr(dtype.ordered).encode(), str(cats.dtype).encode(), h.digest())
        return "np", [np.asarray(values.codes)], key
    if isinstance(dtype, np.dtype):
        if dtype.kind not in "biufmM" or dtype.itemsize < 1 or dtype == np.float16:
            raise _Ineligible
    elif isinstance(dtype, pd.StringDtype):
        if dtype.storage != "pyarrow":
            raise _Ineligible
    elif not isinstance(dtype, (pd.DatetimeTZDtype, pd.core.dtypes.dtypes.BaseMaskedDtype)):
        raise _Ineligible
    native = buffers(values)
    if native is None:
        raise _Ineligible
    key = b"%s|%s|%s" % (type(dtype).__name__.encode(), repr(dtype).encode(),
                         repr(getattr(dtype, "na_value", None)).encode())
    if len(native) == 1 and not isinstance(native[0], np.ndarray):
        arr = native[0]
        return "arrow", arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr]), key
    for a in native:
        if a.ndim != 1 or a.dtype.kind not in "biufmM":
            raise _Ineligible
    return "np", native, key


def _digest(kind: str, data: Any, start: int, rows: int) -> bytes:
    if kind == "objstr":  # (data: the block digests, their UTF-8 sizes and the block rows)
        return objstrings.chunk_digest(data[0], start, rows, data[2])
    h = xxhash.xxh3_128()
    if kind == "arrow":
        column_range(h, data.slice(start, rows))
        return h.digest()
    for a in data:
        part = a[start:start + rows]
        if not part.flags.c_contiguous:  # a strided view (e.g. a frame built from a 2-D array)
            part = np.ascontiguousarray(part)
        h.update(part.view(np.uint8).data)
    return h.digest()


def _storable_or_none(frame: Any) -> bool:
    """Whether Arrow keeps every column, label and index name exactly (nothing for .columns to encode)."""
    import pandas as pd

    if isinstance(frame.columns, pd.MultiIndex) or columns._labels(frame.columns) is not None:
        return False
    if not frame.columns.is_unique or not columns._exact_name(frame.columns.name):
        return False
    idx = frame.index
    return not isinstance(idx, pd.MultiIndex) and columns._exact_name(idx.name)


def plan(obj: Any, previous_rows: int | None = None) -> Plan | None:
    """The chunked plan of ``obj``, or None when it does not qualify (see the module docstring)."""
    import pandas as pd

    try:
        frame, kind, series_name = frames.as_frame(obj)
    except Exception:
        return None
    # a frame of one or two chunks gains nothing from chunk reuse: the whole-frame path is cheaper
    if len(frame) < 2 * frames.MIN_CHUNK_ROWS or not frame.shape[1] or not _storable_or_none(frame):
        return None
    strs = [i for i in range(frame.shape[1]) if frame.dtypes.iloc[i] == object]
    try:
        sources = [_source(frame.iloc[:, i].array, objects=True) for i in range(frame.shape[1])]
        if not isinstance(frame.index, pd.RangeIndex):
            sources.append(_source(frame.index.array))
        # the structure: what zero rows convert to (columns.prepare must have nothing to do); with
        # object columns of strings, what one row converts to (zero rows of objects convert to nulls)
        _stored, objects, empty = frames._storable(frame.iloc[:1 if strs else 0], nthreads=1)
    except Exception:  # (_Ineligible, or anything unusual: the whole-frame path says what is wrong)
        return None
    plain = {str(i): None for i in strs}  # (object columns without nulls, as _object_info says)
    if "encoded" in objects or objects.get("columns") != plain or objects.get("index_levels") or \
            empty.num_columns != len(sources):
        return None
    block = frames.MIN_CHUNK_ROWS
    for j, (kind_, data, key) in enumerate(sources):
        if kind_ == "objstr":  # object strings: digests of row blocks, unchanged blocks not read again
            try:
                block_digests, sizes = objstrings.blocks(data, block)
            except objstrings.NotStrings:
                return None
            sources[j] = (kind_, (block_digests, sizes, block), key)
    # (an index frequency is read from the whole frame; object columns of str only have no nulls:
    # their sentinels are known without scanning them again)
    objects = frames._object_info(frame.iloc[:, [i for i in range(frame.shape[1]) if i not in strs]]
                                  if strs else frame)
    objects["columns"] = plain
    meta = json.loads(empty.schema.metadata[b"pandas"])
    # chunks do not hold a RangeIndex: its bounds are part of the frame's key, not of its chunks'
    rows_key = json.dumps(meta, sort_keys=True).encode()
    for idx in meta.get("index_columns") or []:
        if isinstance(idx, dict) and idx.get("kind") == "range":
            r = frame.index
            idx.update(start=r.start, stop=r.stop, step=r.step)
    schema = empty.schema.remove_metadata()
    n = len(frame)
    per_row = sum(_bytes_per_row(kind_, data, n) for kind_, data, _key in sources)
    rows = frames.rows_per_chunk(per_row, n, previous_rows)
    if strs and rows % block:  # (object strings are digested by blocks that must divide the chunks)
        return None
    bounds = [(s, min(rows, n - s)) for s in range(0, n, rows)]
    structure = _key([VERSION, frames.ENCODING.encode(), pa.__version__.encode(), pd.__version__.encode(),
                      kind.encode(), repr(series_name).encode(), type(series_name).__name__.encode(),
                      schema.serialize().to_pybytes(), rows_key, json.dumps(objects, sort_keys=True).encode(),
                      *(key for _k, _d, key in sources)])
    # hashing releases the GIL: the chunks are hashed in the snapshot pool's threads
    digests = list(frames._pool(frames.THREADS).map(
        lambda b: [_digest(k, d, b[0], b[1]) for k, d, _key in sources], bounds))
    chunk_fps = [xxhash.xxh3_128(structure + b"rows%d" % r + b"".join(ds)).hexdigest()
                 for (_s, r), ds in zip(bounds, digests)]
    column_fps = [xxhash.xxh3_128(structure + b"col%d|%d|%d" % (i, n, rows) +
                                  b"".join(ds[i] for ds in digests)).hexdigest() for i in range(len(sources))]
    fp = xxhash.xxh3_128(structure + b"frame%d|%d|" % (n, rows) + json.dumps(meta, sort_keys=True).encode() +
                         "".join(chunk_fps).encode()).hexdigest()
    return Plan(frame, obj, kind, series_name, schema, meta, objects, rows, bounds, chunk_fps, column_fps, fp)


def _key(parts: list[bytes]) -> bytes:
    """xxh3-128 of ``parts``, each prefixed by its length (no two lists give the same stream)."""
    h = xxhash.xxh3_128()
    for part in parts:
        h.update(b"%d:" % len(part))
        h.update(part)
    return h.digest()


def _bytes_per_row(kind: str, data: Any, n: int) -> float:
    if kind == "objstr":  # as Arrow's string type holds them: int32 offsets plus the UTF-8 bytes
        return (4 * (n + 1) + sum(data[1])) / max(1, n)
    if kind == "arrow":
        return data.nbytes / max(1, n)
    # as Arrow holds them: booleans and masks as bits
    return float(sum(0.125 if a.dtype == bool else a.dtype.itemsize for a in data))


# -- encoding --------------------------------------------------------------------------------
def encode(p: Plan, put: Callable[[str, bytes], None], name: Callable[[bytes], str] = hash_bytes,
           memo: ChunkMemo | None = None, threads: int = frames.THREADS) -> frames.Encoded:
    """Store the chunks of ``p`` that ``memo`` does not know and build the manifest
    (the same as :func:`.frames.encode` gives for the frame)."""
    numbers = [i for i, f in enumerate(p.schema) if chunkstats.numeric(f.type)]
    keys = ["p:" + fp for fp in p.chunk_fps]
    chunks: list[tuple[str, int, int] | None] = [None] * len(p.bounds)
    partials: list[dict[int, chunkstats.Partial] | None] = [None] * len(p.bounds)
    todo = []
    for k, (_s, rows) in enumerate(p.bounds):
        hit = memo.get(keys[k]) if memo is not None else None
        known = chunkstats.known(keys[k], numbers)
        if hit is not None and known is not None:
            chunks[k], partials[k] = (hit[0], rows, hit[1]), known
        else:
            todo.append(k)
    pool = frames._pool(threads)
    whole = frames.to_arrow(p.frame).replace_schema_metadata(None) \
        if todo and len(todo) >= WHOLE_SHARE * len(p.bounds) else None
    if whole is not None and not whole.schema.equals(p.schema):
        raise Mismatch("the frame's Arrow schema is not the one its dtypes predict")

    def write(k: int) -> tuple[tuple[str, int, int], dict[int, chunkstats.Partial]]:
        start, rows = p.bounds[k]
        if whole is not None:
            table = whole.slice(start, rows)
        else:
            table = frames.to_arrow(p.frame.iloc[start:start + rows], nthreads=1).replace_schema_metadata(None)
            if not table.schema.equals(p.schema):
                raise Mismatch("a chunk's Arrow schema is not the one the frame's dtypes predict")
        parts = chunkstats.chunk_partials(table, 0, rows, numbers, keys[k])
        data = frames.encode_chunk(table)
        oid = name(data)
        put(oid, data)
        if memo is not None:
            memo.put(keys[k], oid, len(data))
        return (oid, rows, len(data)), parts

    for k, (c, parts) in zip(todo, pool.map(write, todo)):
        chunks[k], partials[k] = c, parts
    done = [c for c in chunks if c is not None]
    stats = _stats(p, whole, numbers, [x for x in partials if x is not None], pool)
    return frames.finish(p.frame, p.original, p.kind, p.series_name, p.objects, p.schema, p.pandas_meta,
                         p.rows, done, stats)


def _stats(p: Plan, whole: pa.Table | None, numbers: list[int], partials: list[dict[int, chunkstats.Partial]],
           pool: Any) -> dict[str, Any]:
    """Statistics per column: remembered by column fingerprint, else computed (numbers from partials)."""
    n = len(p.frame)
    step = max(1, math.ceil(n / SAMPLE_ROWS))
    out: dict[str, Any] = {}
    jobs = {}
    names = p.schema.names
    for i, fp in enumerate(p.column_fps):
        with _lock:
            hit = _stats_memo.get(fp)
        if hit is not None:
            out[names[i]] = hit
            continue
        jobs[i] = pool.submit(_column_stats, p, whole, i, step, numbers, partials)
    for i, job in jobs.items():
        s = job.result()
        out[names[i]] = s
        with _lock:
            _stats_memo[p.column_fps[i]] = s
            while len(_stats_memo) > STATS_MEMO_SIZE:
                _stats_memo.popitem(last=False)
    return {name: out[name] for name in names}


def _column(p: Plan, whole: pa.Table | None, i: int) -> pa.ChunkedArray:
    if whole is not None:
        return whole.column(i)
    field = p.schema.field(i)
    if i < p.frame.shape[1]:
        part = p.frame.iloc[:, [i]]
        col = frames.to_arrow(part.reset_index(drop=True)).column(0)
    else:  # the index
        col = pa.chunked_array([pa.array(p.frame.index, type=field.type, from_pandas=True)])
    if not col.type.equals(field.type):
        raise Mismatch(f"column {field.name!r} converts to {col.type}, not {field.type}")
    return col


def _column_stats(p: Plan, whole: pa.Table | None, i: int, step: int, numbers: list[int],
                  partials: list[dict[int, chunkstats.Partial]]) -> dict[str, Any]:
    n = len(p.frame)
    take = pa.array(np.arange(0, n, step)) if step > 1 else None
    if i in numbers and whole is None:
        # count, min, max, mean and std from the chunks' partials; the sample from the column's rows
        exact = chunkstats.exact([x[i] for x in partials])
        count = chunkstats.combine([x[i] for x in partials])[0]
        values = p.frame.iloc[:, i] if i < p.frame.shape[1] else p.frame.index.to_series()
        sample = pa.chunked_array([pa.array(values.iloc[::step], type=p.schema.field(i).type, from_pandas=True)])
        try:
            s = {"count": count, "nulls": n - count, **number_stats(sample, exact, count)}
        except Exception as e:
            s = {"count": count, "nulls": n - count, "error": str(e)[:200]}
        if step > 1:
            s["sample_every"] = step
        return s
    col = _column(p, whole, i)
    if i in numbers:
        exact = chunkstats.exact([x[i] for x in partials])
        table = pa.table([col], names=["c"])
        sample = table.take(take) if take is not None else table
        return one_column(table, sample, step, 0, exact)
    table = pa.table([col], names=["c"])
    sample = table.take(take) if take is not None else table
    return one_column(table, sample, step, 0)


_stats_memo: OrderedDict[str, dict[str, Any]] = OrderedDict()
_lock = threading.Lock()


def clear() -> None:
    """Forget remembered column statistics and object-string blocks (what a new kernel starts with)."""
    with _lock:
        _stats_memo.clear()
    objstrings.clear()


def _new_lock_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread of the parent may have held it at fork time


os.register_at_fork(after_in_child=_new_lock_in_child)


