"""Drift statistics agree with scipy and a textbook PSI; injected shifts are flagged where
injected and nowhere else; the false-positive rate over unshifted resamples is small."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

import nbtrack
from nbtrack.monitor.drift import drift
from monitor.shifts import SHIFTED, cancer, inject, resample


def textbook_psi(ref: np.ndarray, cur: np.ndarray, n_bins: int = 10, eps: float = 1e-4) -> float:
    """PSI over the reference's decile bins (values on an inner edge go to the upper bin)."""
    r = np.sort(ref)
    edges = np.unique(r[np.round(np.linspace(0, r.size - 1, n_bins + 1)).astype(int)])
    inner = edges[1:-1]
    p = np.bincount(np.digitize(ref, inner), minlength=len(edges) - 1) / ref.size
    q = np.bincount(np.digitize(cur, inner), minlength=len(edges) - 1) / cur.size
    p, q = np.clip(p, eps, None), np.clip(q, eps, None)
    return float(np.sum((q - p) * np.log(q / p)))


@pytest.fixture(scope="module")
def frames():
    df = cancer()
    ref = resample(df, 2000, 1)
    cur = inject(resample(df, 2000, 2), ref)
    return ref, cur


@pytest.mark.parametrize("n_ref,n_cur", [(300, 200), (20000, 15000)])  # exact and asymptotic p-values
def test_numeric_statistics_match_scipy(n_ref, n_cur):
    rng = np.random.default_rng(n_ref)
    ref = pd.DataFrame({"x": rng.normal(size=n_ref).round(2)})  # rounding makes ties
    cur = pd.DataFrame({"x": rng.normal(0.1, 1.1, size=n_cur).round(2)})
    row = drift(ref, cur, log=False).to_frame().loc["x"]
    expected = stats.ks_2samp(ref["x"], cur["x"])
    assert row["ks_stat"] == pytest.approx(expected.statistic, abs=1e-12)
    assert row["ks_p"] == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-300)
    assert row["psi"] == pytest.approx(textbook_psi(ref["x"].to_numpy(), cur["x"].to_numpy()), rel=1e-9)


def test_categorical_statistics_match_scipy():
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"c": rng.choice(list("abcd"), 5000, p=[.4, .3, .2, .1])})
    cur = pd.DataFrame({"c": rng.choice(list("abcde"), 3000, p=[.35, .3, .2, .1, .05])})
    row = drift(ref, cur, log=False).to_frame().loc["c"]
    rc, cc = ref["c"].value_counts(), cur["c"].value_counts()
    seen = cc[cc.index.isin(rc.index)].reindex(rc.index)
    chi = stats.chi2_contingency([rc, seen], correction=False)  # two samples: homogeneity
    assert row["chi2"] == pytest.approx(chi.statistic, rel=1e-9)
    assert row["chi2_p"] == pytest.approx(chi.pvalue, rel=1e-6)
    allc = sorted(set(rc.index) | set(cc.index))
    p = rc.reindex(allc, fill_value=0) / len(ref)
    q = cc.reindex(allc, fill_value=0) / len(cur)
    assert row["js"] == pytest.approx(jensenshannon(p, q), rel=1e-9)
    assert row["unseen"] == ["e"] and row["unseen_share"] == pytest.approx((cur["c"] == "e").mean())


def test_manifest_reference_agrees_with_the_data(workspace):
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"x": rng.normal(size=30000), "k": rng.integers(0, 5, 30000).astype(str)})
    cur = pd.DataFrame({"x": rng.normal(0.05, 1, size=20000), "k": rng.integers(0, 5, 20000).astype(str)})
    nbtrack.snapshot(ref, "ref")
    exact = drift("ref@1", cur, reference_from="data", log=False).to_frame()
    fast = drift("ref@1", cur, reference_from="manifest", log=False).to_frame()
    assert set(fast["reference_from"]) == {"manifest"} and set(exact["reference_from"]) == {"data"}
    d = stats.ks_2samp(ref["x"], cur["x"]).statistic
    assert exact.loc["x", "ks_stat"] == pytest.approx(d, abs=1e-12)
    # at the stored quantiles of the (here: complete) sample: a lower bound within 1/256
    assert fast.loc["x", "ks_stat"] <= d + 1e-12 and d - fast.loc["x", "ks_stat"] <= 1 / 256
    assert fast.loc["x", "psi"] == pytest.approx(exact.loc["x", "psi"], rel=1e-9)
    for col in ("psi", "chi2", "chi2_p", "js"):
        assert fast.loc["k", col] == pytest.approx(exact.loc["k", col], rel=1e-9)


