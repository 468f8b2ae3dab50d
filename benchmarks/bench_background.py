"""Time a tracked cell adds to its own path when it makes a new 100 MB frame (issue 18, target 1).

    python benchmarks/bench_background.py [--reps 15] [--mb 100]

In one in-process IPython shell (the cell's path is what ``run_cell`` takes: the body plus
nbtrack's ``pre_run_cell``/``post_run_cell``), alternating after two warm-up rounds (each timed
cell after an untimed untracked one, the order of untracked and tracked swapped every round),
each cell making a frame with new content:

* **A** ``df = make(k)``: a new frame from a function (nothing the cell reads is a frame);
* **B** ``df = base * k``: the cell also reads a 100 MB frame (fingerprinted before the cell,
  and again after it to see whether it changed in place);

each untracked, under ``%%track`` (snapshot stored by the background writer after the cell),
and for A with ``NBTRACK_BACKGROUND_SNAPSHOTS=0`` (the snapshot on the cell's path, as before).
``nbtrack.flush()`` runs after every tracked cell, outside the timing. Prints median, p10, p90
and n of each cell, of the time added over the same cell untracked in that round, and of the
time spent in nbtrack's hooks (the only code ``%%track`` adds; the least exposed to noise).
"""


from __future__ import annotations

import argparse
import os
import shutil
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
    hooks = _time_hooks()
    ip.run_line_magic("load_ext", "nbtrack")
    rows = args.mb * (1 << 20) // 80  # 10 float64 columns
    ip.run_cell(f"import numpy as np, pandas as pd, nbtrack\n"
                f"base = pd.DataFrame(np.random.default_rng(0).normal(size=({rows}, 10)),"
                f" columns=[f'c{{i}}' for i in range(10)])\nk = 1.0")
    size = ip.user_ns["base"].memory_usage().sum()
    import nbtrack
    from nbtrack.snapshot.fingerprint import fingerprint

    def cell(code: str) -> tuple[float, float]:
        """(seconds of the whole cell, seconds of it in nbtrack's pre/post_run_cell hooks)."""
        ip.user_ns["k"] += 1.0  # new content every time: nothing is reused from the cache
        hooks[0] = 0.0
        t = time.perf_counter()
        res = ip.run_cell(code)
        dt = time.perf_counter() - t
        if not res.success:
            raise SystemExit(f"cell failed: {res.error_in_exec or res.error_before_exec}")
        return dt, hooks[0]

    # A: the cell makes a new frame from something that is not a frame it reads (a function, a
    #    file): only the new frame is fingerprinted on the cell's path.
    # B: `df = base * k` also reads a 100 MB frame: nbtrack fingerprints that input before the
    #    cell and again after it (to see whether the cell changed it in place).
    ip.run_cell("def make(k):\n    return base * k")
    cells = {"A": ("df = make(k)", "%%track make\ndf = make(k)"), "B": ("df = base * k", "%%track make\ndf = base * k")}
    res: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        res.setdefault(key, []).append(value)

    for i in range(args.reps + 2):  # two warm-up rounds
        for sc, (plain, tracked) in cells.items():
            # each timed cell follows an untimed untracked one (the same memory state), and the
            # order of the two alternates; the background store is flushed before the next cell
            if i % 2:
                cell(plain)
                a, _ = cell(plain)
            cell(plain)
            b, hb = cell(tracked)
            t = time.perf_counter()
            fingerprint(ip.user_ns["df"])  # the floor: what the cell must pay to know the frame is new
            fp = time.perf_counter() - t
            t = time.perf_counter()
            assert nbtrack.flush(timeout=600)
            stored = time.perf_counter() - t
            if not i % 2:
                cell(plain)
                a, _ = cell(plain)
            if sc == "A":
                os.environ["NBTRACK_BACKGROUND_SNAPSHOTS"] = "0"
                cell(plain)
                c, hs = cell(tracked)
                os.environ.pop("NBTRACK_BACKGROUND_SNAPSHOTS", None)
            if i < 2:
                continue
            add(f"{sc} untracked", a)
            add(f"{sc} tracked", b)
            add(f"{sc} added", b - a)
            add(f"{sc} hooks", hb)
            add(f"{sc} fingerprint", fp)
            add(f"{sc} hooks - fingerprint", hb - fp)
            add(f"{sc} stored", stored)
            if sc == "A":
                add("A sync", c)
                add("A sync added", c - a)
                add("A sync hooks", hs)
    runs = nbtrack.runs(name="make")
    assert set(runs["status"]) == {"finished"}, runs["status"].value_counts()
    os.chdir(os.path.dirname(tmp))
    shutil.rmtree(tmp, ignore_errors=True)  # ~0.3 GB of snapshots per round
    import pandas as pd

    print(f"new frame of {size / 1e6:.0f} MB ({rows:,} rows x 10 float64), pandas {pd.__version__}, "
          f"python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}, load average "
          f"{os.getloadavg()[0]:.1f}\n")
    print("| cell | whole cell | added over the same cell untracked | nbtrack's hooks (the code `%%track` adds) |")
    print("|---|---|---|---|")
    print(f"| A untracked `df = make(k)` | {summary(res['A untracked'])} | — | — |")
    print(f"| A `%%track`, background snapshot (default) | {summary(res['A tracked'])} "
          f"| {summary(res['A added'])} | **{summary(res['A hooks'])}** |")
    print(f"| A `%%track`, snapshot on the cell's path (`NBTRACK_BACKGROUND_SNAPSHOTS=0`) | {summary(res['A sync'])} "
          f"| {summary(res['A sync added'])} | {summary(res['A sync hooks'])} |")
    print(f"| B untracked `df = base * k` | {summary(res['B untracked'])} | — | — |")
    print(f"| B `%%track`, background snapshot (default) | {summary(res['B tracked'])} "
          f"| {summary(res['B added'])} | **{summary(res['B hooks'])}** |")
    print(f"| background writer, A: stored after the cell (`nbtrack.flush()`) | {summary(res['A stored'])} | — | — |")
    print("\nThe floor: fingerprinting the new frame (xxh3-128 of its buffers), timed alone right after "
          "each tracked cell:\n")
    print("| cell | `fingerprint(df)` alone | nbtrack's hooks minus it |")
    print("|---|---|---|")
    for sc in cells:
        print(f"| {sc} | {summary(res[f'{sc} fingerprint'])} | {summary(res[f'{sc} hooks - fingerprint'])} |")


def _time_hooks() -> list[float]:
    """Wrap nbtrack's IPython event callbacks to add up the time spent in them (before %load_ext)."""
    from nbtrack.ipython import events

    spent = [0.0]
    for name in ("pre_run_cell", "post_run_cell"):
        original = getattr(events.TrackEvents, name)

        def timed(self, arg, _original=original):
            t = time.perf_counter()
            try:
                return _original(self, arg)
            finally:
                spent[0] += time.perf_counter() - t

        setattr(events.TrackEvents, name, timed)
    return spent


if __name__ == "__main__":
    main()
