"""``nbtrack.drift``: per-feature drift of current data against a reference.

The reference is a model version (its training dataset version, from lineage) or
a dataset version. Its profile comes from the manifest's stored statistics where
they suffice (no data read), from its chunks otherwise. The current data (a
DataFrame, a dataset version streamed chunk by chunk, or any iterable of frames)
is only counted against that profile, so it may be larger than memory.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import InvalidInput
from ..workspace import Workspace, get_workspace
from . import profile as prof
from .report import DriftReport
from .sources import Reference, column_names, iter_current, iter_version, resolve_reference
from .stats import feature_stats


@dataclass
class Thresholds:
    """When a feature counts as drifted (``None`` switches a test off).

    ``psi``: PSI at or above; ``ks_p`` / ``chi2_p``: p-value below; ``js``:
    Jensen-Shannon distance at or above; ``missing``: missing-rate change (absolute)
    above; ``unseen``: share of current rows in categories the reference never had
    above. ``share``: the data set as a whole drifted when at least this share of
    features did.
    """

    psi: float | None = 0.2
    ks_p: float | None = 0.01
    chi2_p: float | None = 0.01
    js: float | None = 0.1
    missing: float | None = 0.05
    unseen: float | None = 0.0
    share: float = 0.5

    @classmethod
    def of(cls, value: Any) -> Thresholds:
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            unknown = set(value) - set(cls.__dataclass_fields__)
            if unknown:
                raise InvalidInput(f"unknown drift thresholds {sorted(unknown)}; known: "
                                   f"{', '.join(cls.__dataclass_fields__)}")
            return cls(**value)
        raise InvalidInput(f"thresholds must be a dict or Thresholds, got {type(value).__name__}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reasons(row: dict[str, Any], t: Thresholds) -> list[str]:
    """Why one feature counts as drifted (empty: it does not)."""
    out = []
    if row.get("missing_column"):
        return ["column missing from the current data"]

    def ge(key: str, limit: float | None, label: str) -> None:
        v = row.get(key)
        if limit is not None and v == v and v is not None and v >= limit:
            out.append(f"{label} {v:.4g} >= {limit:g}")

    def lt(key: str, limit: float | None, label: str) -> None:
        v = row.get(key)
        if limit is not None and v == v and v is not None and v < limit:
            out.append(f"{label} {v:.3g} < {limit:g}")

    ge("psi", t.psi, "PSI")
    lt("ks_p", t.ks_p, "KS p-value")
    lt("chi2_p", t.chi2_p, "chi-square p-value")
    ge("js", t.js, "Jensen-Shannon")
    if t.missing is not None and abs(row["missing_change"]) > t.missing:
        out.append(f"missing rate {row['missing_reference']:.1%} -> {row['missing_current']:.1%}")
    if t.unseen is not None and row["unseen_share"] > max(t.unseen, row.get("unseen_floor", 0.0)):
        shown = ", ".join(map(repr, row["unseen"][:5]))
        out.append(f"unseen categories {shown} in {row['unseen_share']:.1%} of rows")
    return out


def _features(ref: Reference, features: list[str] | None, exclude: list[str] | None) -> list[str]:
    cols = column_names(ref.dataset)
    if features is None:
        features = [f for f in (ref.features or cols) if f in cols]
    else:
        missing = [f for f in features if f not in cols]
        if missing:
            raise InvalidInput(f"features {missing} are not columns of {ref.dataset} (it has {cols[:20]})")
    return [f for f in features if f not in set(exclude or ())]


def reference_profiles(ref: Reference, features: list[str], reference_from: str = "auto") -> dict[str, prof.Profile]:
    """Profiles of ``features``: from the manifest where it suffices, else from the data."""
    if reference_from not in ("auto", "manifest", "data"):
        raise InvalidInput(f"reference_from must be 'auto', 'manifest' or 'data', got {reference_from!r}")
    manifest = ref.dataset.manifest
    dtypes = {str(c["name"]): c["dtype"] for c in manifest["columns"]}
    out: dict[str, prof.Profile] = {}
    if reference_from != "data":
        for f in features:
            p = prof.from_manifest(f, manifest["stats"].get(f, {}), dtypes.get(f, ""))
            if p is not None and p.kind != "other":
                out[f] = p
    todo = [f for f in features if f not in out and prof.column_kind(dtypes.get(f, "")) != "other"]
    if todo:
        import pandas as pd

        parts: dict[str, list] = {f: [] for f in todo}
        for chunk in iter_version(ref.dataset, todo):
            for f in todo:
                parts[f].append(chunk[f])
        for f in todo:
            values = pd.concat(parts.pop(f), ignore_index=True) if parts.get(f) else pd.Series([], dtype=float)
            out[f] = prof.from_values(f, values, prof.column_kind(dtypes.get(f, "")))
    return out


def frame_profiles(frame: Any, features: list[str] | None) -> dict[str, prof.Profile]:
    """Exact profiles of a reference DataFrame's columns."""
    cols = {str(c): c for c in frame.columns}
    missing = [f for f in features or [] if f not in cols]
    if missing:
        raise InvalidInput(f"features {missing} are not columns of the reference frame (it has {list(cols)[:20]})")
    return {f: prof.from_values(f, frame[cols[f]]) for f in (features or cols)
            if prof.column_kind(frame[cols[f]].dtype) != "other"}


