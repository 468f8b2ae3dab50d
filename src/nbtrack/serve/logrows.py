"""The rows of the prediction log: buffered requests -> one DataFrame with stable dtypes.

Runs in the log's writer process (:mod:`.logwriter`), off the server's request path.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("nbtrack.serve")

META = ("prediction", "version", "timestamp", "request_id")


def log_columns(features: list[str]) -> dict[str, str]:
    """Log column name of each meta field (prefixed when a feature already has that name)."""
    taken = set(features)
    return {m: (f"nbtrack_{m}" if m in taken else m) for m in META}


FLAGS = "contract_failures"


def contract_flags(frame: Any, name: str, ws: Any, cache: dict[int, Any]):
    """Add ``contract_failures`` (per row, the checks it fails; ``""`` when it passes) when a
    stored data contract guards the served version's training dataset (see
    :func:`nbtrack.snapshot.contracts.model_contract`); otherwise the frame is unchanged."""
    from ..snapshot.contracts import flag_rows, model_contract

    vcol = "nbtrack_version" if "nbtrack_version" in frame.columns else "version"
    for v in frame[vcol].unique().tolist():
        if v not in cache:
            try:
                cache[v] = model_contract(f"{name}@{v}", ws)
            except Exception as e:  # flags never block the log
                log.warning("nbtrack serve: no data contract for %s@%s (%s)", name, v, e)
                cache[v] = None
    if all(cache[v] is None for v in frame[vcol].unique().tolist()):
        return frame
    flags = frame[vcol].map(lambda _: "").astype(object)
    for v, part in frame.groupby(vcol):
        if cache.get(v) is not None:
            flags.loc[part.index] = flag_rows(part, cache[v])
    return frame.assign(**{FLAGS: flags.astype("str")})


def rows_n(X: Any) -> int:
    return len(next(iter(X.values()), ())) if isinstance(X, dict) else len(X)


def _log_dtype(col: Any) -> str | None:
    """A stable dtype per schema column, so every flush appends with the same schema."""
    kind = col.kind
    if kind == "float" or (kind == "int" and col.nullable):
        return "float64"
    if kind == "int":
        return "int64"
    if kind in ("str", "category"):
        return "str"
    if kind == "bool" and not col.nullable:
        return "bool"
    return None


def rows_frame(items: list[tuple]):
    """One DataFrame from buffered ``(schema, version, request_id, time, X, predictions)`` items.

    ``X`` is a validated DataFrame or validated columns (``{name: [values]}``); the
    columns are gathered as Python lists and the frame is built once.
    """
    import numpy as np
    import pandas as pd

    schema = items[-1][0]
    names = schema.names or [str(c) for c in items[-1][4]]
    cols: dict[str, list] = {c: [] for c in names}
    preds, versions, stamps, rids = [], [], [], []
    for _schema, version, rid, ts, X, pred in items:
        n = rows_n(X)
        for c in names:
            if isinstance(X, dict):
                cols[c].extend(X.get(c, [None] * n))
            else:
                values = X[c] if c in X else pd.Series([None] * n)
                cols[c].extend(values.astype(object).where(values.notna(), None).tolist()
                               if isinstance(values.dtype, pd.CategoricalDtype) else values.tolist())
        preds.append(np.asarray(pred).reshape(n, -1)[:, 0] if n else np.asarray(pred)[:0])
        versions.extend([version] * n)
        stamps.extend([ts] * n)
        rids.extend([rid] * n)
    dtypes = {c.name: _log_dtype(c) for c in schema.columns}
    data = {c: pd.Series(v, dtype=dtypes.get(c)) for c, v in cols.items()}
    meta = log_columns(names)
    data[meta["prediction"]] = np.concatenate(preds) if preds else []
    data[meta["version"]] = np.asarray(versions, dtype="int64")
    data[meta["timestamp"]] = pd.to_datetime(np.asarray(stamps), unit="s", utc=True).astype("datetime64[us, UTC]")
    data[meta["request_id"]] = pd.Series(rids, dtype="str")
    return pd.DataFrame(data)
