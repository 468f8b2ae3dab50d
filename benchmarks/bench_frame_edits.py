"""Edits cost what they change, loads at read_parquet speed (issue 18, target 2), alternating in one run.

    python benchmarks/bench_frame_edits.py [--mb 502] [--repeat 5] [--markdown docs/benchmarks.md]

The frame is ``bench_snapshot.make_frame`` (8 float64, 1 int64, a low- and a high-cardinality
string column) of about ``--mb`` MB in memory. Each repetition, in this order:

* first snapshot: a fresh workspace, empty frame cache and chunk memo (nothing can be reused);
* 1% contiguous edit: 1% of the rows of ``f0`` changed in one region (a different region each
  repetition), snapshotted in the same kernel (the chunk memo knows the first snapshot's
  chunks); time as a share of the first snapshot's, and new bytes stored as a share of its bytes;
* the same kind of edit with the chunk and statistics memos emptied first (every chunk encoded and hashed again,
  as before row-range fingerprints): what the memo saves;
* load: ``pd.read_parquet`` of the same frame written by ``df.to_parquet`` and
  ``nbtrack.load`` of the first version, the order alternating each repetition.

Then the same first snapshot and 1% edit of the frame with its ``user`` column as Python
objects (``object`` dtype: the strings as Python ``str``), in fresh workspaces.

Reports median, p10, p90 and n of each, and the ratios the issue targets.
"""

from __future__ import annotations

import argparse
import gc as pygc
import os
import statistics
import sys
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def stats(samples: list[float]) -> dict:
    s = sorted(x * 1000 for x in samples)
    q = statistics.quantiles(s, n=10, method="inclusive") if len(s) > 1 else [s[0]] * 9
    return {"median": statistics.median(s), "p10": q[0], "p90": q[-1], "n": len(s)}


CPU: dict[str, list[float]] = {}


def timed(fn, what: str = "") -> tuple[float, object]:
    """Wall time of ``fn()`` (its process CPU time is kept under ``what`` in CPU)."""
    pygc.collect()
    c = time.process_time()
    t = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t
    if what:
        CPU.setdefault(what, []).append(time.process_time() - c)
    return wall, out


