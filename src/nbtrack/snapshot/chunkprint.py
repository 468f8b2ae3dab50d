"""Row-range fingerprints of an Arrow table, and the memo that turns them into stored chunks.

A frame is cut into row chunks (see :mod:`.frames`); re-encoding a chunk to parquet and
naming it by BLAKE3 costs far more than reading its memory once. :func:`chunk_fingerprint`
hashes the raw buffers of one row range with xxh3-128 (~10 GB/s) *before* any encoding:
fixed-width values byte for byte (zero-copy slices of the column buffers), strings and
binaries as their lengths plus their bytes, validity as one byte per row (only for
columns that have nulls in the range), dictionaries by their values. Everything else goes
through Arrow IPC of the range (exact for every type, just slower). The stream fed to the
hash does not depend on how Arrow happens to split a column into pieces, so the same rows
give the same fingerprint whatever edits produced them.

:class:`ChunkMemo` maps such a fingerprint (within one object store) to the stored
chunk's object id and size. A hit is adopted only after the store confirms the object
(``ObjectStore.refresh``: present, right size, not marked damaged, age refreshed so
``gc`` keeps it), so an edited frame re-encodes only the chunks whose rows changed.
The memo is process-local (never stored), bounded, and a miss is always safe: the chunk
is encoded as before.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import xxhash

from ..store.objects import check_oid, hash_bytes

MEMO_SIZE = 1 << 16  # chunk entries kept per process (~200 bytes each)


def _fixed_width(t: pa.DataType) -> int | None:
    """Bits per value of a fixed-width type, or None."""
    if pa.types.is_dictionary(t) or pa.types.is_nested(t):
        return None
    try:
        return int(t.bit_width)
    except ValueError:
        return None


def _varwidth_kind(t: pa.DataType) -> Any:
    if pa.types.is_large_string(t) or pa.types.is_large_binary(t):
        return np.int64
    if pa.types.is_string(t) or pa.types.is_binary(t):
        return np.int32
    return None


def _validity(h: Any, col: pa.ChunkedArray) -> None:
    """Which rows are null, split-independent (one byte per row; nothing when none are)."""
    if col.null_count == 0:
        h.update(b"V0")
        return
    h.update(b"V1")
    for piece in col.chunks:
        if len(piece):
            h.update(np.ascontiguousarray(piece.is_valid().to_numpy(zero_copy_only=False), dtype=np.uint8).data)


def _fixed(h: Any, col: pa.ChunkedArray, bits: int) -> None:
    if bits == 0:  # the null type: no values, validity says it all
        return
    for piece in col.chunks:
        n = len(piece)
        if not n:
            continue
        data = piece.buffers()[1]
        if bits == 1 or bits % 8:  # booleans: bits at any offset -> one byte per value
            values = pa.Array.from_buffers(pa.bool_(), n, [None, data], 0, piece.offset)
            h.update(np.ascontiguousarray(values.to_numpy(zero_copy_only=False), dtype=np.uint8).data)
            continue
        width = bits // 8
        h.update(memoryview(data)[piece.offset * width:(piece.offset + n) * width])


def _varwidth(h: Any, col: pa.ChunkedArray, itemsize: Any) -> None:
    lengths, payload = xxhash.xxh3_128(), xxhash.xxh3_128()
    for piece in col.chunks:
        n = len(piece)
        if not n:
            continue
        bufs = piece.buffers()
        offs = np.frombuffer(bufs[1], dtype=itemsize, count=n + 1, offset=piece.offset * np.dtype(itemsize).itemsize)
        lengths.update(np.diff(offs).data)
        if bufs[2] is not None and offs[-1] > offs[0]:
            payload.update(memoryview(bufs[2])[int(offs[0]):int(offs[-1])])
    h.update(lengths.digest() + payload.digest())


def _dictionary(h: Any, col: pa.ChunkedArray) -> bool:
    """Indices plus the dictionary; False when pieces carry different dictionaries."""
    pieces = [p for p in col.chunks if len(p)]
    if not pieces:
        return True
    first = pieces[0].dictionary
    if any(p.dictionary is not first and not p.dictionary.equals(first) for p in pieces[1:]):
        return False
    h.update(_ipc(pa.chunked_array([first])))
    _fixed(h, pa.chunked_array([p.indices for p in pieces], type=col.type.index_type),
           col.type.index_type.bit_width)
    return True


def _ipc(col: pa.ChunkedArray) -> bytes:
    """Exact bytes of any column range (compacted by the IPC writer)."""
    batch = pa.RecordBatch.from_arrays([col.combine_chunks()], ["c"])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as w:
        w.write_batch(batch)
    return sink.getvalue().to_pybytes()


def column_range(h: Any, col: pa.ChunkedArray) -> None:
    """Feed one column's rows (already sliced to the range) into ``h``."""
    t = col.type
    h.update(b"|col%d|" % len(col))
    bits = _fixed_width(t)
    if bits is not None:
        _validity(h, col)
        _fixed(h, col, bits)
        return
    itemsize = _varwidth_kind(t)
    if itemsize is not None:
        _validity(h, col)
        _varwidth(h, col, itemsize)
        return
    if pa.types.is_dictionary(t):
        _validity(h, col)
        if _dictionary(h, col):
            return
    h.update(b"ipc")
    h.update(_ipc(col))


