"""``DriftReport``: the per-feature table, the alerts, plots and a notebook view."""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

COLUMNS = ["feature", "kind", "drifted", "psi", "ks_stat", "ks_p", "chi2", "chi2_p", "js", "missing_reference",
           "missing_current", "missing_change", "unseen", "unseen_share", "n_reference", "n_current",
           "reference_from", "reasons"]


@dataclass
class Alert:
    """One threshold crossed: which feature (or ``*`` for the whole data set) and why."""

    feature: str
    message: str

    def __str__(self) -> str:
        return f"{self.feature}: {self.message}"


class DriftReport:
    """The outcome of :func:`nbtrack.drift`.

    Attributes
    ----------
    rows : list of dict
        One dict of statistics per feature (see :meth:`to_frame`).
    thresholds : Thresholds
    share : float
        Share of features that drifted.
    dataset_drift : bool
        ``share >= thresholds.share``.
    run_id : str or None
        The ``monitor`` run that recorded it.
    """

    def __init__(self, rows: list[dict[str, Any]], thresholds: Any, reference: str, current: str,
                 profiles: dict | None = None, accumulators: dict | None = None) -> None:
        self.rows = rows
        self.thresholds = thresholds
        self.reference = reference
        self.current = current
        self._profiles = profiles or {}
        self._accs = accumulators or {}
        self.run_id: str | None = None
        self.reference_version = self.model_version = self.current_version = None

    # -- summaries -------------------------------------------------------------------
    @property
    def drifted(self) -> list[str]:
        return [r["feature"] for r in self.rows if r["drifted"]]

    @property
    def share(self) -> float:
        return len(self.drifted) / len(self.rows) if self.rows else 0.0

    @property
    def dataset_drift(self) -> bool:
        return bool(self.rows) and self.share >= self.thresholds.share

    @property
    def alerts(self) -> list[Alert]:
        """Every crossed threshold, one per feature and reason; plus the data-set verdict."""
        out = [Alert(r["feature"], why) for r in self.rows for why in r["reasons"]]
        if self.dataset_drift:
            out.append(Alert("*", f"{len(self.drifted)} of {len(self.rows)} features drifted "
                                  f"({self.share:.0%} >= {self.thresholds.share:.0%})"))
        return out

    def __bool__(self) -> bool:  # truthy when something drifted
        return bool(self.drifted)

    def to_frame(self):
        """One row per feature: every statistic, ``drifted`` and the reasons."""
        import pandas as pd

        df = pd.DataFrame(self.rows)
        cols = [c for c in COLUMNS if c in df.columns]
        return df[cols].set_index("feature") if len(df) else pd.DataFrame(columns=cols)

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "current": self.current, "share": self.share,
                "dataset_drift": self.dataset_drift, "drifted": self.drifted,
                "thresholds": self.thresholds.to_dict(), "run_id": self.run_id,
                "features": [{**{k: _json(v) for k, v in r.items()}, "hist": self._histogram(r["feature"])}
                             for r in self.rows]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, default=str)

    def summary(self) -> str:
        head = (f"drift of {self.current} vs {self.reference}: {len(self.drifted)}/{len(self.rows)} features "
                f"drifted ({self.share:.0%})")
        return "\n".join([head] + [f"  {a}" for a in self.alerts])

    def __repr__(self) -> str:
        return f"<DriftReport {len(self.drifted)}/{len(self.rows)} drifted: {', '.join(self.drifted[:8])}>"

    # -- views -------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        return html_table(self.to_dict())

    def plot(self, features: list[str] | None = None, max_features: int = 12):
        """Reference vs current distributions per feature (in the reference's bins or
        categories), and a bar chart of PSI with its threshold. Returns the figure."""
        return plot_dict(self.to_dict(), features, max_features)

    def _histogram(self, f: str) -> dict[str, list] | None:
        """Reference and current proportions over the reference's bins (or categories)."""
        p, acc = self._profiles.get(f), self._accs.get(f)
        if p is None or acc is None:
            return None
        if p.kind == "numeric":
            if p.bin_counts is None or not p.bin_counts.size:
                return None
            ref, cur = p.bin_counts, acc.bins
            labels = [f"{p.edges[i]:.3g}" for i in range(len(ref))] if p.edges.size > 1 else ["all"]
        else:
            from .stats import category_table

            names, ref, cur, _ = category_table(p, acc)
            labels = [str(x)[:12] for x in names]
        ref = np.asarray(ref, dtype=float)
        cur = np.asarray(cur, dtype=float)
        return {"labels": labels, "reference": (ref / max(1.0, ref.sum())).round(6).tolist(),
                "current": (cur / max(1.0, cur.sum())).round(6).tolist()}


