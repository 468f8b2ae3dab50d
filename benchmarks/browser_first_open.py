"""First `%track_browser` in a fresh kernel that has pandas loaded (issue 19 item 11).

For each of N rounds a new kernel runs, as a user would:
  cell 1: import pandas, ipywidgets            (already loaded in the notebook)
  cell 2: %load_ext nbtrack
  (a pause: the user types the next cell)
  cell 3: t = perf_counter(); %track_browser *; print(perf_counter() - t)
and, in the same round, a second kernel where cell 2 and 3 are one cell (no pause: the worst case,
the background warm-up has not finished). Prints medians; target: first open <= 0.3 s.

    python benchmarks/browser_first_open.py [--rounds 5] [--runs 200] [--pause 1.0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

from jupyter_client.manager import start_new_kernel

TIMED = ("import time as _t\n_t0 = _t.perf_counter()\n_w = get_ipython().run_line_magic('track_browser', '*')\n"
         "print('ELAPSED', _t.perf_counter() - _t0)")


def run(kc, code: str) -> str:
    msg_id = kc.execute(code)
    out = []
    while True:
        msg = kc.get_iopub_msg(timeout=120)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            raise RuntimeError("\n".join(msg["content"]["traceback"]))
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return "".join(out)


def elapsed(out: str) -> float:
    return float(out.split("ELAPSED", 1)[1].split()[0])


def one(pause: float | None) -> float:
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        run(kc, "import pandas, ipywidgets")
        if pause is None:
            return elapsed(run(kc, "%load_ext nbtrack\n" + TIMED))
        run(kc, "%load_ext nbtrack")
        time.sleep(pause)
        return elapsed(run(kc, TIMED))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=200, help="runs in the workspace")
    ap.add_argument("--pause", type=float, default=1.0, help="seconds between %%load_ext and the browser cell")
    a = ap.parse_args()
    folder = tempfile.mkdtemp(prefix="nbtrack-bench-browser-")
    os.environ["NBTRACK_URI"] = os.path.join(folder, ".nbtrack")
    import nbtrack

    for i in range(a.runs):
        with nbtrack.track(f"run-{i}", params={"C": i % 7}):
            nbtrack.log_metric("acc", i / a.runs)
    nxt, same = [], []
    for _ in range(a.rounds):  # alternate the two cases
        nxt.append(one(a.pause))
        same.append(one(None))
    print(f"first %track_browser, next cell ({a.pause:g} s after %load_ext): median {statistics.median(nxt):.3f} s "
          f"(min {min(nxt):.3f}, max {max(nxt):.3f})")
    print(f"first %track_browser, same cell as %load_ext: median {statistics.median(same):.3f} s "
          f"(min {min(same):.3f}, max {max(same):.3f})")
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
