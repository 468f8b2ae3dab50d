"""What batch scoring does to one chunk, and writing the results (shared by local and Dask runs)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from .served import ServedModel


def file_kind(path: str) -> str:
    p = path.lower().rstrip("/")
    if p.endswith((".parquet", ".pq")) or os.path.isdir(path):
        return "parquet"
    if "://" in p and "." not in p.rsplit("/", 1)[-1]:  # s3://bucket/scoring/: a folder of parquet files
        return "parquet"
    if p.endswith((".csv", ".csv.gz", ".txt")):
        return "csv"
    raise InvalidInput(f"{path}: expected a .parquet or .csv file (or a folder of parquet files)")


def score(served: ServedModel, frame: Any, proba: bool, keep: list[str], offset: int = 0) -> Any:
    """Validated, scored rows of one chunk: ``keep`` columns, ``prediction`` [, ``proba_<class>``]."""
    import pandas as pd

    missing = [c for c in keep if c not in frame.columns]
    if missing:
        raise InvalidInput(f"--keep column(s) {missing} are not in the input")
    kept = frame[keep].reset_index(drop=True) if keep else None
    names = set(served.schema.names)
    if names:  # other columns (ids, labels) are not the model's business
        frame = frame[[c for c in frame.columns if c in names]]
    X = served.schema.validate(frame)
    out = {}
    if proba:
        p, pred = served.predict_proba(X)
        out["prediction"] = pred
        for i, c in enumerate(served.classes or range(p.shape[1])):
            out[f"proba_{c}"] = p[:, i]
    else:
        out["prediction"] = served.predict(X)
    result = pd.DataFrame(out, index=pd.RangeIndex(offset, offset + len(X)))
    if kept is not None:
        kept.index = result.index
        result = pd.concat([kept, result], axis=1)
    return result


class Writer:
    def __init__(self, path: str) -> None:
        self.path, self.kind = path, file_kind(path)
        self._pq: Any = None  # csv: True once the header is written; parquet: the ParquetWriter
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._tmp = f"{path}.tmp-{os.getpid()}"

    def write(self, frame: Any) -> None:
        if self.kind == "csv":
            frame.to_csv(self._tmp, mode="a", header=self._pq is None, index=False)
            self._pq = True
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._pq is None:
            self._pq = pq.ParquetWriter(self._tmp, table.schema)
        self._pq.write_table(table.cast(self._pq.schema) if table.schema != self._pq.schema else table)

    def close(self, ok: bool) -> None:
        if self._pq is not None and self._pq is not True:
            self._pq.close()
        if ok and os.path.exists(self._tmp):
            os.replace(self._tmp, self.path)
        elif os.path.exists(self._tmp):
            os.remove(self._tmp)


def progress_bar(progress: bool, total: int | None, served: ServedModel):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="rows", unit_scale=True, desc=f"{served.name}@{served.version}")
