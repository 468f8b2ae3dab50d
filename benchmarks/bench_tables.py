"""``nbtrack.runs()`` on large workspaces (issue 18, target 4): the whole table as a DataFrame.

    python benchmarks/bench_tables.py [--runs 10000 100000] [--repeat 7] [--markdown docs/benchmarks.md]

The workspace is filled in bulk with SQL (creating 100k runs through ``track()`` would take
minutes and is measured elsewhere): each run has 8 params of every stored type (str, int,
float, bool, None, a list as JSON, a sometimes-missing int, a model param) and 6 metrics
(one sometimes missing). Timed: ``runs()`` unfiltered (all runs, limit=0), a filtered and
ordered query returning about a third of them, and one page of 100 (what the browser
and the sidebar load). No peer: MLflow's ``search_runs`` did not finish 100k runs in 7 minutes
(see the tracking section); the floor shown is reading the same rows with ``pd.read_sql``
of the runs table alone (no params/metrics), which any table must at least pay.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

N_PARAMS_STR = ["rf", "svm", "lr"]


def fill(ws_dir: Path, n: int, wide: bool = False) -> None:
    """``n`` finished runs with params and metrics, written straight into meta.db.

    The default shape is the one of the issue's measurement (``bench_tracking.bench_search``):
    params model (str) and depth (int), metrics acc and loss. ``wide``: 8 params of every
    stored type and 5-6 metrics per run."""
    import nbtrack

    ws = nbtrack.use_workspace(ws_dir)
    with nbtrack.track("seed", params={"x": 1}) as r:  # creates the schema and the default experiment
        r.log_metric("m", 1.0)
    path = ws_dir / "meta.db"
    con = sqlite3.connect(path)
    exp = con.execute("select experiment_id from runs limit 1").fetchone()[0]
    con.execute("delete from params"), con.execute("delete from latest_metrics"), con.execute("delete from metrics")
    con.execute("delete from runs")
    t0 = 1.7e9
    runs, params, metrics = [], [], []
    for i in range(n):
        rid = uuid.uuid4().hex
        runs.append((rid, exp, f"r{i}", "run", "finished", "nb.ipynb", f"nb.ipynb::c{i % 50}", i // 50 + 1,
                     t0 + i, t0 + i + 0.5, 0.5))
        p = {"model": (str(N_PARAMS_STR[i % 3]), None, "str"), "depth": (str(i % 10), float(i % 10), "int")}
        m = {"acc": (i * 7919 % 10_000) / 10_000, "loss": i / n}
        if not wide:
            params += [(rid, k, v, num, t) for k, (v, num, t) in p.items()]
            metrics += [(rid, k, v, 0, t0 + i) for k, v in m.items()]
            continue
        p |= {"lr": (repr(i / n), i / n, "float"), "bootstrap": (str(i % 2 == 0), float(i % 2 == 0), "bool"),
             "note": (None, None, "none"), "layers": (json.dumps([i % 4, 8]), None, "json"),
             "model.clf.n_estimators": (str(100 + i % 5), float(100 + i % 5), "int")}
        if i % 7:
            p["seed"] = (str(i), float(i), "int")
        params += [(rid, k, v, num, t) for k, (v, num, t) in p.items()]
        m = {"acc": (i * 7919 % 10_000) / 10_000, "loss": i / n, "f1": 0.5, "auc": 0.7, "epochs": 10.0}
        if i % 3:
            m["val_acc"] = (i % 100) / 100
        metrics += [(rid, k, v, 0, t0 + i) for k, v in m.items()]
    con.executemany("insert into runs (id, experiment_id, name, kind, status, notebook, cell_key, cell_version, "
                    "started, ended, duration) values (?,?,?,?,?,?,?,?,?,?,?)", runs)
    con.executemany("insert into params (run_id, key, value, num, vtype) values (?,?,?,?,?)", params)
    con.executemany("insert into latest_metrics (run_id, key, value, step, ts) values (?,?,?,?,?)", metrics)
    con.commit()
    con.close()
    ws.meta.dispose()


def cpu() -> float:
    """CPU seconds of this process and of its (waited-for) children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def stats(samples: list[float]) -> dict:
    s = sorted(x * 1000 for x in samples)
    q = statistics.quantiles(s, n=10) if len(s) > 1 else [s[0]] * 9
    return {"median": statistics.median(s), "p10": q[0], "p90": q[-1], "n": len(s)}


