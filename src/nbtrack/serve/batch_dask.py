"""Batch scoring on a Dask cluster: parquet row groups scored by the workers.

Each task receives the model file's bytes, its format and the schema (plain
data), never a workspace path: workers need no access to ``.nbtrack``. They
read their own row groups from ``source``, which must therefore be visible to
them: an fsspec URL (``s3://bucket/scoring/``, credentials from the workers'
usual AWS environment) or a folder every worker shares; a local path that some
worker cannot see is refused before any scoring starts. At most two tasks per
worker thread are in flight, and results are written in input order by the
client, so memory stays bounded.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ..errors import InvalidInput
from ..workspace import Workspace
from .validation import InvalidRows


def _pieces(source: str, chunk_rows: int) -> list[tuple[str, list[int], int]]:
    """``(file URL, row groups, rows)`` pieces of about ``chunk_rows`` rows each."""
    import fsspec
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    fs, root = fsspec.core.url_to_fs(source)
    out = []
    for path in ds.dataset(root, format="parquet", filesystem=fs).files:
        with fs.open(path, "rb") as f:
            meta = pq.ParquetFile(f).metadata
        url = fs.unstrip_protocol(path)
        group, rows = [], 0
        for i in range(meta.num_row_groups):
            group.append(i)
            rows += meta.row_group(i).num_rows
            if rows >= chunk_rows:
                out.append((url, group, rows))
                group, rows = [], 0
        if group:
            out.append((url, group, rows))
    return out


def _local_file(url: str) -> str | None:
    return url.removeprefix("file://") if url.startswith("file://") or "://" not in url else None


def _check_visible(client: Any, source: str, pieces: list[tuple[str, list[int], int]]) -> None:
    """Every worker must see the local files it may be given (an s3:// URL needs no check)."""
    import os

    files = sorted({f for f in (_local_file(p[0]) for p in pieces) if f})
    if not files:
        return
    seen = client.run(lambda paths: all(os.path.exists(p) for p in paths), files)
    blind = sorted(addr for addr, ok in seen.items() if not ok)
    if blind:
        raise InvalidInput(f"the Dask workers cannot read {source} ({', '.join(blind)}): put the input where every "
                           "worker reads it, e.g. s3://BUCKET/PREFIX (credentials from the workers' AWS environment) "
                           "or a shared folder")


def score_piece(model_bytes: bytes, fmt: str, trust: Any, schema: dict, info: dict, path: str,
                groups: list[int], proba: bool, keep: list[str]) -> Any:
    """Runs on a worker: load the model (cached per worker), read the row groups, score them."""
    import fsspec
    import pyarrow.parquet as pq

    from ..snapshot.model_io import loads
    from .scoring import score
    from .served import ServedModel
    from .validation import Schema

    key = (hash(model_bytes), fmt)
    cache = score_piece.__dict__.setdefault("cache", {})
    model = cache.get(key)
    if model is None:
        cache.clear()
        model = cache[key] = loads(model_bytes, fmt, trust)
    served = ServedModel(info["name"], info["version"], model, Schema.from_dict(schema), ref=info["ref"])
    with fsspec.open(path, "rb") as f:
        frame = pq.ParquetFile(f).read_row_groups(groups).to_pandas()
    return score(served, frame, proba, keep)


def predict_dask(ref: str, served: Any, source: str, output: str, proba: bool, keep: list[str], chunk_rows: int,
                 address: str, trust: Any, ws: Workspace, progress: bool) -> int:
    from distributed import Client

    from ..snapshot.models import get_model_version
    from .scoring import Writer, file_kind, progress_bar

    if file_kind(source) != "parquet":
        raise InvalidInput("--dask scores parquet input (a file or folder); convert the CSV to parquet first")
    mv = get_model_version(ref, ws)
    pieces = _pieces(source, chunk_rows)
    info = {"name": served.name, "version": served.version, "ref": served.ref}
    writer, rows, ok = Writer(output), 0, False
    bar = progress_bar(progress, sum(p[2] for p in pieces), served)
    try:
        with Client(address, timeout="30s") as client:
            _check_visible(client, source, pieces)
            model = client.scatter(ws.objects.get(mv.oid), broadcast=True)
            width = 2 * max(1, sum(client.nthreads().values()))
            todo = deque(pieces)
            running: deque[Any] = deque()
            while todo or running:
                while todo and len(running) < width:
                    path, groups, n = todo.popleft()
                    running.append(client.submit(score_piece, model, mv.format, trust, served.schema.to_dict(),
                                                 info, path, groups, proba, keep, pure=False))
                try:
                    frame = running.popleft().result()
                except InvalidRows as e:
                    raise InvalidInput(f"rows of {source} do not match {served.ref}: {e}") from None
                frame.index = range(rows, rows + len(frame))
                writer.write(frame)
                rows += len(frame)
                if bar is not None:
                    bar.update(len(frame))
        ok = True
    finally:
        writer.close(ok)
        if bar is not None:
            bar.close()
    return rows
