"""The drift statistics, computed from a reference :class:`~.profile.Profile` and
the counts of an :class:`~.profile.Accumulator`.

Each agrees with its textbook definition: ``ks`` with :func:`scipy.stats.ks_2samp`
(exactly when the profile comes from the data; from a manifest, the statistic is
evaluated at the stored quantiles of the reference sample and is at most
``1/256`` below the sample's), ``chi_square`` with :func:`scipy.stats.chi2_contingency`,
``jensen_shannon`` with :func:`scipy.spatial.distance.jensenshannon` (natural log),
``psi`` with ``sum((c - r) * ln(c / r))`` over the reference's decile bins.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .profile import Accumulator, Profile

PSI_EPS = 1e-4  # proportions are clipped to this, so an empty bin does not make PSI infinite
OTHER = "<other>"


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray, eps: float = PSI_EPS) -> float:
    """Population stability index of two count vectors over the same bins."""
    r, c = np.asarray(ref_counts, dtype="float64"), np.asarray(cur_counts, dtype="float64")
    if r.sum() == 0 or c.sum() == 0:
        return float("nan")
    p = np.clip(r / r.sum(), eps, None)
    q = np.clip(c / c.sum(), eps, None)
    return float(np.sum((q - p) * np.log(q / p)))


def ks(profile: Profile, acc: Accumulator) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and two-sided p-value (scipy's ``auto`` method)."""
    n1, n2 = profile.cdf_n, acc.count
    if n1 == 0 or n2 == 0 or profile.grid is None or profile.grid.size == 0 or profile.le is None or profile.lt is None:
        return float("nan"), float("nan")
    d = max(float(np.max(np.abs(profile.le / n1 - acc.le / n2))),
            float(np.max(np.abs(profile.lt / n1 - acc.lt / n2))))
    return d, ks_pvalue(d, n1, n2)


def ks_pvalue(d: float, n1: int, n2: int) -> float:
    """The p-value ``scipy.stats.ks_2samp`` gives for statistic ``d`` (exact for small samples)."""
    from scipy.stats import distributions

    if max(n1, n2) <= 10000:
        try:
            from scipy.stats._stats_py import _attempt_exact_2kssamp

            ok, _d, prob = _attempt_exact_2kssamp(n1, n2, math.gcd(n1, n2), d, "two-sided")
            if ok:
                return float(np.clip(prob, 0, 1))
        except Exception:  # a scipy without the helper: the asymptotic formula below
            pass
    m, n = sorted([float(n1), float(n2)], reverse=True)
    return float(np.clip(distributions.kstwo.sf(d, np.round(m * n / (m + n))), 0, 1))


def category_table(profile: Profile, acc: Accumulator) -> tuple[list, np.ndarray, np.ndarray, list]:
    """(labels, reference counts, current counts, unseen categories) over the union of categories.

    With an incomplete reference list (``profile.other``), current values outside it count as
    ``<other>`` and none can be called unseen.
    """
    cats = list(profile.categories)
    index = {c: i for i, c in enumerate(cats)}
    ref = list(profile.cat_counts) if profile.cat_counts is not None else []
    cur = [0] * len(cats)
    other_cur, unseen = 0, []
    for k, c in acc.cats.items():
        i = index.get(k)
        if i is not None:
            cur[i] += c
        elif profile.other:
            other_cur += c
        else:
            unseen.append(k)
    if profile.other:
        cats.append(OTHER)
        ref.append(profile.other)
        cur.append(other_cur)
    for k in unseen:
        cats.append(k)
        ref.append(0)
        cur.append(acc.cats[k])
    return cats, np.asarray(ref, dtype="float64"), np.asarray(cur, dtype="float64"), unseen


def chi_square(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """Chi-square test that reference and current counts come from one distribution
    (:func:`scipy.stats.chi2_contingency` of the 2 x k table, no continuity correction).

    The two-sample form, not a goodness-of-fit test against the reference's proportions:
    those are estimates too, and treating them as exact makes unshifted samples of
    similar size "drift" far more often than the nominal rate. Only categories the
    reference has take part (an unseen category is reported on its own).
    """
    from scipy.stats import chi2_contingency

    keep = ref > 0
    table = np.vstack([ref[keep], cur[keep]])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or table[1].sum() == 0 or table[0].sum() == 0:
        return float("nan"), float("nan")
    res = chi2_contingency(table, correction=False)
    return float(res.statistic), float(res.pvalue)


def jensen_shannon(ref: np.ndarray, cur: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log) between the two distributions."""
    from scipy.spatial.distance import jensenshannon

    if ref.sum() == 0 or cur.sum() == 0:
        return float("nan")
    return float(jensenshannon(ref / ref.sum(), cur / cur.sum()))


def feature_stats(profile: Profile, acc: Accumulator) -> dict[str, Any]:
    """Every statistic of one feature, as a flat dict (one row of the report)."""
    row: dict[str, Any] = {
        "feature": profile.name, "kind": profile.kind, "reference_from": profile.source,
        "n_reference": profile.count, "n_current": acc.count,
        "missing_reference": profile.missing_rate, "missing_current": acc.missing_rate,
        "psi": float("nan"), "ks_stat": float("nan"), "ks_p": float("nan"), "chi2": float("nan"),
        "chi2_p": float("nan"), "js": float("nan"), "unseen": [], "unseen_share": 0.0, "unseen_floor": 0.0,
    }
    row["missing_change"] = row["missing_current"] - row["missing_reference"]
    if profile.kind == "numeric":
        if profile.bin_counts is not None and profile.bin_counts.size:
            row["psi"] = psi(profile.bin_counts, acc.bins)
        row["ks_stat"], row["ks_p"] = ks(profile, acc)
    else:
        _labels, ref, cur, unseen = category_table(profile, acc)
        row["psi"] = psi(ref, cur)
        row["chi2"], row["chi2_p"] = chi_square(ref, cur)
        row["js"] = jensen_shannon(ref, cur)
        row["unseen"] = sorted(unseen, key=str)
        row["unseen_share"] = float(sum(acc.cats[k] for k in unseen) / acc.count) if acc.count else 0.0
        # categories counted in a sample may miss rare values: unseen below its resolution is not news
        row["unseen_floor"] = 10 / profile.sample_rows if profile.sample_rows else 0.0
    return row
