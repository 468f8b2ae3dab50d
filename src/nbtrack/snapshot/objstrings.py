"""Row-block digests of object columns of ``str``: an edit re-reads only the blocks whose objects changed.

An object column holds pointers to Python strings, and a ``str`` never changes once made.
So a block of rows whose pointers are exactly those of a block seen before holds the very
same strings, *provided those objects are still the ones at those addresses*: this module
keeps a copy of every block it digested (an object array: a strong reference to each
string), so no string it remembers can be freed and its address reused. A block whose
pointer bytes equal the remembered copy's is the same strings, and its digest (and UTF-8
size) is reused without converting anything; any other block is checked (every value
exactly ``str``), converted to Arrow as the whole-frame path converts it, and hashed like an
Arrow string column (:func:`.chunkprint.column_range`).

Blocks are ``frames.MIN_CHUNK_ROWS`` rows, which divides every chunk size, so a chunk's
digest is the hash of its blocks' digests. Memory: the remembered copies (8 bytes a row)
are dropped with the array they came from (a ``weakref.finalize`` on its base array), and
at most :data:`MAX_ROWS` rows are remembered in all (the oldest arrays' blocks go first);
the strings they keep alive are otherwise shared with the live column.
"""

from __future__ import annotations

import ctypes
import os
import threading
import weakref
from collections import OrderedDict
from typing import Any

import numpy as np
import pyarrow as pa
import xxhash

from .chunkprint import column_range

MAX_ROWS = 1 << 25  # rows remembered across all arrays (8 bytes each, plus the strings they pin)


class NotStrings(Exception):
    """A block holds something other than exactly ``str`` (or cannot be converted)."""


_groups: OrderedDict[int, dict[tuple[int, int], tuple[bytes, Any, bytes, int]]] = OrderedDict()
_rows = 0
_lock = threading.Lock()


def _base(arr: np.ndarray) -> np.ndarray:
    while isinstance(arr.base, np.ndarray):
        arr = arr.base
    return arr


def _forget(key: int) -> None:
    global _rows
    with _lock:
        group = _groups.pop(key, None)
        if group:
            _rows -= sum(len(e[1]) for e in group.values())


def blocks(arr: np.ndarray, block: int) -> tuple[list[bytes], list[int]]:
    """(digest, UTF-8 bytes) of each ``block`` rows of the object array ``arr`` (NotStrings if not all str)."""
    if arr.ndim != 1 or arr.dtype != object:
        raise NotStrings("not a 1-D object array")
    n = len(arr)
    contiguous = arr.flags.c_contiguous
    base = _base(arr)
    key = id(base)
    group = None
    if contiguous:
        with _lock:
            group = _groups.get(key)
            if group is None:
                try:
                    weakref.finalize(base, _forget, key)
                except TypeError:
                    group = None
                else:
                    group = _groups[key] = {}
            else:
                _groups.move_to_end(key)
    digests, sizes = [], []
    start_addr, width = (arr.ctypes.data if n else 0), arr.itemsize
    for s in range(0, n, block):
        rows = min(block, n - s)
        part = arr[s:s + rows]
        where = (start_addr + s * width, rows)
        ptrs = ctypes.string_at(where[0], rows * width) if group is not None else None
        found = group.get(where) if group is not None else None
        if found is not None and found[0] == ptrs:  # the same objects (alive: the copy holds them)
            digests.append(found[2])
            sizes.append(found[3])
            continue
        copy = part.copy()  # (holds every string of the block from here on)
        digest, size = _digest(copy)
        if group is not None:
            _remember(key, group, where, (ctypes.string_at(copy.ctypes.data, rows * width), copy, digest, size), ptrs)
        digests.append(digest)
        sizes.append(size)
    return digests, sizes


def _remember(key: int, group: dict, where: tuple[int, int], entry: tuple, ptrs: bytes | None) -> None:
    global _rows
    if entry[0] != ptrs:  # (the array changed while it was read: not remembered)
        return
    with _lock:
        if _groups.get(key) is not group:  # (dropped meanwhile: its array is gone, or memory ran out)
            return
        old = group.get(where)
        _rows += len(entry[1]) - (len(old[1]) if old else 0)
        group[where] = entry
        while _rows > MAX_ROWS and _groups:
            _key, dropped = _groups.popitem(last=False)
            _rows -= sum(len(e[1]) for e in dropped.values())


def _digest(copy: np.ndarray) -> tuple[bytes, int]:
    if set(map(type, copy)) != {str}:  # (None, NaN, bytes, other objects, str subclasses)
        raise NotStrings("not only str")
    try:
        col = pa.array(copy, type=pa.string(), from_pandas=True)
    except (pa.ArrowException, ValueError, TypeError) as e:  # (e.g. lone surrogates)
        raise NotStrings(str(e)) from None
    chunked = col if isinstance(col, pa.ChunkedArray) else pa.chunked_array([col])
    h = xxhash.xxh3_128()
    column_range(h, chunked)
    size = 0  # (the UTF-8 bytes the rows reference: what Arrow's nbytes counts besides the offsets)
    for c in chunked.chunks:
        if len(c):
            offs = np.frombuffer(c.buffers()[1], dtype=np.int32, count=len(c) + 1, offset=c.offset * 4)
            size += int(offs[-1]) - int(offs[0])
    return h.digest(), size


def chunk_digest(digests: list[bytes], start: int, rows: int, block: int) -> bytes:
    """The digest of rows ``[start, start + rows)`` from its blocks' (``start`` is a multiple of ``block``)."""
    first, last = start // block, -(-(start + rows) // block)
    return xxhash.xxh3_128(b"objstr%d|" % rows + b"".join(digests[first:last])).digest()


def clear() -> None:
    """Forget every remembered block (what a new kernel starts with)."""
    global _rows
    with _lock:
        _groups.clear()
        _rows = 0


def _new_lock_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread of the parent may have held it at fork time


os.register_at_fork(after_in_child=_new_lock_in_child)
