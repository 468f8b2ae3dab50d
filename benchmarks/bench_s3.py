"""A 1 GB DataFrame to S3: ``nbtrack.snapshot`` vs ``df.to_parquet("s3://...")`` (issue 15).

    python benchmarks/bench_s3.py [--gb 1.0] [--repeat 3] [--profile] [--markdown docs/benchmarks.md]

One S3-compatible server (moto's standalone server on 127.0.0.1, started here unless
AWS_ENDPOINT_URL / NBTRACK_TEST_S3_ENDPOINT points at one). Each round writes the same frame
both ways into a fresh bucket, alternating which goes first, and deletes the bucket
afterwards (moto keeps objects in memory). Reported: median seconds per write and the
ratio peer time / nbtrack time (≥ 0.8 is the target: nbtrack at least 0.8× the peer's speed).
nbtrack's time is until the version is recorded and every object is on S3.
"""

from __future__ import annotations

import argparse
import gc
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto() -> tuple[str, subprocess.Popen | None]:
    url = os.environ.get("NBTRACK_TEST_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
    if url:
        return url, None
    port = free_port()
    log = open(os.path.join(tempfile.gettempdir(), f"bench-s3-moto-{port}.log"), "wb")
    print(f"moto server log: {log.name}")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    return f"http://127.0.0.1:{port}", proc


def frame(gb: float):
    import numpy as np
    import pandas as pd

    rows = int(gb * 1e9 / 64)  # 8 columns of 8 bytes
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "id": np.arange(rows, dtype="int64"),
        "user": rng.integers(0, 1_000_000, rows),
        "day": rng.integers(0, 3650, rows),
        "qty": rng.integers(1, 100, rows),
        "price": rng.random(rows) * 100,
        "score": rng.normal(size=rows),
        "lat": rng.uniform(-90, 90, rows),
        "lon": rng.uniform(-180, 180, rows),
    })


def peer(df, bucket: str) -> float:
    # storage_options: through s3fs, as nbtrack. Without it pandas takes pyarrow's own S3 client,
    # whose CompleteMultipartUpload of a 1 GB file moto's server answers with INTERNAL_FAILURE.
    t = time.perf_counter()
    df.to_parquet(f"s3://{bucket}/peer/frame.parquet", storage_options={"anon": False})
    return time.perf_counter() - t


def ours(df, bucket: str, tmp: str, profile: bool) -> float:
    import nbtrack
    from nbtrack import workspace as ws_mod

    folder = Path(tmp) / f"ws-{bucket}" / ".nbtrack"
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text(f'[store]\nobjects = "s3://{bucket}/ws"\n')
    ws_mod.reset_cache()
    ws = ws_mod.use_workspace(folder)
    ws.meta.migrate()
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t = time.perf_counter()
    v = nbtrack.snapshot(df, "big")
    wait = getattr(nbtrack, "flush", None)  # a background snapshot writer, if any, must have finished
    if callable(wait):
        wait()
    elapsed = time.perf_counter() - t
    if prof is not None:
        import pstats

        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    assert v is not None
    ws_mod.reset_cache()
    return elapsed


def drop_bucket(client, bucket: str) -> int:
    """Delete the bucket and everything in it; return how many bytes it held."""
    paginator = client.get_paginator("list_objects_v2")
    stored = 0
    for page in paginator.paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        stored += sum(o["Size"] for o in page.get("Contents", []))
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
    for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        client.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
    client.delete_bucket(Bucket=bucket)
    return stored


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="print nbtrack's profile of the last round")
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    endpoint, proc = start_moto()
    for k, v in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
                 "AWS_ENDPOINT_URL": endpoint, "AWS_EC2_METADATA_DISABLED": "true"}.items():
        os.environ.setdefault(k, v)
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    import boto3
    import s3fs

    client = boto3.client("s3", endpoint_url=endpoint)
    df = frame(args.gb)
    size = int(df.memory_usage(index=True).sum())
    print(f"frame: {len(df):,} rows x {df.shape[1]} columns, {size / 1e9:.2f} GB in memory; S3 at {endpoint}")
    times: dict[str, list[float]] = {"peer": [], "nbtrack": []}
    stored: dict[str, int] = {}
    failures = {"peer": 0, "nbtrack": 0}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.repeat):
                order = ["peer", "nbtrack"] if r % 2 == 0 else ["nbtrack", "peer"]
                for who in order:
                    for _attempt in range(3):  # moto's server sometimes answers a multipart completion with 500
                        bucket = f"bench-{uuid.uuid4().hex[:10]}"
                        client.create_bucket(Bucket=bucket)
                        s3fs.S3FileSystem.clear_instance_cache()
                        try:
                            last = args.profile and r == args.repeat - 1
                            t = peer(df, bucket) if who == "peer" else ours(df, bucket, tmp, bool(last))
                            break
                        except OSError as e:
                            failures[who] += 1
                            print(f"round {r + 1} {who}: the server failed ({e}); again", flush=True)
                        finally:
                            stored[who] = drop_bucket(client, bucket)
                            gc.collect()
                    else:
                        raise SystemExit(f"{who} failed 3 times in round {r + 1}")
                    times[who].append(t)
                    print(f"round {r + 1} {who:8s} {t:6.2f} s  ({size / 1e6 / t:,.0f} MB/s of frame, "
                          f"{stored[who] / 1e6:,.0f} MB stored)", flush=True)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["peer"] / med["nbtrack"]
    lines = [
        "| write of the frame to S3 (moto) | median s | frame MB/s | MB stored | rounds |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| `df.to_parquet(\"s3://...\", storage_options=...)` (pyarrow + s3fs) | {med['peer']:.2f} | "
        f"{size / 1e6 / med['peer']:,.0f} | {stored['peer'] / 1e6:,.0f} | {len(times['peer'])} |",
        f"| `nbtrack.snapshot(df, name)` (objects on S3) | {med['nbtrack']:.2f} | "
        f"{size / 1e6 / med['nbtrack']:,.0f} | {stored['nbtrack'] / 1e6:,.0f} | {len(times['nbtrack'])} |",
        "",
        f"nbtrack speed vs the peer: **{ratio:.2f}×** (target ≥ 0.8×; {date.today()}, "
        f"{len(df):,} rows × {df.shape[1]} numeric columns, {size / 1e9:.2f} GB in memory; Python "
        f"{sys.version.split()[0]}; `python benchmarks/bench_s3.py --gb {args.gb:g} --repeat {args.repeat}`).",
    ]
    if any(failures.values()):
        lines.append(f"Writes the server failed (HTTP 500) and that were timed again: {failures}.")
    print("\n".join(lines))
    if args.markdown:
        print(f"(paste the table into {args.markdown} by hand: it is shared by several benchmarks)")


if __name__ == "__main__":
    main()
