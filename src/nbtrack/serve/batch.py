"""Batch scoring: ``nbtrack predict NAME@ALIAS input.parquet -o out.parquet``.

The input is read ``chunk_rows`` rows at a time (parquet batches, a folder of
parquet files, or CSV chunks), each chunk validated against the version's
signature exactly as the server does, scored, and appended to the output; the
next chunk is read in a background thread while the current one is scored,
so memory stays bounded by a few chunks whatever the file size.

With ``dask="tcp://scheduler:8786"`` the parquet row groups are scored on the
cluster's workers: each task gets the model's bytes (never a workspace path)
and reads its row groups itself, so the input must be reachable from the
workers (a shared folder or an fsspec URL such as ``s3://``); results come back
in order and are written by the client.
"""

from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from collections.abc import Iterator

from ..errors import InvalidInput
from ..workspace import Workspace, get_workspace
from .scoring import Writer, file_kind, progress_bar, score
from .validation import InvalidRows


SCORERS = max(1, min(2, os.cpu_count() or 1))


@dataclass
class BatchResult:
    """What :func:`predict` wrote."""

    model: str
    version: int
    rows: int
    output: str
    seconds: float


def _parquet_chunks(path: str, rows: int) -> tuple[Iterator[Any], int | None]:
    import pyarrow.dataset as ds

    if "://" in path and not path.startswith("file://"):  # s3://bucket/in/: through fsspec (AWS_ENDPOINT_URL...)
        import fsspec

        fs, root = fsspec.core.url_to_fs(path)
        data = ds.dataset(root, format="parquet", filesystem=fs)
    else:
        data = ds.dataset(path.removeprefix("file://"), format="parquet")
    total = data.count_rows()
    return (b.to_pandas() for b in data.to_batches(batch_size=rows) if b.num_rows), total


def _csv_chunks(path: str, rows: int) -> tuple[Iterator[Any], int | None]:
    import pandas as pd

    return iter(pd.read_csv(path, chunksize=rows)), None


def _prefetched(chunks: Iterator[Any]) -> Iterator[Any]:
    """Read the next chunk in a thread while the caller scores this one (pyarrow releases the GIL)."""
    sentinel = object()
    with ThreadPoolExecutor(1, thread_name_prefix="nbtrack-predict-read") as pool:
        pending = pool.submit(next, chunks, sentinel)
        while True:
            chunk = pending.result()
            if chunk is sentinel:
                return
            pending = pool.submit(next, chunks, sentinel)
            yield chunk


def _write_next(pending: deque, writer: Writer, bar: Any, source: str, served: Any) -> None:
    fut, first, n = pending.popleft()
    try:
        scored = fut.result()
    except InvalidRows as e:
        raise InvalidInput(f"rows {first}..{first + n - 1} of {source} do not match {served.ref}: {e}") from None
    writer.write(scored)
    if bar is not None:
        bar.update(n)


def predict(ref: str, source: str | os.PathLike, output: str | os.PathLike, *, proba: bool = False,
            chunk_rows: int = 100_000, keep: list[str] | None = None, dask: str | None = None,
            trust: bool | list[str] | None = None, progress: bool = False,
            workspace: Workspace | None = None) -> BatchResult:
    """Score a parquet/CSV file with a model version and write the predictions.

    Parameters
    ----------
    ref : str
        ``"churn@production"``, ``"churn@3"``...
    source, output : path
        Input ``.parquet`` (file or folder) or ``.csv``; output ``.parquet`` or ``.csv``
        (written to a temporary name and renamed when complete).
    proba : bool
        Also write ``proba_<class>`` columns.
    chunk_rows : int
        Rows scored at a time (memory stays bounded by a few chunks).
    keep : list of str
        Input columns copied to the output (an id column, say).
    dask : str, optional
        A Dask scheduler address: score parquet row groups on its workers.
    trust : bool or list of str
        As for :func:`nbtrack.load_model`.
    progress : bool
        Show a progress bar (tqdm) on stderr.

    Returns
    -------
    BatchResult
        Model, version, rows scored, output path and seconds.

    Raises
    ------
    InvalidInput
        When a chunk does not match the signature (the problems are named, with
        the chunk's first row number); nothing is written then.
    """
    from .source import load_served

    if chunk_rows < 1:
        raise InvalidInput("chunk_rows must be at least 1")
    source, output = os.fspath(source), os.fspath(output)
    kind = file_kind(source)
    file_kind(output)
    t0 = time.perf_counter()
    ws = workspace or get_workspace()
    if dask:
        from .batch_dask import predict_dask

        served = load_served(ref, trust, ws)
        rows = predict_dask(ref, served, source, output, proba, list(keep or []), chunk_rows, dask, trust, ws,
                            progress)
        return BatchResult(served.name, served.version, rows, output, time.perf_counter() - t0)
    served = load_served(ref, trust, ws)
    chunks, total = (_parquet_chunks if kind == "parquet" else _csv_chunks)(source, chunk_rows)
    writer, rows, ok = Writer(output), 0, False
    bar = progress_bar(progress, total, served)
    # reading the next chunks, scoring (in SCORERS threads: numpy and pyarrow release the GIL) and
    # writing in order overlap
    with ThreadPoolExecutor(SCORERS, thread_name_prefix="nbtrack-predict") as pool:
        pending: deque = deque()
        try:
            for frame in _prefetched(chunks):
                pending.append((pool.submit(score, served, frame, proba, list(keep or []), rows), rows, len(frame)))
                rows += len(frame)
                while len(pending) > SCORERS:
                    _write_next(pending, writer, bar, source, served)
            while pending:
                _write_next(pending, writer, bar, source, served)
            ok = True
        finally:
            for fut, _, _ in pending:
                fut.cancel()
            writer.close(ok)
            if bar is not None:
                bar.close()
    return BatchResult(served.name, served.version, rows, output, time.perf_counter() - t0)
