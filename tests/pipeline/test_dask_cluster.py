"""Sweeps on a real Dask cluster (`dask scheduler` + two `dask worker` processes) that shares
nothing with the client but the store: PostgreSQL for metadata, S3 (moto) for objects.

As root each worker has its own mount, PID and UTS namespaces: the client's workspace folder
and notebooks are hidden under an empty read-only tmpfs, and its hostname is ``w0``/``w1``
(tests/daskcluster.py).
"""

from __future__ import annotations

import json
import os
import threading
import time


import nbformat
import pytest
from click.testing import CliRunner

import nbtrack
from daskcluster import NOTEBOOKS, DaskCluster, aws_env, can_unshare
from nbtrack.cli import cli

pytest.importorskip("distributed")
pytest.importorskip("s3fs")
pytestmark = pytest.mark.slow

BEST_AUC = round(1 - 1 / 7 + 0.01, 6)  # train.ipynb: C=2, penalty=l1, n=3


def _approve(tmp_path, fixture: str, name: str) -> None:
    import shutil

    path = tmp_path / fixture
    if not path.exists():
        shutil.copy(os.path.join(NOTEBOOKS, fixture), path)
    nbtrack.approve(str(path), name=name, reason="test")


def _kids(sweep_id: str) -> list:
    return [nbtrack.get_run(i) for i in nbtrack.runs(parent=sweep_id).id]


