"""DataFrame <-> chunked parquet objects plus a JSON manifest.

A frame is converted to Arrow once and cut into row chunks of a power-of-two
number of rows (about ``CHUNK_BYTES`` each, and the same row count as the
dataset's previous version when that is still reasonable, so unchanged regions
give identical chunks). Each chunk is written as parquet with no varying
metadata: equal rows give equal bytes, hence equal object ids, so unchanged
chunks are stored once across versions and datasets. Chunks are encoded in
parallel threads (pyarrow releases the GIL).

The manifest (``nbtrack.frame/1``) holds the Arrow schema, the pandas metadata
that restores dtypes and the index exactly, the chunk ids and row counts, and
the summary statistics of :mod:`nbtrack.snapshot.stats`. What Arrow cannot carry
exactly (categoricals of non-string categories, sparse columns, object columns of
mixed types or containers, non-string labels and names) is made storable by
:mod:`.columns` first; such manifests say ``nbtrack.frame/2`` and keep the spec
that undoes it under ``objects.encoded``, so an older reader refuses them rather
than returning something different. What has no exact form is refused.
"""

from __future__ import annotations

import base64
import json
import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InvalidInput
from ..store.objects import hash_bytes
from . import chunkstats, columns
from . import values as codec
from .chunkprint import ChunkMemo, chunk_fingerprint, table_key
from .stats import categorical_stats, one_column, sample_table

FORMAT = "nbtrack.frame/1"
FORMAT2 = "nbtrack.frame/2"  # with objects.encoded or an exact series name: see the module docstring
CHUNK_BYTES = 8 << 20
MIN_CHUNK_ROWS = 8192  # below this, per-file overhead outweighs finer deduplication
MIN_CHUNKS = 64
COMPRESSION = "snappy"
# A small dictionary page limit: low-cardinality columns stay dictionary-encoded, the
# others fall back to plain encoding after a few thousand values instead of paying for
# a dictionary they cannot use (2-3x faster on chunk-sized tables).
DICTIONARY_PAGE_LIMIT = 32 << 10
# what a chunk's bytes depend on besides its rows and schema (part of every chunk fingerprint)
ENCODING = f"nbtrack.chunk/1|{COMPRESSION}|{DICTIONARY_PAGE_LIMIT}"
THREADS = max(1, min(4, os.cpu_count() or 1))
_NESTED = (pa.types.is_list, pa.types.is_large_list, pa.types.is_struct, pa.types.is_map, pa.types.is_union,
           pa.types.is_fixed_size_list)


@dataclass
class Encoded:
    """The result of encoding one frame: what a dataset version row needs."""

    manifest: dict[str, Any]
    manifest_bytes: bytes
    chunks: list[tuple[str, int, int]]  # (oid, rows, stored bytes)
    fingerprint: str  # content id: same rows, schema and index -> same value
    nbytes: int  # stored bytes of all chunks
    manifest_oid: str = ""  # set once the manifest is stored


# -- pandas -> Arrow ---------------------------------------------------------------------
def as_frame(obj: Any) -> tuple[Any, str, Any]:
    """(frame, kind, series name) for a DataFrame or Series; InvalidInput otherwise."""
    import pandas as pd

    if isinstance(obj, pd.Series):
        return obj.to_frame(name="__series__"), "series", obj.name
    if isinstance(obj, pd.DataFrame):
        return obj, "frame", None
    raise InvalidInput(f"cannot snapshot a {type(obj).__name__} as a dataset: pass a pandas DataFrame or Series")


def to_arrow(frame: Any, nthreads: int | None = None) -> pa.Table:
    """Convert with pyarrow; unsupported columns raise InvalidInput naming the column
    (``nthreads=1``: no conversion threads, for callers already running in parallel)."""
    if not frame.columns.is_unique:
        dup = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise InvalidInput(f"duplicate column names {dup}: rename them before snapshotting")
    try:
        with warnings.catch_warnings():  # pyarrow reads tz-aware .values, deprecated in pandas 3.1
            warnings.filterwarnings("ignore", message=".*drops timezone information")
            table = pa.Table.from_pandas(frame, preserve_index=None, nthreads=nthreads)
    except (pa.ArrowException, ValueError, TypeError) as e:
        raise InvalidInput(_bad_column_message(frame, e)) from None
    for i, field in enumerate(table.schema):
        if i < frame.shape[1] and frame.dtypes.iloc[i] == object and any(is_(field.type) for is_ in _NESTED):
            name = frame.columns[i] if i < frame.shape[1] else field.name
            raise InvalidInput(
                f"column {name!r} holds Python objects ({field.type}) that cannot be stored exactly; "
                "convert it to numbers or strings first, or drop it from the snapshot"
            )
    return table


