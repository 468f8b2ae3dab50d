"""Model serving and batch scoring, nbtrack vs MLflow, side by side in one run.

    python benchmarks/bench_serve.py [--rounds 3] [--seconds 10] [--rows 1000000] [--markdown docs/benchmarks.md]

Measures (see ../shared/BENCH.md; A and B alternate, medians over rounds):

* single-row predictions over HTTP, 8 concurrent connections, the same load generator for both
  (Debian's ``wrk``, one thread, the same JSON body ``{"dataframe_records": [row]}``, which both
  servers accept): requests/s, p50 and p99 latency. Same model: a scikit-learn pipeline with
  preprocessing (StandardScaler on 8 numeric columns, OneHotEncoder on 2 categorical ones,
  LogisticRegression). nbtrack: ``nbtrack serve NAME@production`` with its defaults (one worker,
  prediction log on, every request logged). MLflow: ``mlflow models serve --env-manager local``
  (one worker) of the same model saved with ``mlflow.sklearn.save_model``;
* batch scoring of a 1M-row parquet file: ``nbtrack.predict(ref, in.parquet, out.parquet)`` (read,
  validate, score, write) vs ``model.predict(df)`` on the frame already in memory.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

LUA = """wrk.method = "POST"
wrk.body = [[{body}]]
wrk.headers["Content-Type"] = "application/json"
"""


def frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cols = {f"x{i}": rng.normal(size=n) for i in range(8)}
    cols["region"] = rng.choice(["north", "south", "east", "west"], n)
    cols["plan"] = rng.choice(["basic", "plus", "pro"], n)
    return pd.DataFrame(cols)


def model(X: pd.DataFrame):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    y = ((X["x0"] + X["x1"] > 0) ^ (X["plan"] == "pro")).astype(int)
    pre = make_column_transformer((StandardScaler(), [f"x{i}" for i in range(8)]),
                                  (OneHotEncoder(handle_unknown="ignore"), ["region", "plan"]))
    return make_pipeline(pre, LogisticRegression(max_iter=500)).fit(X, y)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen, timeout: float = 180) -> float:
    import urllib.request

    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return time.monotonic() - t0
        except Exception:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {timeout} s")


def post(url: str, body: bytes) -> dict:
    import urllib.request

    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=30).read())


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def wrk(url: str, script: Path, seconds: int, connections: int = 8) -> dict:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, flags=re.M))
    errors = sum(int(x) for x in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    if "50" not in lat or "99" not in lat:  # nothing answered in time: wrk prints no distribution
        print(out, flush=True)
        return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "p50": float("nan"),
                "p99": float("nan"), "errors": max(errors, 1)}
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "p50": _ms(lat["50"]),
            "p99": _ms(lat["99"]), "errors": errors}


def start_servers(tmp: Path, X: pd.DataFrame, m) -> tuple[dict, list[subprocess.Popen]]:
    import mlflow.sklearn

    import nbtrack

    env = {**os.environ, "NBTRACK_URI": str(tmp / ".nbtrack"), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'ml.db'}"}
    os.environ["NBTRACK_URI"] = env["NBTRACK_URI"]
    nbtrack.log_model(m, "bench", X=X)
    nbtrack.set_alias("bench", "production", 1)
    mlflow.sklearn.save_model(m, str(tmp / "mlmodel"), input_example=X.head(2))
    procs, urls = [], {}
    p1, p2, p3 = free_port(), free_port(), free_port()
    # server output goes to files: a pipe nobody reads fills up and blocks the server (MLflow logs each request)
    logs = [open(tmp / f"server-{i}.log", "w") for i in range(3)]
    procs.append(subprocess.Popen([sys.executable, "-m", "nbtrack", "serve", "bench@production", "--port", str(p1)],
                                  env=env, stdout=logs[0], stderr=subprocess.STDOUT, cwd=tmp))
    procs.append(subprocess.Popen(["mlflow", "models", "serve", "-m", str(tmp / "mlmodel"), "--env-manager", "local",
                                   "-p", str(p2), "-h", "127.0.0.1"], env=env, stdout=logs[1],
                                  stderr=subprocess.STDOUT, cwd=tmp))
    procs.append(subprocess.Popen([sys.executable, "-m", "nbtrack", "serve", "bench@production", "--port", str(p3),
                                   "--no-log"], env=env, stdout=logs[2], stderr=subprocess.STDOUT, cwd=tmp))
    urls["nbtrack"] = (f"http://127.0.0.1:{p1}/v1/models/bench/predict", f"http://127.0.0.1:{p1}/health", procs[0])
    urls["mlflow"] = (f"http://127.0.0.1:{p2}/invocations", f"http://127.0.0.1:{p2}/ping", procs[1])
    urls["nolog"] = (f"http://127.0.0.1:{p3}/v1/models/bench/predict", f"http://127.0.0.1:{p3}/health", procs[2])
    return urls, procs


def bench_http(rounds: int, seconds: int, tmp: Path) -> dict:
    X = frame(5000)
    m = model(X)
    row = X.iloc[[7]]
    body = json.dumps({"dataframe_records": row.to_dict("records")})
    script = tmp / "post.lua"
    script.write_text(LUA.format(body=body))
    urls, procs = start_servers(tmp, X, m)
    results: dict = {"nbtrack": [], "mlflow": [], "nolog": []}
    try:
        for name, (url, health, proc) in urls.items():
            wait_up(health, proc)
            got = post(url, body.encode())["predictions"]
            assert got == m.predict(row).tolist(), (name, got)
        for name, (url, _, _) in urls.items():  # warm-up
            wrk(url, script, 2)
        for r in range(rounds):
            order = ["nbtrack", "mlflow", "nolog"] if r % 2 == 0 else ["nolog", "mlflow", "nbtrack"]
            for name in order:
                res = wrk(urls[name][0], script, seconds)
                results[name].append(res)
                print(f"round {r + 1} {name:8s} {res['rps']:8.1f} req/s  p50 {res['p50']:7.2f} ms  "
                      f"p99 {res['p99']:7.2f} ms  errors {res['errors']}", flush=True)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        if any(x["rps"] == 0 for rs in results.values() for x in rs):
            print((tmp / "server-1.log").read_text()[-3000:])
    import nbtrack

    logged = len(nbtrack.load("bench.predictions"))
    med = {name: {k: statistics.median(x[k] for x in rs) for k in ("rps", "p50", "p99")}
           for name, rs in results.items()}
    med["errors"] = {name: sum(x["errors"] for x in rs) for name, rs in results.items()}
    med["logged"] = logged
    return med


def bench_batch(rows: int, rounds: int, tmp: Path) -> dict:
    import nbtrack

    X = frame(rows, seed=1)
    m = nbtrack.load_model("bench@production")
    X.to_parquet(tmp / "in.parquet", row_group_size=100_000)
    m.predict(X.head(1000))
    nb, inproc = [], []
    for r in range(rounds):
        for side in (("nb", "in") if r % 2 == 0 else ("in", "nb")):
            t0 = time.perf_counter()
            if side == "nb":
                res = nbtrack.predict("bench@production", tmp / "in.parquet", tmp / "out.parquet")
                assert res.rows == rows
                nb.append(time.perf_counter() - t0)
            else:
                m.predict(X)
                inproc.append(time.perf_counter() - t0)
    out = pd.read_parquet(tmp / "out.parquet")
    assert (out["prediction"].to_numpy() == m.predict(X)).all()
    return {"nbtrack": statistics.median(nb), "inproc": statistics.median(inproc), "rows": rows}


def markdown(http: dict, batch: dict, args: argparse.Namespace) -> str:
    import mlflow
    import sklearn

    nb, ml, nl = http["nbtrack"], http["mlflow"], http["nolog"]
    return f"""## Serving