def test_a_sweep_on_the_cluster_lands_intact_in_the_shared_store(team_ws, cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("NBTRACK_EXPERIMENT", "churn")  # the workers are told, they have no NBTRACK_* variables
    _approve(tmp_path, "train.ipynb", "churn-train")
    res = CliRunner().invoke(cli, ["sweep", "churn-train", "-p", "C", "0.5,1,2", "-p", "penalty", "l1,l2",
                                   "--dask", cluster.address, "--select", "metrics.auc"], catch_exceptions=False)
    assert res.exit_code == 0, res.output + cluster.logs()
    assert f"auc={BEST_AUC:.6g}" in res.output
    sweep = nbtrack.get_run(nbtrack.runs(kind="sweep").id[0])
    assert sweep.status == "finished" and sweep.tags["nbtrack.executor"] == "dask"
    assert sweep.metrics["runs"] == 6 and sweep.metrics["failed_runs"] == 0
    kids = _kids(sweep.id)
    assert len(kids) == 6 and {k.status for k in kids} == {"finished"}
    assert {k.experiment for k in kids} | {c.experiment for k in kids for c in _kids(k.id)} == {"churn"}
    assert sorted((k.params["C"], k.params["penalty"]) for k in kids) == sorted(
        (c, p) for c in (0.5, 1.0, 2.0) for p in ("l1", "l2"))
    if cluster.isolated:  # every run executed on a worker, both workers took some
        assert {k.host for k in kids} == {"w0", "w1"}
    for k in kids:
        cells = _kids(k.id)
        assert [c.kind for c in cells] == ["cell"] and cells[0].host == k.host
        expected = round(1 - 1 / (1 + k.params["C"] * 3) + (0.01 if k.params["penalty"] == "l1" else 0), 6)
        assert cells[0].metrics["auc"] == pytest.approx(expected) and k.metrics["auc"] == pytest.approx(expected)
        art = {a["name"]: a for a in k.artifacts}["executed.ipynb"]
        nb = nbformat.reads(team_ws.objects.get(art["oid"]).decode(), as_version=4)
        assert f"auc {expected}" in json.dumps(nb.cells[-1].outputs)
        injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert f"C = {k.params['C']}" in injected[0].source
    assert sweep.tags["nbtrack.best_run"] in {k.id for k in kids}
    # the workers really could not see the client's folder: what they had was the store's URLs
    assert not os.path.exists(os.path.join(cluster.dirs[0], ".nbtrack"))


def test_a_local_workspace_is_refused_by_a_cluster_that_cannot_see_it(workspace, cluster, tmp_path):
    if not cluster.isolated:
        pytest.skip("the workers share this machine's disk without namespaces (needs root + unshare)")
    _approve(tmp_path, "train.ipynb", "churn-train")
    res = CliRunner().invoke(cli, ["sweep", "churn-train", "-p", "C", "1,2", "--dask", cluster.address])
    assert res.exit_code == 2, res.output
    assert "Dask workers cannot see this workspace's" in res.output and "--objects s3://" in res.output
    assert len(nbtrack.runs()) == 0  # refused before anything was recorded


def _slow_notebook(path) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("C = 1.0\npause = 0.0")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("%load_ext nbtrack"),
                nbformat.v4.new_code_cell("%%track train\nimport time\ntime.sleep(pause)\nauc = round(C / 10, 6)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def _running(ws, n: int, seconds: float = 120) -> list[tuple[str, str]]:
    """Wait until ``n`` pipeline runs are executing (row written, status running): (id, host)."""
    from sqlalchemy import select

    from nbtrack.store.schema import runs

    deadline = time.time() + seconds
    while time.time() < deadline:
        with ws.meta.read() as conn:
            rows = conn.execute(select(runs.c.id, runs.c.host).where(runs.c.kind == "pipeline",
                                                                     runs.c.status == "running")).all()
        if len(rows) >= n:
            return [(r[0], r[1]) for r in rows]
        time.sleep(0.2)
    raise TimeoutError(f"{n} runs did not start")


@pytest.mark.parametrize("allowed_failures", [None, "0"], ids=["task-rescheduled", "scheduler-gives-up"])
def test_a_worker_killed_mid_sweep_leaves_exactly_one_run_per_parameter_set(team_ws, s3_server, tmp_path,
                                                                             tmp_path_factory, allowed_failures):
    """By default the scheduler hands the dead worker's task to the other worker, which finds the
    run started and records it failed; with ``allowed-failures: 0`` the task errs (KilledWorker)
    and the client records it."""
    if not can_unshare():
        pytest.skip("killing a whole worker machine needs PID namespaces (root + unshare)")
    _slow_notebook(tmp_path / "slow.ipynb")
    nbtrack.approve(str(tmp_path / "slow.ipynb"), name="slow", reason="test")
    n = 5
    env = aws_env(s3_server)
    if allowed_failures is not None:
        env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = allowed_failures
    with DaskCluster(2, hide=[tmp_path_factory.getbasetemp(), NOTEBOOKS], env=env) as c:
        box: dict = {}
        t = threading.Thread(target=lambda: box.update(res=nbtrack.sweep(
            "slow", {"C": [float(c) for c in range(1, n + 1)], "pause": [3.0]}, dask=c.address,
            select="metrics.auc", progress=False)))
        t.start()
        try:
            running = _running(team_ws, 2)
            victim = dict(running)  # run id -> host
            c.kill(0)  # worker w0 and its kernel: SIGKILL, mid-run
        finally:
            t.join(300)
        assert not t.is_alive()
        res = box["res"]
    killed = [rid for rid, host in victim.items() if host == "w0"]
    assert len(killed) == 1, (running, c.logs())
    kids = {k.id: k for k in _kids(res.sweep_id)}
    assert len(kids) == n and len(res.outcomes) == n  # never lost, never duplicated
    assert sorted(k.params["C"] for k in kids.values()) == [float(c) for c in range(1, n + 1)]
    assert {k.status for k in kids.values()} <= {"finished", "failed"}
    dead = kids[killed[0]]
    assert dead.status == "failed" and dead.error_type == "WorkerLost" and "died" in dead.error_message
    if allowed_failures == "0":
        assert "KilledWorker" in dead.error_message
    for k in kids.values():
        if k.id != dead.id:  # the other runs finished: the ones the dead worker had queued ran on w1
            assert k.status == "finished" and k.metrics["auc"] == pytest.approx(k.params["C"] / 10), \
                [(x.id, x.host, x.status, x.error_type, x.error_message) for x in kids.values()]
    assert [o["status"] for o in res.outcomes].count("failed") == 1
    assert nbtrack.get_run(res.sweep_id).metrics["failed_runs"] == 1
