"""``diff(a, b)``: what changed between two dataset versions.

Chunks that hold the same object at the same row position in both versions are
equal row for row, so only the other chunks are loaded and compared. Rows are
matched by index label (by position when an index has duplicate labels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..workspace import Workspace
from . import frames
from .datasets import DatasetVersion, get_version


@dataclass
class DatasetDiff:
    """The difference between dataset versions ``a`` and ``b``.

    Attributes
    ----------
    schema : pandas.DataFrame
        ``column, change (added | removed | dtype), dtype_a, dtype_b``.
    added, removed : pandas.DataFrame
        Rows only in ``b`` / only in ``a``.
    changed : pandas.DataFrame
        Changed rows of the common columns, columns ``(column, "a" | "b")``.
    column_changes : pandas.Series
        Changed values per common column.
    """

    a: str
    b: str
    schema: Any
    added: Any
    removed: Any
    changed: Any
    column_changes: Any
    n_rows_a: int
    n_rows_b: int
    chunks_compared: int
    chunks_skipped: int
    matched_by: str = "index"

    @property
    def identical(self) -> bool:
        return self.schema.empty and self.added.empty and self.removed.empty and self.changed.empty

    def summary(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "rows_a": self.n_rows_a, "rows_b": self.n_rows_b,
                "schema_changes": len(self.schema), "rows_added": len(self.added),
                "rows_removed": len(self.removed), "rows_changed": len(self.changed),
                "chunks_skipped": self.chunks_skipped, "chunks_compared": self.chunks_compared}

    def __repr__(self) -> str:
        lines = [f"diff {self.a} -> {self.b}: {self.n_rows_a} -> {self.n_rows_b} rows"
                 + (" (identical)" if self.identical else "")]
        for r in self.schema.itertuples(index=False):
            lines.append(f"  column {r.column!r}: {r.change}" + (f" {r.dtype_a} -> {r.dtype_b}"
                                                                 if r.change == "dtype" else ""))
        lines.append(f"  rows: +{len(self.added)} added, -{len(self.removed)} removed, "
                     f"~{len(self.changed)} changed (matched by {self.matched_by})")
        nz = self.column_changes[self.column_changes > 0]
        if len(nz):
            lines.append("  changed values: " + ", ".join(f"{k}={v}" for k, v in nz.items()))
        lines.append(f"  chunks: {self.chunks_skipped} equal (skipped), {self.chunks_compared} compared")
        return "\n".join(lines)


def _schema(ma: dict[str, Any], mb: dict[str, Any]):
    import pandas as pd

    ca = {str(c["name"]): c["dtype"] for c in ma["columns"]}
    cb = {str(c["name"]): c["dtype"] for c in mb["columns"]}
    rows = [{"column": c, "change": "removed", "dtype_a": d, "dtype_b": None} for c, d in ca.items() if c not in cb]
    rows += [{"column": c, "change": "added", "dtype_a": None, "dtype_b": d} for c, d in cb.items() if c not in ca]
    rows += [{"column": c, "change": "dtype", "dtype_a": d, "dtype_b": cb[c]}
             for c, d in ca.items() if c in cb and cb[c] != d]
    return pd.DataFrame(rows, columns=["column", "change", "dtype_a", "dtype_b"])


def _differing_chunks(ma: dict[str, Any], mb: dict[str, Any]) -> tuple[list[int], list[int]]:
    """Chunk positions of a and b that are not the same object at the same rows."""
    ka = [(s, n, o) for s, (n, _), o in zip(frames.chunk_starts(ma), ma["chunk_sizes"], ma["chunks"])]
    kb = [(s, n, o) for s, (n, _), o in zip(frames.chunk_starts(mb), mb["chunk_sizes"], mb["chunks"])]
    same = set(ka) & set(kb) if ma["schema"] == mb["schema"] else set()
    return [i for i, k in enumerate(ka) if k not in same], [i for i, k in enumerate(kb) if k not in same]


def _ne(x: Any, y: Any):
    """Element-wise "differs" where two missing values count as equal."""
    try:
        ne = x.ne(y)
    except (TypeError, ValueError):
        x, y = x.astype(object), y.astype(object)
        ne = x.ne(y)
    return (ne & ~(x.isna() & y.isna())).fillna(True).astype(bool)


def _as_frame(obj: Any):
    import pandas as pd

    return obj.to_frame() if isinstance(obj, pd.Series) else obj


def diff(a: str | DatasetVersion, b: str | DatasetVersion, workspace: Workspace | None = None) -> DatasetDiff:
    """Compare dataset versions ``a`` and ``b`` (``"name@1"``, ``"name@2"``...).

    Returns
    -------
    DatasetDiff
        Schema changes, rows added/removed/changed by index label and per-column
        counts of changed values; ``repr()`` is a readable summary.
    """
    import pandas as pd

    va, vb = get_version(a, workspace), get_version(b, workspace)
    ma, mb = va.manifest, vb.manifest
    ws = va.workspace
    assert ws is not None
    ia, ib = _differing_chunks(ma, mb)
    fa = _as_frame(frames.decode(ma, ws.objects.get, chunks=ia))
    fb = _as_frame(frames.decode(mb, ws.objects.get, chunks=ib))
    common = [c for c in fa.columns if c in set(fb.columns)]
    if fa.index.is_unique and fb.index.is_unique:
        matched = "index"
        removed, added = fa[~fa.index.isin(fb.index)], fb[~fb.index.isin(fa.index)]
        keys = fa.index[fa.index.isin(fb.index)]
        xa, xb = fa.loc[keys, common], fb.loc[keys, common]
    else:  # duplicate labels: compare row by row in order
        matched = "position"
        n = min(len(fa), len(fb))
        removed, added = fa.iloc[n:], fb.iloc[n:]
        xa, xb = fa.iloc[:n][common], fb.iloc[:n][common].set_axis(fa.index[:n])
    masks = {c: _ne(xa[c], xb[c]) for c in common}
    counts = pd.Series({str(c): int(m.sum()) for c, m in masks.items()}, dtype="int64")
    any_changed = pd.concat(masks, axis=1).any(axis=1) if masks else pd.Series(False, index=xa.index)
    cols = [c for c in common if masks[c].any()]
    changed = pd.concat({c: pd.DataFrame({"a": xa.loc[any_changed, c], "b": xb.loc[any_changed, c]}) for c in cols},
                        axis=1) if cols else xa.iloc[:0, :0]
    return DatasetDiff(str(va), str(vb), _schema(ma, mb), added, removed, changed, counts,
                       va.n_rows or 0, vb.n_rows or 0,
                       len(ia) + len(ib), len(ma["chunks"]) - len(ia) + len(mb["chunks"]) - len(ib), matched)