def _bad_column_message(frame: Any, e: Exception) -> str:
    for name in frame.columns:
        col = frame[name]
        if col.dtype != object and not hasattr(col.dtype, "kind"):
            continue
        try:
            pa.array(col, from_pandas=True)
        except Exception as ce:
            kinds = sorted({type(v).__name__ for v in col.dropna().head(1000)})
            return (f"column {name!r} cannot be snapshotted: it holds {', '.join(kinds) or 'objects'} values "
                    f"({str(ce).splitlines()[0][:160]}); convert it with .astype(str) or drop it")
    return f"this frame cannot be snapshotted: {str(e).splitlines()[0][:200]}"


def _object_info(frame: Any) -> dict[str, Any]:
    """Which columns/index levels are object dtype and which null they use (None or NaN)."""
    import pandas as pd

    def sentinel(values) -> str | None:
        isna = pd.isna(values)
        if not isna.any():
            return None
        first = values[isna.argmax()]
        return "none" if first is None else "nan"

    cols = {str(i): sentinel(frame.iloc[:, i].to_numpy()) for i in range(frame.shape[1])
            if frame.dtypes.iloc[i] == object}
    idx = frame.index
    levels = [i for i in range(idx.nlevels) if idx.get_level_values(i).dtype == object]
    # a DatetimeIndex/TimedeltaIndex frequency is not in Arrow's metadata (a PeriodIndex's is its dtype)
    freq = idx.freqstr if isinstance(idx, (pd.DatetimeIndex, pd.TimedeltaIndex)) else None
    return {"columns": cols, "index_levels": levels, **({"index_freq": freq} if freq else {})}


# -- chunking and encoding ---------------------------------------------------------------
_pools: dict[int, ThreadPoolExecutor] = {}


def _drop_pools_in_child() -> None:
    """A forked child has none of the parent's pool threads: it starts its own pools."""
    _pools.clear()


os.register_at_fork(after_in_child=_drop_pools_in_child)


def _pool(threads: int) -> ThreadPoolExecutor:
    """One long-lived pool per size: starting threads on every snapshot costs milliseconds."""
    pool = _pools.get(threads)
    if pool is None:
        pool = _pools[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="nbtrack-snapshot")
    return pool


def chunk_rows(table: pa.Table, previous: int | None = None) -> int:
    """Rows per chunk: a power of two, at most about CHUNK_BYTES and about 1/MIN_CHUNKS
    of the rows (so a small edit rewrites a small share), at least MIN_CHUNK_ROWS; or
    the previous version's row count while it stays within 4x of that."""
    return rows_per_chunk(table.nbytes / max(1, table.num_rows), table.num_rows, previous)


def rows_per_chunk(per_row: float, num_rows: int, previous: int | None = None) -> int:
    """:func:`chunk_rows` from the bytes per row and the number of rows."""
    per_row = max(1.0, per_row)
    by_bytes = 2 ** int(math.log2(max(1.0, CHUNK_BYTES / per_row)))
    by_count = 2 ** int(math.log2(max(1.0, num_rows / MIN_CHUNKS)))
    ideal = max(MIN_CHUNK_ROWS, min(by_bytes, by_count))
    if previous and ideal / 4 <= previous <= ideal * 4:
        return previous
    return ideal


