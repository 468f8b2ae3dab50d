"""Time a tracked cell adds to its own path when it makes a new 100 MB frame (issue 18, target 1).

    python benchmarks/bench_background.py [--reps 15] [--mb 100]

In one in-process IPython shell (the cell path is what ``run_cell`` takes: the body plus
nbtrack's ``pre_run_cell``/``post_run_cell``), alternating after a warm-up:

* **untracked**: ``df = base * k`` (a new frame of ``--mb`` MB each time, new content);
* **tracked, background** (the default): the same cell under ``%%track``; its snapshot is
  stored by the background writer after the cell returned;
* **tracked, on the cell's path**: ``NBTRACK_BACKGROUND_SNAPSHOTS=0`` (the previous behaviour).

``nbtrack.flush()`` runs after every tracked cell, outside the timing, so each cell starts with
nothing pending; its time is reported as "stored after the cell". Prints median, p10, p90 and n
of each cell, and of the time added over the untracked cell of the same round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def summary(xs: list[float]) -> str:
    ms = [x * 1000 for x in xs]
    return f"{statistics.median(ms):.1f} ms (p10 {pct(ms, 0.1):.1f}, p90 {pct(ms, 0.9):.1f}, n={len(ms)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--mb", type=int, default=100)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="nbtrack-bench-bg-")
    os.chdir(tmp)
    os.environ["NBTRACK_URI"] = os.path.join(tmp, ".nbtrack")
    os.environ.pop("NBTRACK_BACKGROUND_SNAPSHOTS", None)
    from IPython.testing.globalipapp import start_ipython

    ip = start_ipython()
    ip.run_line_magic("load_ext", "nbtrack")
    rows = args.mb * (1 << 20) // 80  # 10 float64 columns
    ip.run_cell(f"import numpy as np, pandas as pd, nbtrack\n"
                f"base = pd.DataFrame(np.random.default_rng(0).normal(size=({rows}, 10)),"
                f" columns=[f'c{{i}}' for i in range(10)])\nk = 1.0")
    size = ip.user_ns["base"].memory_usage().sum()
    import nbtrack

    def cell(code: str) -> float:
        ip.user_ns["k"] += 1.0  # new content every time: nothing is reused from the cache
        t = time.perf_counter()
        res = ip.run_cell(code)
        dt = time.perf_counter() - t
        if not res.success:
            raise SystemExit(f"cell failed: {res.error_in_exec or res.error_before_exec}")
        return dt

    plain, tracked = "df = base * k", "%%track make\ndf = base * k"
    untracked, background, sync, stored = [], [], [], []
    for i in range(args.reps + 2):  # two warm-up rounds
        a = cell(plain)
        os.environ.pop("NBTRACK_BACKGROUND_SNAPSHOTS", None)
        b = cell(tracked)
        t = time.perf_counter()
        assert nbtrack.flush(timeout=600)
        s = time.perf_counter() - t
        os.environ["NBTRACK_BACKGROUND_SNAPSHOTS"] = "0"
        c = cell(tracked)
        os.environ.pop("NBTRACK_BACKGROUND_SNAPSHOTS", None)
        if i >= 2:
            untracked.append(a)
            background.append(b)
            stored.append(s)
            sync.append(c)
    runs = nbtrack.runs(name="make")
    assert set(runs["status"]) == {"finished"}, runs["status"].value_counts()
    added_bg = [b - a for a, b in zip(untracked, background)]
    added_sync = [c - a for a, c in zip(untracked, sync)]
    import pandas as pd

    print(f"new frame of {size / 1e6:.0f} MB ({rows:,} rows x 10 float64), pandas {pd.__version__}, "
          f"python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}\n")
    print("| cell | time on the cell's path | added over untracked |")
    print("|---|---|---|")
    print(f"| untracked `df = base * k` | {summary(untracked)} | — |")
    print(f"| `%%track`, background snapshot (default) | {summary(background)} | **{summary(added_bg)}** |")
    print(f"| `%%track`, snapshot on the cell's path (`NBTRACK_BACKGROUND_SNAPSHOTS=0`) | {summary(sync)} "
          f"| {summary(added_sync)} |")
    print(f"| background writer: stored after the cell (`nbtrack.flush()`) | {summary(stored)} | — |")


if __name__ == "__main__":
    main()
