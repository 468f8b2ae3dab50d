"""Reference profiles and current-data accumulators: drift as additive histograms.

A :class:`Profile` is everything drift needs to know about one reference column:
quantile bin edges and counts (PSI), points of its empirical distribution with
how many values are ``<=`` and ``<`` each (Kolmogorov-Smirnov), category counts
(chi-square, Jensen-Shannon, unseen categories) and its missing count. It comes
from a dataset manifest's stored statistics (:func:`from_manifest`, no data read)
or from the data itself (:func:`from_values`, exact).

The current data is then only ever *counted* against the profile
(:class:`Accumulator`), chunk by chunk, so it can be larger than memory and the
counts of all chunks simply add up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

N_BINS = 10


@dataclass
class Profile:
    """The reference distribution of one column."""

    name: str
    kind: str  # "numeric" | "categorical"
    count: int  # non-null reference values
    nulls: int
    source: str  # "manifest" | "data"
    edges: np.ndarray | None = None  # PSI bin edges (quantiles of the reference)
    bin_counts: np.ndarray | None = None
    grid: np.ndarray | None = None  # points of the reference distribution (sorted, distinct)
    le: np.ndarray | None = None  # reference values <= each grid point
    lt: np.ndarray | None = None  # reference values < each grid point
    cdf_n: int = 0  # out of how many values le/lt count (the sample size in a manifest)
    categories: list = field(default_factory=list)
    cat_counts: np.ndarray | None = None
    other: int = 0  # reference values outside ``categories`` (an incomplete top-k list)
    sample_rows: int = 0  # categories counted in a sample of this many rows (0: all rows)

    @property
    def missing_rate(self) -> float:
        total = self.count + self.nulls
        return self.nulls / total if total else 0.0

    @property
    def complete_categories(self) -> bool:
        """True when every reference category is known (unseen categories can be told)."""
        return self.kind == "categorical" and self.other == 0


def quantile_edges(sorted_values: np.ndarray, n_bins: int = N_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Decile edges of sorted values and the count per bin (same rule as the manifest's ``bins``)."""
    if sorted_values.size == 0:
        return np.array([]), np.array([], dtype=np.int64)
    idx = np.round(np.linspace(0, sorted_values.size - 1, n_bins + 1)).astype(int)
    edges = np.unique(sorted_values[idx])
    return edges, bin_counts(sorted_values, edges)