def encode_chunk(table: pa.Table) -> bytes:
    """Deterministic parquet bytes of one chunk (no timestamps, no pandas metadata)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression=COMPRESSION, dictionary_pagesize_limit=DICTIONARY_PAGE_LIMIT,
                   row_group_size=max(1, table.num_rows), write_statistics=False)
    return sink.getvalue().to_pybytes()


def encode(obj: Any, put: Callable[[str, bytes], None], previous_rows: int | None = None,
           threads: int = THREADS, name: Callable[[bytes], str] = hash_bytes,
           memo: ChunkMemo | None = None) -> Encoded:
    """Encode a DataFrame/Series into stored chunks and a manifest.

    Parameters
    ----------
    obj : pandas.DataFrame or pandas.Series
    put : callable
        ``put(oid, data)`` stores one object (e.g. ``ObjectStore.put_with_oid``).
    previous_rows : int, optional
        Rows per chunk of the dataset's previous version, reused when close to ideal.
    name : callable
        The object id of a chunk's bytes: ``ObjectStore.name`` (keyed when the store is encrypted).
    memo : ChunkMemo, optional
        Chunks already stored, by the fingerprint of their rows (see :mod:`.chunkprint`): a
        chunk whose rows are unchanged is adopted from the store instead of encoded again.
    """
    frame, kind, series_name = as_frame(obj)
    original = frame
    try:
        frame, objects, table = _storable(frame)
    except InvalidInput as e:
        if kind != "series":
            raise
        raise InvalidInput(str(e).replace("column '__series__'", "the Series")) from None
    pandas_meta = _arrow_columns_as_object(json.loads(table.schema.metadata[b"pandas"]), objects)
    table = table.replace_schema_metadata(None)
    rows = chunk_rows(table, previous_rows)
    # an empty frame still gets one (empty) chunk: it carries the categories of categoricals
    bounds = [(s, min(rows, table.num_rows - s)) for s in range(0, table.num_rows, rows)] or [(0, 0)]
    if not table.num_columns:
        bounds = []

    key = table_key(table, ENCODING.encode()) if memo is not None else b""

    numbers = [i for i, f in enumerate(table.schema) if chunkstats.numeric(f.type)]

    def write(bound: tuple[int, int]) -> tuple[tuple[str, int, int], dict[int, chunkstats.Partial]]:
        fp = chunk_fingerprint(table, bound[0], bound[1], key) if memo is not None else ""
        partials = chunkstats.chunk_partials(table, bound[0], bound[1], numbers, fp)
        hit = memo.get(fp) if memo is not None else None
        if hit is not None:
            return (hit[0], bound[1], hit[1]), partials
        data = encode_chunk(table.slice(*bound))
        oid = name(data)
        put(oid, data)
        if memo is not None:
            memo.put(fp, oid, len(data))
        return (oid, bound[1], len(data)), partials

    sample, step = sample_table(table)
    pool = _pool(threads)
    # chunk writes and per-column statistics share the pool (pyarrow and numpy release the GIL);
    # the exact statistics of number columns come from the chunks' partials (see .chunkstats)
    stat_jobs = {i: pool.submit(one_column, table, sample, step, i)
                 for i in range(table.num_columns) if i not in numbers}
    written = list(pool.map(write, bounds))
    chunks = [w[0] for w in written]
    for i in numbers:
        stat_jobs[i] = pool.submit(one_column, table, sample, step, i,
                                   chunkstats.exact([w[1][i] for w in written]))
    stats = {str(name): stat_jobs[i].result() for i, name in enumerate(table.column_names)}
    if table.num_rows == 0:  # parquet keeps no dictionary for zero rows: keep the categories here
        objects["empty_categories"] = _categories(table)
    return finish(frame, original, kind, series_name, objects, table.schema, pandas_meta, rows, chunks, stats)


def finish(frame: Any, original: Any, kind: str, series_name: Any, objects: dict[str, Any], schema: pa.Schema,
           pandas_meta: dict[str, Any], rows: int, chunks: list[tuple[str, int, int]],
           stats: dict[str, Any]) -> Encoded:
    """The manifest and :class:`Encoded` of a frame whose chunks are stored (shared by :mod:`.rowchunks`)."""
    for pos, spec in objects.get("encoded", {}).get("columns", {}).items():
        if spec["kind"] == "categorical":  # stored as codes: count the categories, not the codes
            stats[schema.names[int(pos)]] = categorical_stats(original.iloc[:, int(pos)])
    schema_b64 = base64.b64encode(schema.serialize().to_pybytes()).decode()
    typed = _typed_empty_categories(frame)
    if typed:  # no categories at all: Arrow types them null, and they would come back as object
        objects["empty_categories_dtype"] = typed
    if not _exact_json(series_name):
        objects["series_name"] = codec.encode(series_name)
    fmt = FORMAT2 if "encoded" in objects or "series_name" in objects else FORMAT
    manifest = {
        "format": fmt, "kind": kind, "series_name": _jsonable(series_name), "schema": schema_b64,
        "pandas": pandas_meta, "objects": objects, "chunks": [c[0] for c in chunks],
        "n_rows": len(frame), "n_cols": frame.shape[1] if kind == "frame" else 1, "chunk_rows": rows,
        "chunk_sizes": [[c[1], c[2]] for c in chunks],
        "columns": [{"name": _jsonable(c), "dtype": str(d)} for c, d in frame.dtypes.items()],
        "stats": stats,
    }
    return Encoded(manifest, json.dumps(manifest, sort_keys=True).encode(), chunks, content_fingerprint(manifest),
                   sum(c[2] for c in chunks))


_CONTENT_KEYS = ("format", "kind", "series_name", "schema", "pandas", "objects", "chunks")


def content_fingerprint(manifest: dict[str, Any]) -> str:
    """The content id of a version: schema, pandas metadata and chunk ids (not statistics)."""
    content = {k: manifest[k] for k in _CONTENT_KEYS}
    return hash_bytes(json.dumps(content, sort_keys=True).encode())


def from_manifest(manifest: dict[str, Any], manifest_bytes: bytes, manifest_oid: str) -> Encoded:
    """The :class:`Encoded` of an already stored manifest (what the snapshot cache keeps)."""
    chunks = [(oid, rows, size) for oid, (rows, size) in zip(manifest["chunks"], manifest["chunk_sizes"])]
    return Encoded(manifest, manifest_bytes, chunks, content_fingerprint(manifest), sum(c[2] for c in chunks),
                   manifest_oid)


def _typed_empty_categories(frame: Any) -> dict[str, str]:
    """Positions of categorical columns with no categories, typed other than object."""
    import pandas as pd

    return {str(i): str(dt.categories.dtype) for i, dt in enumerate(frame.dtypes)
            if isinstance(dt, pd.CategoricalDtype) and len(dt.categories) == 0 and dt.categories.dtype != object}


def _categories(table: pa.Table) -> dict[str, str]:
    out = {}
    for i, col in enumerate(table.columns):
        if pa.types.is_dictionary(col.type) and col.num_chunks:
            batch = pa.RecordBatch.from_arrays([col.chunk(0).dictionary], ["categories"])
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, batch.schema) as w:
                w.write_batch(batch)
            out[str(i)] = base64.b64encode(sink.getvalue().to_pybytes()).decode()
    return out


def _storable(frame: Any, nthreads: int | None = None) -> tuple[Any, dict[str, Any], pa.Table]:
    """(the frame as stored, its ``objects`` info, its Arrow table)."""
    frame, spec = columns.prepare(frame, encode_inline)
    objects = _object_info(frame)
    if spec:
        objects["encoded"] = spec
    return frame, objects, to_arrow(frame, nthreads)


def _arrow_columns_as_object(meta: dict[str, Any], objects: dict[str, Any]) -> dict[str, Any]:
    """Arrow-backed columns whose dtype pandas cannot parse from its name are read as object
    first (pandas would fail on the name); :func:`_arrow_columns` rebuilds them from the table."""
    for pos, spec in objects.get("encoded", {}).get("columns", {}).items():
        if spec["kind"] == "arrow":
            meta["columns"][int(pos)].update(numpy_type="object", pandas_type="object", metadata=None)
    return meta


def _arrow_columns(frame: Any, table: pa.Table, objects: dict[str, Any]) -> None:
    import pandas as pd

    for pos, spec in objects.get("encoded", {}).get("columns", {}).items():
        if spec["kind"] == "arrow":
            i = int(pos)
            frame.isetitem(i, pd.Series(pd.arrays.ArrowExtensionArray(table.column(i)), index=frame.index))


def encode_inline(obj: Any) -> dict[str, Any]:
    """A small Series/DataFrame (categories) as one self-contained value kept inside a manifest."""
    frame, kind, _name = as_frame(obj)
    frame, objects, table = _storable(frame)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return {"ipc": base64.b64encode(sink.getvalue().to_pybytes()).decode(), "objects": objects, "kind": kind}


def decode_inline(d: dict[str, Any]) -> Any:
    table = pa.ipc.open_stream(base64.b64decode(d["ipc"])).read_all()
    frame = table.to_pandas()
    _restore_objects(frame, d["objects"])
    if d["objects"].get("encoded"):
        columns.restore(frame, d["objects"]["encoded"], decode_inline)
    return frame.iloc[:, 0] if d.get("kind") == "series" else frame


def _exact_json(v: Any) -> bool:
    return v is None or type(v) in (str, bool) or (type(v) is int and abs(v) < 2**53) or (
        type(v) is float and math.isfinite(v))


def _jsonable(v: Any) -> Any:
    try:
        json.dumps(v)
        return v
    except TypeError:
        return str(v)


# -- Arrow -> pandas ---------------------------------------------------------------------
def decode(manifest: dict[str, Any], get: Callable[[str], bytes], threads: int = THREADS,
           chunks: list[int] | None = None) -> Any:
    """Rebuild the DataFrame/Series of a manifest; ``get(oid)`` returns an object's bytes.

    ``chunks`` (positions in the manifest's chunk list) loads only those rows,
    with their original index labels (what ``diff`` uses to skip equal chunks).
    """
    import pandas as pd

    if manifest.get("format") not in (FORMAT, FORMAT2):
        raise InvalidInput(f"unknown dataset manifest format {manifest.get('format')!r}; upgrade nbtrack")
    schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(manifest["schema"])))
    picked = list(range(len(manifest["chunks"]))) if chunks is None else list(chunks)

    def read(i: int) -> pa.Table:
        return pq.read_table(pa.BufferReader(get(manifest["chunks"][i])), schema=schema)

    tables = list(_pool(threads).map(read, picked))
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    meta, positions = manifest["pandas"], None
    if chunks is not None:
        meta, positions = _subset_meta(manifest, picked, table.num_rows)
    table = table.replace_schema_metadata({b"pandas": json.dumps(meta).encode()})
    frame = table.to_pandas()
    if positions is not None:
        frame.index = positions
    elif not manifest["chunks"]:  # no columns at all: the rows exist only as a RangeIndex
        frame = frame.reindex(_range_index(meta, pd))
    _restore_objects(frame, manifest["objects"])
    _arrow_columns(frame, table, manifest["objects"])
    for pos, b64 in manifest["objects"].get("empty_categories", {}).items():
        cats = pa.ipc.open_stream(base64.b64decode(b64)).read_all().column(0).to_pandas()
        frame.isetitem(int(pos), frame.iloc[:, int(pos)].cat.set_categories(pd.Index(cats.array)))
    for pos, dtype in manifest["objects"].get("empty_categories_dtype", {}).items():
        frame.isetitem(int(pos), frame.iloc[:, int(pos)].cat.set_categories(pd.Index([], dtype=dtype)))
    if manifest["objects"].get("encoded"):
        columns.restore(frame, manifest["objects"]["encoded"], decode_inline)
    if manifest["kind"] == "series":
        s = frame.iloc[:, 0]
        exact = manifest["objects"].get("series_name")
        s.name = codec.decode(exact) if exact is not None else manifest["series_name"]
        return s
    return frame


def _range_index(meta: dict[str, Any], pd: Any) -> Any:
    idx = (meta.get("index_columns") or [None])[0]
    if isinstance(idx, dict) and idx.get("kind") == "range":
        return pd.RangeIndex(idx["start"], idx["stop"], idx["step"], name=idx.get("name"))
    return pd.RangeIndex(0)


def chunk_starts(manifest: dict[str, Any]) -> list[int]:
    """First row of each chunk."""
    starts, at = [], 0
    for rows, _size in manifest["chunk_sizes"]:
        starts.append(at)
        at += rows
    return starts


def _subset_meta(manifest: dict[str, Any], picked: list[int], n: int) -> tuple[dict[str, Any], Any]:
    """Pandas metadata for a subset of chunks; a RangeIndex becomes the rows' own labels."""
    import numpy as np
    import pandas as pd

    meta = json.loads(json.dumps(manifest["pandas"]))
    idx = meta.get("index_columns") or []
    if len(idx) != 1 or not isinstance(idx[0], dict) or idx[0].get("kind") != "range":
        return meta, None
    r = idx[0]
    start, step = r["start"], r["step"]
    starts, sizes = chunk_starts(manifest), manifest["chunk_sizes"]
    pos = (np.concatenate([np.arange(starts[i], starts[i] + sizes[i][0]) for i in picked])
           if picked else np.array([], dtype=np.int64))
    r.update(start=0, stop=n, step=1)
    return meta, pd.Index(pos * step + start, name=r.get("name"))


def _restore_objects(frame: Any, objects: dict[str, Any]) -> None:
    for pos, sentinel in objects["columns"].items():
        i = int(pos)
        col = frame.iloc[:, i]
        if col.dtype != object:
            col = col.astype(object)
        if sentinel == "none":
            col = col.where(col.notna(), None)
        elif sentinel == "nan":  # an all-null column comes back from Arrow as None
            col = col.where(col.notna(), float("nan"))
        frame.isetitem(i, col)
    if objects.get("index_freq"):
        frame.index.freq = objects["index_freq"]
    levels = objects["index_levels"]
    if levels:
        idx = frame.index
        if idx.nlevels == 1:
            frame.index = idx.astype(object)
        else:
            frame.index = idx.set_levels([idx.levels[i].astype(object) if i in levels else idx.levels[i]
                                          for i in range(idx.nlevels)])
