"""Append rows to a dataset: the next version is the previous rows plus new ones.

Used by the prediction log (``NAME.predictions``), which grows by small batches.
Only the previous version's last, partly filled chunk is read and re-encoded
together with the new rows; every full chunk is shared with the previous version
(same object ids), so an append costs the new rows, not the whole dataset. The
manifest's statistics are recomputed over all rows (read back chunk by chunk,
as Arrow, never as pandas).

When the new rows do not have the stored schema (a column added, a dtype
changed), the dataset is rewritten as ``concat(previous, new)``. Appends from
several processes are safe: a version is recorded only if the version it was
built on is still the latest (checked inside the write transaction); otherwise
the append is redone on top of the new latest version.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import insert, select

from ..store.lineage import link
from ..store.schema import dataset_chunks, dataset_versions, datasets
from ..workspace import Workspace, get_workspace
from . import frames
from .datasets import DatasetVersion, _latest, _row_to_version, check_name
from .stats import one_column, sample_table
from ..store.keys import inserted_id

RETRIES = 20


def append_frame(frame: Any, name: str, run_id: str | None = None,
                 workspace: Workspace | None = None) -> DatasetVersion:
    """Store ``previous rows + frame`` as the next version of dataset ``name``.

    The new rows get the next positions of the previous version's RangeIndex
    (their own index is not kept). Returns the new version (the latest one when
    ``frame`` has no rows).
    """
    name = check_name(name)
    ws = workspace or get_workspace(create=True)
    for _ in range(RETRIES):
        with ws.meta.read() as conn:
            did = conn.execute(select(datasets.c.id).where(datasets.c.name == name)).scalar()
            base = _latest(conn, did) if did is not None else None
        if base is not None and len(frame) == 0:
            return _row_to_version(base, name, ws)
        manifest = json.loads(ws.objects.get(base.manifest_oid)) if base is not None else None
        enc = _encode_append(manifest, frame, ws) if manifest is not None else None
        if enc is None:  # the first rows, or another schema: encode everything (previous rows too)
            whole = frame
            if manifest is not None:
                import pandas as pd

                whole = pd.concat([frames.decode(manifest, ws.objects.get), frame], ignore_index=True)
            enc = frames.encode(whole.reset_index(drop=True), ws.objects.put_with_oid,
                                previous_rows=manifest.get("chunk_rows") if manifest else None, name=ws.objects.name)
            enc.manifest_oid = ws.objects.put(enc.manifest_bytes)
        version = _record(ws, name, base, enc, run_id)
        if version is not None:
            return version
    raise RuntimeError(f"dataset {name!r} kept changing while appending to it ({RETRIES} attempts)")


def _schema(manifest: dict[str, Any]) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(manifest["schema"])))


def _encode_append(manifest: dict[str, Any], frame: Any, ws: Workspace) -> frames.Encoded | None:
    if manifest.get("kind") != "frame":
        return None
    meta = manifest["pandas"]
    idx = meta.get("index_columns") or []
    if len(idx) != 1 or not isinstance(idx[0], dict) or idx[0].get("kind") != "range" or idx[0].get("step") != 1:
        return None
    new = frames.to_arrow(frame.reset_index(drop=True))
    new_meta = json.loads(new.schema.metadata[b"pandas"])
    new = new.replace_schema_metadata(None)
    schema = _schema(manifest)
    if not new.schema.equals(schema) or new_meta["columns"] != meta["columns"]:
        return None
    rows = int(manifest["chunk_rows"])
    chunks = [(oid, n, size) for oid, (n, size) in zip(manifest["chunks"], manifest["chunk_sizes"])]
    if manifest["n_rows"] == 0:
        chunks = []
    tables = [_read(ws, c[0], schema) for c in chunks]
    tail = []
    if chunks and chunks[-1][1] < rows:  # the last chunk is not full: it is re-cut with the new rows
        chunks.pop()
        tail = [tables.pop()]
    fresh = pa.concat_tables(tail + [new])
    for start in range(0, fresh.num_rows, rows):
        part = fresh.slice(start, min(rows, fresh.num_rows - start))
        data = frames.encode_chunk(part)
        oid = ws.objects.name(data)
        ws.objects.put_with_oid(oid, data)
        chunks.append((oid, part.num_rows, len(data)))
    whole = pa.concat_tables(tables + [fresh])
    sample, step = sample_table(whole)
    stats = {str(n): one_column(whole, sample, step, i) for i, n in enumerate(whole.column_names)}
    n_rows = whole.num_rows
    meta = json.loads(json.dumps(meta))
    meta["index_columns"][0].update(start=0, stop=n_rows)
    objects = dict(manifest["objects"])
    objects["columns"] = {k: v or _sentinel(frame, int(k)) for k, v in objects.get("columns", {}).items()}
    m = {**manifest, "pandas": meta, "objects": objects, "chunks": [c[0] for c in chunks], "n_rows": n_rows,
         "chunk_sizes": [[c[1], c[2]] for c in chunks], "stats": stats}
    data = json.dumps(m, sort_keys=True).encode()
    enc = frames.Encoded(m, data, chunks, frames.content_fingerprint(m), sum(c[2] for c in chunks))
    enc.manifest_oid = ws.objects.put(data)
    return enc


def _sentinel(frame: Any, i: int) -> str | None:
    import pandas as pd

    col = frame.iloc[:, i]
    isna = pd.isna(col.to_numpy())
    if not isna.any():
        return None
    return "none" if col.to_numpy()[isna.argmax()] is None else "nan"


def _read(ws: Workspace, oid: str, schema: pa.Schema) -> pa.Table:
    return pq.read_table(pa.BufferReader(ws.objects.get(oid)), schema=schema)


def _record(ws: Workspace, name: str, base: Any, enc: frames.Encoded, run_id: str | None) -> DatasetVersion | None:
    """Insert the version if ``base`` is still the latest (else None: someone appended first, redo)."""
    m = enc.manifest
    with ws.meta.write() as conn:
        did = conn.execute(select(datasets.c.id).where(datasets.c.name == name)).scalar()
        if did is None:
            if base is not None:
                return None
            did = inserted_id(conn.execute(insert(datasets).values(name=name, created=time.time())))
        latest = _latest(conn, did)
        if (latest.id if latest is not None else None) != (base.id if base is not None else None):
            return None
        row = {"dataset_id": did, "version": (base.version if base is not None else 0) + 1,
               "manifest_oid": enc.manifest_oid, "fingerprint": enc.fingerprint, "n_rows": m["n_rows"],
               "n_cols": m["n_cols"], "nbytes": enc.nbytes, "run_id": run_id, "created": time.time()}
        vid = inserted_id(conn.execute(insert(dataset_versions).values(**row)))
        conn.execute(insert(dataset_chunks), [{"dataset_version_id": vid, "seq": i, "oid": oid, "n_rows": n}
                                              for i, (oid, n, _s) in enumerate(enc.chunks)])
        if run_id is not None:
            link(conn, run_id, "output", vid, None)
    return DatasetVersion(name, row["version"], vid, row["n_rows"], row["n_cols"], row["nbytes"], enc.fingerprint,
                          row["manifest_oid"], run_id, row["created"], ws)