def bin_counts(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin of sorted values; a value equal to an inner edge counts in the bin above,
    values outside the edges count in the outer bins."""
    if edges.size <= 1:
        return np.array([sorted_values.size], dtype=np.int64)
    cuts = np.searchsorted(sorted_values, edges[1:-1], side="left")
    return np.diff(np.concatenate([[0], cuts, [sorted_values.size]])).astype(np.int64)


# -- profiles -----------------------------------------------------------------------------
def from_values(name: str, values: Any, kind: str | None = None) -> Profile:
    """The exact profile of a reference column (a pandas Series or array)."""
    import pandas as pd

    s = values if isinstance(values, pd.Series) else pd.Series(values)
    kind = kind or column_kind(s.dtype)
    nulls = int(s.isna().sum())
    if kind == "numeric":
        v = s.to_numpy(dtype="float64", na_value=np.nan)
        v = np.sort(v[~np.isnan(v)])
        edges, counts = quantile_edges(v)
        grid = np.unique(v)
        return Profile(name, kind, int(v.size), nulls, "data", edges, counts, grid,
                       np.searchsorted(v, grid, side="right"), np.searchsorted(v, grid, side="left"), int(v.size))
    vc = s.value_counts(dropna=True, sort=False)
    vc = vc[vc > 0]
    return Profile(name, "categorical", int(vc.sum()), nulls, "data", categories=[_key(k) for k in vc.index],
                   cat_counts=vc.to_numpy(dtype=np.int64))


def from_manifest(name: str, stats: dict[str, Any], dtype: str) -> Profile | None:
    """The profile a manifest's stored statistics give, or None if they do not suffice."""
    kind = column_kind(dtype)
    count, nulls = int(stats.get("count") or 0), int(stats.get("nulls") or 0)
    if "error" in stats:
        return None
    if kind == "numeric":
        bins, cdf = stats.get("bins"), stats.get("cdf")
        if count == 0:
            return Profile(name, kind, 0, nulls, "manifest", np.array([]), np.array([], dtype=np.int64),
                           np.array([]), np.array([]), np.array([]), 0)
        if not bins or not cdf or None in bins["edges"] or None in cdf["x"]:
            return None  # an older manifest (no cdf): read the data
        return Profile(name, kind, count, nulls, "manifest", np.asarray(bins["edges"], dtype="float64"),
                       np.asarray(bins["counts"], dtype=np.int64), np.asarray(cdf["x"], dtype="float64"),
                       np.asarray(cdf["le"], dtype=np.int64), np.asarray(cdf["lt"], dtype=np.int64), int(cdf["n"]))
    top = stats.get("top")
    if top is None:
        return None
    cats = [_key(v) for v, _ in top]
    counts = np.asarray([c for _, c in top], dtype=np.int64)
    step = int(stats.get("sample_every") or 1)
    if "categories" in stats:  # pandas categorical: exact counts over all rows
        listed = int(counts.sum())
        return Profile(name, kind, count, nulls, "manifest", categories=cats, cat_counts=counts,
                       other=max(0, count - listed))
    # strings / booleans: counted in the sample of every step-th row (proportions estimated);
    # usable when the sample's every distinct value is listed
    distinct = int(stats.get("distinct_in_sample") or len(cats))
    if distinct > len(cats):
        return None  # the top values do not describe the column: read the data
    return Profile(name, kind, count, nulls, "manifest", categories=cats, cat_counts=counts,
                   sample_rows=int(counts.sum()) if step > 1 else 0)


def column_kind(dtype: Any) -> str:
    """``numeric`` for numbers (not booleans), ``categorical`` for everything else."""
    text = str(dtype).lower()
    if text.startswith(("bool", "category", "object", "str", "string")) or "dictionary" in text:
        return "categorical"
    if text.startswith(("int", "uint", "float", "decimal")) or text in ("double", "halffloat"):
        return "numeric"
    return "other"


def _key(v: Any) -> Any:
    """Category values as JSON-friendly python scalars (numpy -> python)."""
    if isinstance(v, np.generic):
        return v.item()
    return v


# -- current data -------------------------------------------------------------------------
class Accumulator:
    """Counts of current values against one reference profile; chunks add up."""

    def __init__(self, profile: Profile) -> None:
        self.p = profile
        self.count = 0
        self.nulls = 0
        if profile.kind == "numeric":
            self.bins = np.zeros(max(1, len(profile.edges) - 1) if profile.edges is not None else 1, dtype=np.int64)
            points = len(profile.grid) if profile.grid is not None else 0
            self.le = np.zeros(points, dtype=np.int64)
            self.lt = np.zeros(points, dtype=np.int64)
        self.cats: dict[Any, int] = {}

    def add(self, values: Any) -> None:
        """Count one chunk of the column (a pandas Series)."""
        if self.p.kind == "numeric":
            self._add_numeric(values)
        else:
            self._add_categorical(values)

    def _add_numeric(self, s: Any) -> None:
        try:
            v = s.to_numpy(dtype="float64", na_value=np.nan)
        except (TypeError, ValueError):
            import pandas as pd

            v = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        nan = np.isnan(v)
        n_nan = int(nan.sum())
        if n_nan:
            v = v[~nan]
        else:
            v = v.copy()
        v.sort()
        self.nulls += n_nan
        self.count += v.size
        edges = self.p.edges
        if edges is not None and edges.size > 1:
            self.bins += bin_counts(v, edges)
        elif self.bins.size:
            self.bins[0] += v.size
        if self.p.grid is not None and self.p.grid.size:
            self.le += np.searchsorted(v, self.p.grid, side="right")
            self.lt += np.searchsorted(v, self.p.grid, side="left")

    def _add_categorical(self, s: Any) -> None:
        self.nulls += int(s.isna().sum())
        vc = s.value_counts(dropna=True, sort=False)
        for k, c in zip(vc.index, vc.to_numpy()):
            if c:
                k = _key(k)
                self.cats[k] = self.cats.get(k, 0) + int(c)
        self.count = sum(self.cats.values())

    @property
    def missing_rate(self) -> float:
        total = self.count + self.nulls
        return self.nulls / total if total else 0.0
