"""Models at the floor (issue 18, target 3): nbtrack vs ``joblib`` and ``skops.io``, alternating in one run.

    python benchmarks/bench_model_floor.py [--trees 100] [--big 500] [--repeat 7] [--markdown docs/benchmarks.md]

Three models, each in memory and saved to local disk:
  * ``RandomForestClassifier(--trees)`` and ``RandomForestClassifier(--big)`` (2,000 x 20 training rows;
    ``--big 0`` skips it), and a ``Pipeline(ColumnTransformer(StandardScaler, OneHotEncoder),
    LogisticRegression)`` fitted on a 10,000-row frame.
Per repetition, in this order:
  * save: ``joblib.dump`` to a file, ``skops.io.dump`` to a file, ``nbtrack.log_model`` of a *new* model
    (a different random_state: nothing can be skipped; it stores an ``nbtrack.model/1`` archive), and
    the archive alone (``model_io.dumps``: the format's own cost, without the registry's row,
    signature and params);
  * re-log of the unchanged model: ``nbtrack.log_model`` of the same object again (the fingerprint
    finds it stored), as a share of nbtrack's own save;
  * load: ``joblib.load``, ``skops.io.load`` (with ``trusted=get_untrusted_types``: what a careful
    caller does, two parses), ``skops.io.load`` with the list known in advance (one parse: skops' own
    floor), ``nbtrack.load_model``.
Then the first ``load_model`` of RF(--trees) in fresh processes (wall and CPU, and whether skops got imported).
Wall time (median, p10, p90, n) and CPU time (median ``time.process_time``) of each; ratios on wall medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROWS = ("joblib.dump", "skops.io.dump", "nbtrack save", "nbtrack archive only", "nbtrack re-log",
        "joblib.load", "skops.io.load", "skops.io.load, one parse", "nbtrack load")


def stats(samples):
    s = sorted(x * 1000 for x in samples)
    q = statistics.quantiles(s, n=10) if len(s) > 1 else [s[0]] * 9
    return {"median": statistics.median(s), "p10": q[0], "p90": q[-1], "n": len(s)}


def timed(fn, wall, cpu):
    c, t = time.process_time(), time.perf_counter()
    fn()
    wall.append(time.perf_counter() - t)
    cpu.append(time.process_time() - c)


def models(kind: str, count: int):
    import numpy as np

    if kind.startswith("rf"):
        from sklearn.ensemble import RandomForestClassifier

        trees = int(kind[2:])
        rng = np.random.default_rng(0)
        X = rng.normal(size=(2000, 20))
        y = (X[:, 0] + rng.normal(0, 0.5, 2000) > 0).astype(int)
        return [RandomForestClassifier(n_estimators=trees, random_state=i, n_jobs=1).fit(X, y) for i in range(count)]
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    n = 10_000
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n), "x3": rng.integers(0, 100, n),
                       "city": rng.choice([f"c{i}" for i in range(40)], n), "plan": rng.choice(list("abcd"), n)})
    y = (df["x1"] + (df["plan"] == "a") > 0.5).astype(int)
    out = []
    for i in range(count):
        ct = ColumnTransformer([("num", StandardScaler(), ["x1", "x2", "x3"]),
                                ("cat", OneHotEncoder(handle_unknown="ignore"), ["city", "plan"])])
        out.append(make_pipeline(ct, LogisticRegression(C=1.0 + i / 10, max_iter=500)).fit(df, y))
    return out


def bench(kind: str, repeat: int, tmp: Path) -> dict:
    import joblib
    import skops
    import skops.io as sio
    import sklearn

    import nbtrack
    from nbtrack.snapshot import model_io

    fit = models(kind, repeat + 1)
    nbtrack.use_workspace(tmp / f".nbtrack-{kind}")
    jl, sk = tmp / f"{kind}.joblib", tmp / f"{kind}.skops"
    wall: dict[str, list[float]] = {k: [] for k in ROWS}
    cpu: dict[str, list[float]] = {k: [] for k in ROWS}
    v = nbtrack.log_model(fit[0], kind)  # warm-up (imports, skops' trusted lists)
    nbtrack.load_model(v.ref)
    sio.load(sio.dump(fit[0], sk) or sk, trusted=sio.get_untrusted_types(file=sk))
    for i in range(1, repeat + 1):
        m = fit[i]
        timed(lambda m=m: joblib.dump(m, jl), wall["joblib.dump"], cpu["joblib.dump"])
        timed(lambda m=m: sio.dump(m, sk), wall["skops.io.dump"], cpu["skops.io.dump"])
        timed(lambda m=m: nbtrack.log_model(m, kind), wall["nbtrack save"], cpu["nbtrack save"])
        timed(lambda m=m: model_io.dumps(m), wall["nbtrack archive only"], cpu["nbtrack archive only"])
        timed(lambda m=m: nbtrack.log_model(m, kind), wall["nbtrack re-log"], cpu["nbtrack re-log"])
        mv = nbtrack.get_model_version(kind)
        assert mv.format == model_io.FAST, mv.format
        timed(lambda: joblib.load(jl), wall["joblib.load"], cpu["joblib.load"])
        timed(lambda: sio.load(sk, trusted=sio.get_untrusted_types(file=sk)), wall["skops.io.load"],
              cpu["skops.io.load"])
        known = sio.get_untrusted_types(file=sk)  # (untimed: a caller who already knows the list)
        timed(lambda known=known: sio.load(sk, trusted=known), wall["skops.io.load, one parse"],
              cpu["skops.io.load, one parse"])
        timed(lambda ref=mv.ref: nbtrack.load_model(ref), wall["nbtrack load"], cpu["nbtrack load"])
    nbtrack.use_workspace(None)
    return {"wall": {k: stats(x) for k, x in wall.items()}, "cpu": {k: stats(x)["median"] for k, x in cpu.items()},
            "size": jl.stat().st_size, "archive": len(model_io.dumps(fit[-1])[0]),
            "versions": f"scikit-learn {sklearn.__version__}, skops {skops.__version__}, joblib {joblib.__version__}"}


TITLES = {"pipeline": "Pipeline(ColumnTransformer(StandardScaler, OneHotEncoder), LogisticRegression), 10,000 rows"}


def _size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def table(kind: str, r: dict) -> str:
    st, cpu = r["wall"], r["cpu"]

    def cell(k):
        x = st[k]
        return f"{x['median']:.1f} ({x['p10']:.1f}–{x['p90']:.1f}, {x['n']}) | {cpu[k]:.1f}"

    m = {k: v["median"] for k, v in st.items()}
    title = TITLES.get(kind) or f"RandomForestClassifier({kind[2:]}), 2,000 x 20 training rows"
    return "\n".join([
        f"**{title}**: {_size(r['size'])} as joblib, {_size(r['archive'])} as `nbtrack.model/1`. "
        "Wall ms median (p10–p90, n) | CPU ms median.", "",
        "| what | floor / peer | peer wall | peer CPU | nbtrack wall | nbtrack CPU | ratio (target) |",
        "|---|---|---|---|---|---|---|",
        f"| save | `joblib.dump` | {cell('joblib.dump')} | {cell('nbtrack save')} | "
        f"**{m['nbtrack save'] / m['joblib.dump']:.2f}×** (≤ 1.5×) |",
        f"| save, archive only (`model_io.dumps`) | `joblib.dump` | {cell('joblib.dump')} | "
        f"{cell('nbtrack archive only')} | {m['nbtrack archive only'] / m['joblib.dump']:.2f}× |",
        f"| save | `skops.io.dump` | {cell('skops.io.dump')} | {cell('nbtrack save')} | "
        f"{m['nbtrack save'] / m['skops.io.dump']:.2f}× |",
        f"| re-log unchanged | nbtrack's own save | {m['nbtrack save']:.1f} | | {cell('nbtrack re-log')} | "
        f"**{100 * m['nbtrack re-log'] / m['nbtrack save']:.0f}%** (≤ 10%) |",
        f"| load | `skops.io.load` (audited) | {cell('skops.io.load')} | {cell('nbtrack load')} | "
        f"**{m['nbtrack load'] / m['skops.io.load']:.2f}×** (≤ 1.0×) |",
        f"| load | `skops.io.load` (trusted list known in advance: one parse) | "
        f"{cell('skops.io.load, one parse')} | {cell('nbtrack load')} | "
        f"{m['nbtrack load'] / m['skops.io.load, one parse']:.2f}× |",
        f"| load | `joblib.load` (pickle: unsafe) | {cell('joblib.load')} | {cell('nbtrack load')} | "
        f"**{m['nbtrack load'] / m['joblib.load']:.2f}×** (how close a safe format gets) |",
    ])


_FIRST_LOAD = """
import sys, time
import sklearn.ensemble, nbtrack  # (what the process that trained the model has imported)
nbtrack.use_workspace(sys.argv[1])
t, c = time.perf_counter(), time.process_time()
nbtrack.load_model(sys.argv[2])
print(time.perf_counter() - t, time.process_time() - c, "skops" in sys.modules)
"""


def first_load(tmp: Path, trees: int, repeat: int) -> str:
    """The first ``load_model`` of RF(trees) in fresh processes (wall and CPU medians, skops imported or not)."""
    import subprocess

    import nbtrack

    nbtrack.use_workspace(tmp / ".nbtrack-first")
    v = nbtrack.log_model(models(f"rf{trees}", 1)[0], "first")
    nbtrack.use_workspace(None)
    out = [subprocess.run([sys.executable, "-c", _FIRST_LOAD, str(tmp / ".nbtrack-first"), v.ref],
                          capture_output=True, text=True, check=True).stdout.split() for _ in range(repeat)]
    wall = statistics.median(float(x[0]) * 1000 for x in out)
    cpu = statistics.median(float(x[1]) * 1000 for x in out)
    skops = sorted({x[2] for x in out})
    return (f"First `load_model` of RF({trees}) in a fresh process (sklearn.ensemble and nbtrack imported first; "
            f"n={repeat}): {wall:.0f} ms wall, {cpu:.0f} ms CPU (medians); skops imported: {', '.join(skops)}.")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--big", type=int, default=500, help="trees of the second forest (0: skip it)")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    kinds = [f"rf{args.trees}"] + ([f"rf{args.big}"] if args.big else []) + ["pipeline"]
    parts = []
    with tempfile.TemporaryDirectory() as d:
        for kind in kinds:
            r = bench(kind, args.repeat, Path(d))
            parts.append(table(kind, r))
            print(parts[-1] + "\n", flush=True)
        parts.append(first_load(Path(d), args.trees, max(3, args.repeat // 2)))
        print(parts[-1] + "\n", flush=True)
    load = os.getloadavg()[0]
    parts.append(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, load average {load:.1f}, Python "
                 f"{sys.version.split()[0]}, {r['versions']}. `python benchmarks/bench_model_floor.py "
                 f"--trees {args.trees} --big {args.big} --repeat {args.repeat}`.")
    text = "\n\n".join(parts)
    print(parts[-1])
    if args.markdown:
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_tracking import write_section

        write_section(args.markdown, "## Models at the floor (issue 18, target 3)", text)


if __name__ == "__main__":
    main()