def edited(df, rep: int, salt: float):
    """``df`` with 1% of its rows of f0 changed in one region (where depends on ``rep``)."""
    out = df.copy(deep=False)
    n = max(1, len(df) // 100)
    start = (len(df) * (1 + 2 * rep) // (4 * (rep + 2))) % max(1, len(df) - n)
    values = out["f0"].to_numpy(copy=True)
    values[start:start + n] += salt
    out.isetitem(out.columns.get_loc("f0"), values)
    return out


def bench(mb: float, repeat: int, tmp: Path) -> dict:
    import pandas as pd
    import pyarrow

    import nbtrack
    from bench_snapshot import make_frame
    from nbtrack.snapshot import chunkprint, chunkstats, rowchunks
    from nbtrack.snapshot import datasets as ds_mod

    df = make_frame(mb * 1e6)
    nbytes = int(df.memory_usage(index=True, deep=True).sum())
    path = tmp / "frame.parquet"
    df.to_parquet(path)
    s: dict[str, list[float]] = {k: [] for k in ("first", "edit", "edit, no memo", "read_parquet", "load")}
    shares: list[float] = []

    def fresh(rep: int):
        ws = nbtrack.init(tmp / f"ws-{rep}")
        ds_mod._cache.clear()
        chunkprint.clear()
        chunkstats.clear()
        rowchunks.clear()
        return ws

    fresh(-1)
    nbtrack.snapshot(df, "data")  # warm-up (imports, pools)
    nbtrack.load("data@1")
    for rep in range(repeat):
        ws = fresh(rep)
        t, v1 = timed(lambda: nbtrack.snapshot(df, "data"), "first")
        s["first"].append(t)
        before = set(ws.objects)
        first_bytes = sum(ws.objects.size(o) for o in before)
        e = edited(df, rep, 1.0)
        t, v2 = timed(lambda e=e: nbtrack.snapshot(e, "data"), "edit")
        s["edit"].append(t)
        assert v2.version == 2
        after = set(ws.objects)
        shares.append(sum(ws.objects.size(o) for o in after - before) / first_bytes)
        chunkprint.clear()
        chunkstats.clear()
        rowchunks.clear()
        e = edited(df, rep + 1, 2.0)
        t, _ = timed(lambda e=e: nbtrack.snapshot(e, "data"), "edit, no memo")
        s["edit, no memo"].append(t)
        del e
        order = (("read_parquet", lambda: pd.read_parquet(path)), ("load", lambda v1=v1: nbtrack.load(v1.ref)))
        for what, fn in order if rep % 2 == 0 else order[::-1]:
            t, out = timed(fn)
            s[what].append(t)
            del out
        print(rep, {k: round(v[-1], 3) for k, v in s.items()}, f"new bytes {100 * shares[-1]:.2f}%",
              file=sys.stderr)
    # the same frame with its high-cardinality string column as Python objects (object dtype)
    obj = df.astype({"user": object})
    for k in ("first, object column", "edit, object column"):
        s[k] = []
    for rep in range(repeat):
        ws = fresh(100 + rep)
        t, _ = timed(lambda: nbtrack.snapshot(obj, "objects"), "first, object column")
        s["first, object column"].append(t)
        e = edited(obj, rep, 1.0)
        t, v2 = timed(lambda e=e: nbtrack.snapshot(e, "objects"), "edit, object column")
        s["edit, object column"].append(t)
        assert v2.version == 2
        del e
        print(rep, {k: round(v[-1], 3) for k, v in s.items() if "object" in k}, file=sys.stderr)
    return {"stats": {k: stats(v) for k, v in s.items()}, "cpu": {k: stats(v) for k, v in CPU.items()},
            "share": statistics.median(shares), "rows": len(df),
            "bytes": nbytes, "first_bytes": first_bytes, "parquet_bytes": path.stat().st_size,
            "versions": f"pandas {pd.__version__}, pyarrow {pyarrow.__version__}"}


def table(mb: float, repeat: int, r: dict) -> str:
    st = r["stats"]

    def cell(k: str) -> str:
        x = st[k]
        return f"{x['median']:.0f} ({x['p10']:.0f}–{x['p90']:.0f}, {x['n']})"

    m = {k: v["median"] for k, v in st.items()}
    c = {k: v["median"] for k, v in r["cpu"].items()}

    def cpu(k: str) -> str:
        x = r["cpu"][k]
        return f"{x['median']:.0f} ({x['p10']:.0f}–{x['p90']:.0f}, {x['n']})"

    lines = [
        f"Frame of {r['rows']:,} rows, {r['bytes'] / 1e6:,.0f} MB in memory ({r['first_bytes'] / 1e6:,.0f} MB "
        f"stored; `to_parquet` file {r['parquet_bytes'] / 1e6:,.0f} MB). Median ms (p10–p90, n).", "",
        "| what | floor / reference | reference ms | nbtrack ms | ratio (target) |", "|---|---|---|---|---|",
        f"| 1% contiguous edit, re-snapshot | first snapshot | {cell('first')} | {cell('edit')} | "
        f"{100 * m['edit'] / m['first']:.1f}% of first (≤ 15%) |",
        f"| same edit, process CPU time | first snapshot's CPU | {cpu('first')} | {cpu('edit')} | "
        f"{100 * c['edit'] / c['first']:.1f}% of first |",
        f"| same edit: new bytes stored | first snapshot's bytes | {r['first_bytes'] / 1e6:,.0f} MB | "
        f"{r['share'] * r['first_bytes'] / 1e6:,.1f} MB | {100 * r['share']:.2f}% |",
        f"| same edit, chunk memo emptied (every chunk encoded again, as before) | first snapshot | "
        f"{cell('first')} | {cell('edit, no memo')} | {100 * m['edit, no memo'] / m['first']:.0f}% of first |",
        f"| 1% edit, the same frame with `user` as an object (Python strings) column | its first snapshot | "
        f"{cell('first, object column')} | {cell('edit, object column')} | "
        f"{100 * m['edit, object column'] / m['first, object column']:.1f}% of first |",
        f"| same, process CPU time | its first snapshot's CPU | {cpu('first, object column')} | "
        f"{cpu('edit, object column')} | {100 * c['edit, object column'] / c['first, object column']:.1f}% of first |",
        f"| load the frame back | `pd.read_parquet` of `df.to_parquet` | {cell('read_parquet')} | {cell('load')} | "
        f"{m['read_parquet'] / m['load']:.2f}× its speed (≥ 1.0×) |",
        "", f"{date.today()}, Python {sys.version.split()[0]}, {r['versions']}; 2-core VM shared with other jobs. "
        f"`python benchmarks/bench_frame_edits.py --mb {mb:g} --repeat {repeat}`."]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=517, help="target size (517 gives a 502 MB frame)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="nbtrack-bench-edits-") as d:
        os.chdir(d)
        r = bench(args.mb, args.repeat, Path(d))
        os.chdir(cwd)
    text = table(args.mb, args.repeat, r)
    print(text)
    if args.markdown:
        from bench_tracking import write_section

        write_section(args.markdown, "## Frame edits and loads (issue 18, target 2)", text)


if __name__ == "__main__":
    main()