def bench(n: int, repeat: int, tmp: Path, wide: bool = False) -> list[tuple[str, dict, dict]]:
    import pandas as pd

    import nbtrack

    ws_dir = tmp / f"ws{n}" / ".nbtrack"
    fill(ws_dir, n, wide)
    ws = nbtrack.use_workspace(ws_dir)
    cases = {
        "all runs, unfiltered": (lambda: nbtrack.runs(limit=0), n),
        "filter + order (a third)": (lambda: nbtrack.runs(filter="params.model == 'rf'",
                                                          order_by="metrics.acc desc"), None),
        "one page of 100": (lambda: nbtrack.runs(limit=100, offset=n // 2), 100),
    }
    floor_con = sqlite3.connect(ws_dir / "meta.db")

    def floor():
        return pd.read_sql("select * from runs", floor_con)

    out = []
    for label, (fn, expect) in cases.items():
        df = fn()  # warm-up
        assert expect is None or len(df) == expect, (label, len(df))
        floor()
        a, b, ca, cb = [], [], [], []
        for _ in range(repeat):  # alternating: the floor, then nbtrack
            t, c = time.perf_counter(), cpu(); floor(); a.append(time.perf_counter() - t); ca.append(cpu() - c)  # noqa: E702
            t, c = time.perf_counter(), cpu(); fn(); b.append(time.perf_counter() - t); cb.append(cpu() - c)  # noqa: E702
        fl, nb = stats(a), stats(b)
        fl["cpu"], nb["cpu"] = stats(ca)["median"], stats(cb)["median"]
        nb["ratio"] = statistics.median(y / x for x, y in zip(a, b))  # per alternating pair
        out.append((label, fl, nb))
    floor_con.close()
    ws.meta.dispose()
    nbtrack.use_workspace(None)
    return out


def table(results: dict[int, list], wide: bool = False) -> str:
    import pandas as pd

    lines = ["| runs | query | floor: `pd.read_sql` of the runs table, median ms (CPU) | nbtrack `runs()` median ms "
             "(p10–p90, n) | nbtrack CPU ms (incl. child) | nbtrack / floor (wall, per pair) | µs per run |",
             "|---|---|---|---|---|---|---|"]
    for n, rows in results.items():
        for label, fl, nb in rows:
            per = nb["median"] * 1000 / n if label.startswith("all") else None
            lines.append(f"| {n:,} | {label} | {fl['median']:.0f} ({fl['cpu']:.0f}) | {nb['median']:.0f} "
                         f"({nb['p10']:.0f}–{nb['p90']:.0f}, {nb['n']}) | {nb['cpu']:.0f} | {nb['ratio']:.2f} | "
                         f"{'' if per is None else f'{per:.1f}'} |")
    lines.append("")
    lines.append(f"{date.today()}, Python {sys.version.split()[0]}, pandas {pd.__version__}, SQLite "
                 f"{sqlite3.sqlite_version}; " + ("8 params of every type and 5–6 metrics per run. "
                 "`python benchmarks/bench_tables.py --wide`." if wide else "2 params and 2 metrics per run "
                 "(the issue's shape). `python benchmarks/bench_tables.py`."))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--wide", action="store_true", help="8 params and 5-6 metrics per run")
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as d:
        for n in args.runs:
            results[n] = bench(n, args.repeat, Path(d), args.wide)
    text = table(results, args.wide)
    print(text)
    if args.markdown:
        from bench_tracking import write_section

        heading = "## Tables at 100k runs (issue 18, target 4)" + (", wide runs" if args.wide else "")
        write_section(args.markdown, heading, text)


if __name__ == "__main__":
    main()