`python benchmarks/bench_serve.py --rounds {args.rounds} --seconds {args.seconds} --rows {args.rows}`
({date.today()}, 2 shared cores, MLflow {mlflow.__version__}, scikit-learn {sklearn.__version__}, Python
{sys.version.split()[0]}). Same model on both sides: a scikit-learn pipeline (StandardScaler on 8
numeric columns, OneHotEncoder on 2 categorical ones, LogisticRegression). Load: `wrk -t1 -c8`
(one thread, 8 connections), {args.seconds} s per measurement, nbtrack and MLflow alternating,
medians of {args.rounds} rounds; the same single-row body `{{"dataframe_records": [row]}}` for both.
nbtrack: `nbtrack serve bench@production` with its defaults (1 worker, signature validation,
prediction log on: {http['logged']:,} rows logged during the run). MLflow: `mlflow models serve
--env-manager local` (1 worker).

| what | MLflow (median) | nbtrack (median) | ratio | target |
|---|---|---|---|---|
| single-row requests/s | {ml['rps']:.0f} | {nb['rps']:.0f} | **{nb['rps'] / ml['rps']:.1f}×** | ≥ 3× |
| p50 latency | {ml['p50']:.2f} ms | {nb['p50']:.2f} ms | {ml['p50'] / nb['p50']:.1f}× lower | — |
| p99 latency | {ml['p99']:.2f} ms | {nb['p99']:.2f} ms | {ml['p99'] / nb['p99']:.1f}× lower | lower |
| failed requests | {http['errors']['mlflow']} | {http['errors']['nbtrack']} | | 0 |
| same, nbtrack with `--no-log`: requests/s, p50, p99 | {ml['rps']:.0f}, {ml['p50']:.2f} ms, {ml['p99']:.2f} ms | {nl['rps']:.0f}, {nl['p50']:.2f} ms, {nl['p99']:.2f} ms | {nl['rps'] / ml['rps']:.1f}× | — |

Batch scoring of {batch['rows']:,} rows (parquet in, parquet out, validated, 100k-row chunks) vs
`model.predict` on the same frame already in memory:

| what | `model.predict` in process | `nbtrack.predict` file to file | speed ratio | target |
|---|---|---|---|---|
| {batch['rows']:,} rows | {batch['inproc']:.2f} s | {batch['nbtrack']:.2f} s | **{batch['inproc'] / batch['nbtrack']:.2f}×** | ≥ 0.8× |
"""


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^## Serving\n.*?(?=^## |\Z)", flags=re.S | re.M)
    text = pattern.sub(section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed (apt-get install wrk)")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        http = bench_http(args.rounds, args.seconds, tmp)
        batch = bench_batch(args.rows, args.rounds, tmp)
    section = markdown(http, batch, args)
    print(section)
    if args.markdown:
        write_section(args.markdown, section)


if __name__ == "__main__":
    main()
