"""What ``durability = "full"`` costs per run (issue 18, target 7), alternating in one run.

    python benchmarks/bench_durability.py [--repeat 200] [--markdown docs/benchmarks.md]

Three workspaces, one run (10 params + 10 metrics, ``nbtrack.track``) in each per round:
  * normal: the default, WAL + synchronous=NORMAL (no fsync per run);
  * full: ``[store] durability = "full"`` in config.toml: the run's end is fsynced, its
    start row rides along (one fsync per run);
  * full, every commit: synchronous=FULL on every commit (two fsyncs per run: what a plain
    synchronous=FULL would do; shown to measure what the one-fsync design saves).
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
    q = statistics.quantiles(s, n=10)
    return {"median": statistics.median(s), "p10": q[0], "p90": q[-1], "n": len(s)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    import nbtrack
    from nbtrack.workspace import Workspace

    params = {f"param_{i}": i * 0.5 for i in range(10)}
    metrics = {f"metric_{i}": i / 10 for i in range(10)}
    with tempfile.TemporaryDirectory() as d:
        spaces = {}
        for label, mode in [("normal", "normal"), ("full", "full"), ("full, every commit", "full")]:
            folder = Path(d) / label.replace(" ", "").replace(",", "") / ".nbtrack"
            folder.mkdir(parents=True)
            (folder / "config.toml").write_text(f'[store]\ndurability = "{mode}"\n')
            ws = Workspace(f"sqlite:///{folder / 'meta.db'}", str(folder / "objects"), str(folder))
            if label == "full, every commit":
                ws.meta.durability = "full-every-commit"  # the start row is fsynced too
            spaces[label] = ws
        samples = {k: [] for k in spaces}

        def one(ws):
            with nbtrack.track("bench", params=params, workspace=ws) as run:
                run.log_metrics(metrics)

        for _ in range(10):
            for ws in spaces.values():
                one(ws)
        for _ in range(args.repeat):
            for label, ws in spaces.items():
                t = time.perf_counter()
                one(ws)
                samples[label].append(time.perf_counter() - t)
        for ws in spaces.values():
            ws.close()
    res = {k: stats(v) for k, v in samples.items()}
    base = res["normal"]["median"]
    lines = ["| durability | fsyncs per run | ms per run, median (p10–p90, n) | vs normal |", "|---|---|---|---|"]
    fs = {"normal": "0", "full": "1", "full, every commit": "2"}
    for k, r in res.items():
        lines.append(f"| {k} | {fs[k]} | {r['median']:.2f} ({r['p10']:.2f}–{r['p90']:.2f}, {r['n']}) | "
                     f"{r['median'] / base:.1f}× |")
    lines += ["", f"{date.today()}, Python {sys.version.split()[0]}; one run = `nbtrack.track()` with 10 params + "
              "10 metrics. `python benchmarks/bench_durability.py`."]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_tracking import write_section

        write_section(args.markdown, "## Durability: normal vs full (issue 18, target 7)", text)


if __name__ == "__main__":
    main()
