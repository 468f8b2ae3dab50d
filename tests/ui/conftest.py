"""Workspaces for the UI tests.

``big`` holds 10,000 runs of one notebook, built once per session. They are
inserted in one transaction through the store layer (about 2 s; ``nbtrack.track``
takes 4-10 ms a run on a busy CI machine, so 10,000 of them would take minutes);
their values are a function of their index, so tests know what each page must
show. ``small`` is a fresh workspace whose runs are recorded with
``nbtrack.track`` exactly as a user's would be.
"""

from __future__ import annotations

import time

import pytest

import nbtrack
from nbtrack import workspace as ws_mod

BIG_NOTEBOOK = "big.ipynb"
BIG_RUNS = 10_000
T0 = 1_700_000_000.0  # run i started at T0 + i seconds: run 9999 is the newest
MODELS = ("rf", "svm")
LRS = (0.001, 0.01, 0.1)


def big_run(i: int) -> dict:
    """What run ``i`` of the big workspace holds."""
    acc = (i % 1000) / 1000
    return {"id": f"b{i:015d}", "name": f"run-{i:05d}", "status": "failed" if i % 10 == 3 else "finished",
            "started": T0 + i, "duration": (i % 7) * 0.5, "params": {"lr": LRS[i % 3], "model": MODELS[i % 2]},
            "metrics": {"acc": acc, "loss": round(1 - acc, 6)}}


def _insert_big(ws) -> None:
    from sqlalchemy import insert

    from nbtrack.store import runs as store_runs
    from nbtrack.store.schema import latest_metrics, metrics, params, runs

    run_rows, param_rows, metric_rows = [], [], []
    with ws.meta.write() as conn:
        exp = store_runs.experiment_id(conn, "default", T0)
        for i in range(BIG_RUNS):
            r = big_run(i)
            run_rows.append({"id": r["id"], "experiment_id": exp, "name": r["name"], "kind": "cell",
                             "status": r["status"], "notebook": BIG_NOTEBOOK, "cell_key": f"{BIG_NOTEBOOK}::train",
                             "cell_version": i + 1, "started": r["started"], "ended": r["started"] + r["duration"],
                             "duration": r["duration"]})
            for k, v in r["params"].items():
                text, num, vtype = store_runs.encode_param(v)
                param_rows.append({"run_id": r["id"], "key": k, "value": text, "num": num, "vtype": vtype})
            for k, v in r["metrics"].items():
                metric_rows.append({"run_id": r["id"], "key": k, "value": v, "step": 0, "ts": r["started"]})
        conn.execute(insert(runs), run_rows)
        conn.execute(insert(params), param_rows)
        conn.execute(insert(metrics), metric_rows)
        conn.execute(insert(latest_metrics), metric_rows)


@pytest.fixture(scope="session")
def big_path(tmp_path_factory):
    """A workspace folder with 10,000 runs of ``big.ipynb`` (built once)."""
    folder = tmp_path_factory.mktemp("big") / ".nbtrack"
    ws = ws_mod.init(folder)
    try:
        t = time.perf_counter()
        _insert_big(ws)
        print(f"\nbuilt {BIG_RUNS} runs in {time.perf_counter() - t:.1f}s")
    finally:
        ws_mod.reset_cache()
    return folder


@pytest.fixture
def big(big_path, monkeypatch, tmp_path):
    """The 10,000-run workspace, pinned for one test."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NBTRACK_NOTEBOOK", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    ws = ws_mod.use_workspace(big_path)
    yield ws
    ws_mod.reset_cache()


SOURCES = [
    "# train\nlr = 0.1\nepochs = 3\nacc = 0.80\n",
    "# train\nlr = 0.05\nepochs = 3\nacc = 0.85\n",
    "# train\nlr = 0.05\nepochs = 5\nacc = 0.9\nprint('done')\n",
]


def track_cell(ws, source: str, name: str, notebook: str, label: str, params: dict, history: dict) -> str:
    """Record one run of a tracked cell (source, params, metric history per step); return its id."""
    oid = ws.objects.put(source.encode())
    with nbtrack.track(name, params=params, kind="cell", notebook=notebook, cell_key=f"{notebook}::{label}",
                       source_oid=oid) as run:
        for key, values in history.items():
            for step, value in enumerate(values):
                run.log_metric(key, value, step=step)
    return run.id


@pytest.fixture
def small(workspace):
    """Three versions of the cell ``train`` of ``small.ipynb`` and one run of another cell.

    Returns the run ids, oldest first: ``[v1, v2, v3, other]``.
    """
    ids = []
    for i, src in enumerate(SOURCES):
        lr, epochs = (0.1, 3) if i == 0 else (0.05, 3 if i == 1 else 5)
        ids.append(track_cell(workspace, src, "train", "small.ipynb", "train", {"lr": lr, "epochs": epochs},
                              {"acc": [0.5 + 0.1 * s + 0.05 * i for s in range(epochs)],
                               "loss": [1.0 - 0.2 * s for s in range(epochs)]}))
    ids.append(track_cell(workspace, "x = 1\n", "prep", "small.ipynb", "prep", {"x": 1}, {}))
    return ids