def test_injected_shifts_are_flagged_where_injected(frames):
    ref, cur = frames
    report = drift(ref, cur, log=False)
    df = report.to_frame()
    assert set(SHIFTED) <= set(report.drifted)
    others = [f for f in report.drifted if f not in SHIFTED]
    assert len(others) <= 1, others  # KS at p < 0.01 over 27 unshifted features
    why = {f: " ".join(df.loc[f, "reasons"]) for f in SHIFTED}
    assert "PSI" in why["mean radius"] and "KS" in why["mean radius"]
    assert "KS" in why["mean texture"]
    assert "chi-square" in why["size band"] or "Jensen" in why["size band"]
    assert "missing rate 0.0% -> " in why["mean smoothness"]
    assert "unseen categories 't9'" in why["texture band"]
    assert [a.feature for a in report.alerts if a.feature != "*"]
    assert not report.dataset_drift  # 5 of 32 features


def test_false_positive_rate_over_unshifted_resamples():
    df = cancer()
    ref = resample(df, 2000, 1000)
    flagged = dataset = 0
    for seed in range(50):
        report = drift(ref, resample(df, 2000, seed), log=False)
        flagged += len(report.drifted)
        dataset += report.dataset_drift
    rate = flagged / (50 * df.shape[1])
    print(f"false-positive rate per feature over 50 unshifted resamples: {rate:.2%}; data set: {dataset}/50")
    assert rate <= 0.03
    assert dataset == 0


def test_model_reference_uses_training_data_from_lineage(workspace, frames):
    from sklearn.tree import DecisionTreeClassifier

    ref, cur = frames
    X = ref.drop(columns=["size band", "texture band"])
    y = (X["mean radius"] > X["mean radius"].median()).astype(int)
    train = nbtrack.snapshot(X, "cancer-train")
    clf = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    mv = nbtrack.log_model(clf, "clf", X=X, dataset_version=str(train))
    nbtrack.register_model("churn", version=mv.ref)
    nbtrack.set_alias("churn", "production", 1)
    report = drift("churn@production", cur)
    assert report.reference_version.ref == "cancer-train@1"
    assert "mean radius" in report.drifted and "size band" not in report.to_frame().index  # model inputs only
    run = nbtrack.get_run(report.run_id)
    assert run.kind == "monitor" and run.metrics["drift.n_drifted"] == len(report.drifted)
    assert report.to_frame().loc["mean radius", "reference_from"] == "manifest"


def test_current_streamed_from_a_dataset_version(workspace, frames):
    ref, cur = frames
    nbtrack.snapshot(ref, "cref")
    big = pd.concat([cur] * 40, ignore_index=True)  # 80k rows: several stored chunks
    v = nbtrack.snapshot(big, "ccur")
    assert len(v.manifest["chunks"]) > 1
    a = drift("cref@1", "ccur@1", log=False).to_frame()
    b = drift("cref@1", big, log=False).to_frame()
    pd.testing.assert_frame_equal(a.drop(columns=["reasons", "unseen"]), b.drop(columns=["reasons", "unseen"]))


def test_report_views(frames):
    import matplotlib

    matplotlib.use("Agg")
    report = drift(*frames, log=False)
    html = report._repr_html_()
    assert "mean radius" in html and "drifted" in html
    fig = report.plot()
    assert len([ax for ax in fig.axes if ax.get_visible()]) >= 6
    assert "mean radius" in report.summary()


def test_bad_input_is_one_clear_error(workspace, frames):
    with pytest.raises(nbtrack.errors.NotFound, match="no dataset"):
        drift("nothing@1", frames[1])
    with pytest.raises(nbtrack.errors.InvalidInput, match="unknown drift thresholds"):
        drift(frames[0], frames[1], thresholds={"psy": 1}, log=False)


def test_manifests_without_a_cdf_are_read_from_the_data(workspace):
    """Manifests written before the stored CDF existed still work: those columns read the data."""
    from nbtrack.monitor import profile

    rng = np.random.default_rng(9)
    ref = pd.DataFrame({"x": rng.normal(size=3000)})
    v = nbtrack.snapshot(ref, "old")
    stats_ = dict(v.manifest["stats"]["x"])
    assert profile.from_manifest("x", stats_, "float64") is not None
    del stats_["cdf"]
    assert profile.from_manifest("x", stats_, "float64") is None
    old = {**v.manifest, "stats": {"x": stats_}}
    from nbtrack.monitor.drift import reference_profiles
    from nbtrack.monitor.sources import Reference

    class OldVersion:  # the same data, with the older manifest
        name, workspace, manifest = v.name, v.workspace, old

    (p,) = reference_profiles(Reference(OldVersion()), ["x"]).values()
    assert p.source == "data" and p.count == 3000