def plot_dict(doc: dict[str, Any], features: list[str] | None = None, max_features: int = 12,
              pyplot: bool = True):
    """The figure of a drift report's :meth:`~DriftReport.to_dict` (what a ``monitor`` run stores
    as ``drift.json``): PSI per feature, then reference vs current per feature, drifted first.
    ``pyplot=False`` builds a bare Figure (never shown inline, never tracked as a cell's figure)."""
    feats = [r for r in doc["features"] if r.get("hist")]
    if features:
        feats = [r for r in feats if r["feature"] in features]
    feats = sorted(feats, key=lambda r: not r["drifted"])[:max_features]
    n = len(feats) + 1
    cols = min(3, n)
    nrows = math.ceil(n / cols)
    size = (4.2 * cols, 3.0 * nrows)
    if pyplot:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=size)
    else:
        from matplotlib.figure import Figure

        fig = Figure(figsize=size)
    axes = fig.subplots(nrows, cols, squeeze=False)
    flat = list(axes.ravel())
    _psi_bars(flat[0], doc)
    for ax, r in zip(flat[1:], feats):
        _hist(ax, r)
    for ax in flat[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def _psi_bars(ax, doc: dict[str, Any]) -> None:
    rows = doc["features"]
    names = [str(r["feature"]) for r in rows]
    values = [r["psi"] or 0.0 for r in rows]
    ax.barh(names, values, color=["#d62728" if r["drifted"] else "#2ca02c" for r in rows])
    limit = (doc.get("thresholds") or {}).get("psi")
    if limit is not None:
        ax.axvline(limit, color="k", ls="--", lw=1)
    ax.set_title("PSI per feature")
    ax.invert_yaxis()


def _hist(ax, r: dict[str, Any]) -> None:
    h = r["hist"]
    x = np.arange(len(h["labels"]))
    ax.bar(x - 0.2, h["reference"], 0.4, label="reference")
    ax.bar(x + 0.2, h["current"], 0.4, label="current")
    ax.set_xticks(x, h["labels"], rotation=60, fontsize=7)
    ax.set_title(f"{r['feature']}{' (drifted)' if r['drifted'] else ''}", color="#d62728" if r["drifted"] else "k")
    ax.legend(fontsize=7)


def html_table(doc: dict[str, Any]) -> str:
    """An HTML table of a drift report's :meth:`~DriftReport.to_dict`, coloured by verdict."""
    rows = []
    for r in doc["features"]:
        color = "#fde2e1" if r["drifted"] else "#e8f5e9"
        stat = (f"PSI {_fmt(r['psi'])} · KS p {_fmt(r['ks_p'])}" if r["kind"] == "numeric"
                else f"PSI {_fmt(r['psi'])} · χ² p {_fmt(r['chi2_p'])} · JS {_fmt(r['js'])}")
        rows.append(f"<tr style='background:{color}'><td><b>{html.escape(str(r['feature']))}</b></td>"
                    f"<td>{r['kind']}</td><td>{'drifted' if r['drifted'] else 'ok'}</td><td>{stat}</td>"
                    f"<td>{_fmt(r['missing_reference'], pct=True)} → {_fmt(r['missing_current'], pct=True)}"
                    f"</td><td>{html.escape('; '.join(r['reasons']))}</td></tr>")
    n = len(doc["features"])
    head = html.escape(f"drift of {doc['current']} vs {doc['reference']}: {len(doc['drifted'])}/{n} features "
                       f"drifted ({doc['share']:.0%})")
    return (f"<div><p><b>{head}</b></p><table><tr><th>feature</th><th>kind</th><th>status</th>"
            f"<th>statistics</th><th>missing</th><th>why</th></tr>{''.join(rows)}</table></div>")


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "–"
    return f"{v:.1%}" if pct else f"{v:.3g}"


def _json(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, list):
        return [_json(x) for x in v]
    return v
