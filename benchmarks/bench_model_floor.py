"""Models at the floor (issue 18, target 3): nbtrack vs ``joblib`` and ``skops.io``, alternating in one run.

    python benchmarks/bench_model_floor.py [--trees 100] [--repeat 7] [--markdown docs/benchmarks.md]

A RandomForestClassifier (``--trees``, 2,000 x 20 training rows), in memory and on local disk:
  * save: ``joblib.dump`` to a file, ``skops.io.dump`` to a file, ``nbtrack.log_model`` of a
    *new* model each repetition (a different random_state: nothing can be skipped);
  * re-log of the unchanged model: ``nbtrack.log_model`` of the same object again (the
    fingerprint finds it stored), as a share of nbtrack's own save;
  * load: ``joblib.load``, ``skops.io.load`` (with ``trusted=get_untrusted_types``: what a
    careful caller does, two parses), ``skops.io.load`` with the list known in advance (one
    parse: skops' own floor), ``nbtrack.load_model`` (audit and build from one parse).
Reports median, p10, p90 and n of each, and the ratios the issue targets.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path


def stats(samples):
    s = sorted(x * 1000 for x in samples)
    q = statistics.quantiles(s, n=10) if len(s) > 1 else [s[0]] * 9
    return {"median": statistics.median(s), "p10": q[0], "p90": q[-1], "n": len(s)}


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench(trees: int, repeat: int, tmp: Path) -> dict:
    import joblib
    import numpy as np
    import skops
    import skops.io as sio
    import sklearn
    from sklearn.ensemble import RandomForestClassifier

    import nbtrack

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 20))
    y = (X[:, 0] + rng.normal(0, 0.5, 2000) > 0).astype(int)
    fit = [RandomForestClassifier(n_estimators=trees, random_state=i, n_jobs=1).fit(X, y)
           for i in range(repeat + 1)]
    nbtrack.use_workspace(tmp / ".nbtrack")
    jl, sk = tmp / "m.joblib", tmp / "m.skops"
    s: dict[str, list[float]] = {k: [] for k in ("joblib.dump", "skops.io.dump", "nbtrack save", "nbtrack re-log",
                                                 "joblib.load", "skops.io.load", "skops.io.load, one parse",
                                                 "nbtrack load")}
    v = nbtrack.log_model(fit[0], "rf")  # warm-up
    nbtrack.load_model(v.ref)
    for i in range(1, repeat + 1):
        m = fit[i]
        s["joblib.dump"].append(timed(lambda m=m: joblib.dump(m, jl)))
        s["skops.io.dump"].append(timed(lambda m=m: sio.dump(m, sk)))
        s["nbtrack save"].append(timed(lambda m=m: nbtrack.log_model(m, "rf")))
        s["nbtrack re-log"].append(timed(lambda m=m: nbtrack.log_model(m, "rf")))
        ref = nbtrack.get_model_version("rf").ref
        s["joblib.load"].append(timed(lambda: joblib.load(jl)))
        s["skops.io.load"].append(timed(lambda: sio.load(sk, trusted=sio.get_untrusted_types(file=sk))))
        known = sio.get_untrusted_types(file=sk)  # (untimed: a caller who already knows the list)
        s["skops.io.load, one parse"].append(timed(lambda known=known: sio.load(sk, trusted=known)))
        s["nbtrack load"].append(timed(lambda ref=ref: nbtrack.load_model(ref)))
    nbtrack.use_workspace(None)
    return {"stats": {k: stats(v) for k, v in s.items()}, "size": jl.stat().st_size,
            "versions": f"scikit-learn {sklearn.__version__}, skops {skops.__version__}, joblib {joblib.__version__}"}


def table(trees: int, r: dict) -> str:
    st = r["stats"]

    def cell(k):
        x = st[k]
        return f"{x['median']:.1f} ({x['p10']:.1f}–{x['p90']:.1f}, {x['n']})"

    m = {k: v["median"] for k, v in st.items()}
    lines = [f"RandomForestClassifier({trees}), {r['size'] / 1e6:.1f} MB as joblib. Median ms (p10–p90, n).", "",
             "| what | floor / peer | peer ms | nbtrack ms | ratio (target) |", "|---|---|---|---|---|",
             f"| save | `joblib.dump` | {cell('joblib.dump')} | {cell('nbtrack save')} | "
             f"{m['nbtrack save'] / m['joblib.dump']:.2f}× (≤ 1.5×) |",
             f"| save | `skops.io.dump` | {cell('skops.io.dump')} | {cell('nbtrack save')} | "
             f"{m['nbtrack save'] / m['skops.io.dump']:.2f}× |",
             f"| re-log unchanged | nbtrack's own save | {m['nbtrack save']:.1f} | {cell('nbtrack re-log')} | "
             f"{100 * m['nbtrack re-log'] / m['nbtrack save']:.0f}% (≤ 10%) |",
             f"| load | `skops.io.load` (audited) | {cell('skops.io.load')} | {cell('nbtrack load')} | "
             f"{m['nbtrack load'] / m['skops.io.load']:.2f}× (≤ 1.0×) |",
             f"| load | `skops.io.load` (trusted list known in advance: one parse) | "
             f"{cell('skops.io.load, one parse')} | {cell('nbtrack load')} | "
             f"{m['nbtrack load'] / m['skops.io.load, one parse']:.2f}× |",
             f"| load | `joblib.load` (pickle: unsafe) | {cell('joblib.load')} | {cell('nbtrack load')} | "
             f"{m['nbtrack load'] / m['joblib.load']:.2f}× |",
             "", f"{date.today()}, Python {sys.version.split()[0]}, {r['versions']}. "
             f"`python benchmarks/bench_model_floor.py --trees {trees}`."]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        r = bench(args.trees, args.repeat, Path(d))
    text = table(args.trees, r)
    print(text)
    if args.markdown:
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_tracking import write_section

        write_section(args.markdown, "## Models at the floor (issue 18, target 3)", text)


if __name__ == "__main__":
    main()