_pools: list = []
if hasattr(os, "register_at_fork"):  # a forked child (a sweep worker) makes its own pool
    os.register_at_fork(after_in_child=_pools.clear)


def _pool():
    """One long-lived thread pool: features are counted in parallel."""
    if not _pools:
        from concurrent.futures import ThreadPoolExecutor

        _pools.append(ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)),
                                         thread_name_prefix="nbtrack-drift"))
    return _pools[0]


def drift(
    reference: Any,
    current: Any,
    features: list[str] | None = None,
    *,
    exclude: list[str] | None = None,
    thresholds: dict[str, float] | Thresholds | None = None,
    reference_from: str = "auto",
    log: bool = True,
    workspace: Workspace | None = None,
) -> DriftReport:
    """Per-feature drift of ``current`` against ``reference``.

    Parameters
    ----------
    reference : str, DatasetVersion, ModelVersion or DataFrame
        ``"churn@production"`` (the model version's training data, from lineage),
        ``"customers@3"``, or a frame.
    current : DataFrame, str or iterable of DataFrames
        New data: a frame, a dataset reference (``"churn.predictions@latest"``,
        streamed one stored chunk at a time) or chunks.
    features : list of str, optional
        Columns to compare (default: the model's inputs, else every reference column).
    thresholds : dict or Thresholds, optional
        See :class:`Thresholds` (``{"psi": 0.2, "ks_p": 0.01, ...}``).
    reference_from : {"auto", "manifest", "data"}
        Take the reference's profile from its manifest's statistics where they
        suffice (``auto``), or read its data (``data``: exact statistics).
    log : bool
        Record the check as a run of kind ``monitor`` (metrics, report artifact, lineage).

    Returns
    -------
    DriftReport
        ``.to_frame()``, ``.alerts``, ``.plot()``, ``.drifted``, ``.share``.
    """
    import pandas as pd

    t = Thresholds.of(thresholds)
    ws = None
    if isinstance(reference, pd.DataFrame):
        ref, profiles = None, frame_profiles(reference, features)
        label = "DataFrame"
    else:
        ws = workspace or get_workspace()
        ref = resolve_reference(reference, ws)
        feats = _features(ref, features, exclude)
        profiles = reference_profiles(ref, feats, reference_from)
        label = ref.text
    chunks, current_version = iter_current(current, list(profiles), ws)
    accs = {f: prof.Accumulator(p) for f, p in profiles.items()}
    seen: set[str] = set()
    pool = _pool()
    for chunk in chunks:
        present = {str(c): c for c in chunk.columns}
        todo = [(acc, chunk[present[f]]) for f, acc in accs.items() if f in present]
        seen.update(f for f in accs if f in present)
        list(pool.map(lambda job: job[0].add(job[1]), todo))  # numpy sorts and Arrow counts release the GIL
    stats = dict(zip(profiles, pool.map(lambda f: feature_stats(profiles[f], accs[f]), list(profiles))))
    rows = []
    for f in profiles:
        row = stats[f]
        row["missing_column"] = f not in seen
        row["reasons"] = reasons(row, t)
        row["drifted"] = bool(row["reasons"])
        rows.append(row)
    report = DriftReport(rows, t, reference=label, current=str(current_version) if current_version else
                         ("DataFrame" if isinstance(current, pd.DataFrame) else "chunks"),
                         profiles=profiles, accumulators=accs)
    report.reference_version = ref.dataset if ref else None
    report.model_version = ref.model if ref else None
    report.current_version = current_version
    target = ws or workspace
    if log and target is not None:
        from .record import record_drift

        report.run_id = record_drift(report, target)
    return report