def table_key(table: pa.Table, salt: bytes = b"") -> bytes:
    """What every chunk fingerprint of ``table`` starts with: its schema and ``salt``
    (the encoding's parameters: different parameters give different bytes)."""
    return xxhash.xxh3_128(table.schema.serialize().to_pybytes() + b"|" + salt + b"|" +
                           pa.__version__.encode()).digest()


def chunk_fingerprint(table: pa.Table, start: int, rows: int, key: bytes) -> str:
    """xxh3-128 (hex) of rows ``[start, start + rows)`` of ``table`` under ``key``
    (:func:`table_key`): equal for equal rows of equal schemas, whatever the pieces."""
    h = xxhash.xxh3_128(key)
    h.update(b"rows%d" % rows)
    part = table.slice(start, rows)
    for col in part.columns:
        column_range(h, col)
    return h.hexdigest()


class ChunkMemo:
    """Chunk fingerprint -> (object id, stored size) of one object store, checked on use."""

    def __init__(self, store_url: str, adopt: Callable[[str, int], bool]) -> None:
        self.store_url = store_url
        self.adopt = adopt  # True if the object is stored with that size (and refreshed)

    def get(self, fp: str) -> tuple[str, int] | None:
        key = (self.store_url, fp)
        with _lock:
            hit = _memo.get(key)
            if hit is not None:
                _memo.move_to_end(key)
        if hit is None:
            return None
        if not self.adopt(*hit):
            with _lock:
                _memo.pop(key, None)
            return None
        return hit

    def put(self, fp: str, oid: str, size: int) -> None:
        with _lock:
            _memo[(self.store_url, fp)] = (oid, size)
            _memo.move_to_end((self.store_url, fp))
            while len(_memo) > MEMO_SIZE:
                _memo.popitem(last=False)


_memo: OrderedDict[tuple[str, str], tuple[str, int]] = OrderedDict()
_lock = threading.Lock()


def chunk_reader(objects: Any) -> Callable[[str], Any]:
    """``get(oid)`` for reading chunks back: from a local plain store, each object is
    memory-mapped and checked against its name (BLAKE3) without being copied into a
    ``bytes`` first (parquet decodes straight from the mapped pages); anything else, or a
    missing or damaged object, goes through ``objects.get`` (which reports and marks it)."""
    if not objects.local or objects.encrypted:
        return objects.get

    def read(oid: str) -> Any:
        try:
            with pa.memory_map(objects.path(check_oid(oid))) as f:
                buf = f.read_buffer()
        except (OSError, pa.ArrowException):
            return objects.get(oid)
        if hash_bytes(buf) != oid:
            return objects.get(oid)
        return buf

    return read


def clear() -> None:
    """Forget every chunk (what a new kernel starts with)."""
    with _lock:
        _memo.clear()


def _new_lock_in_child() -> None:
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)
