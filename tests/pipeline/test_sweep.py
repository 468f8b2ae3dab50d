"""Sweeps with real kernels: local worker processes and a Dask LocalCluster."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import nbtrack
from nbtrack.cli import cli
from nbtrack.errors import InvalidInput
from nbtrack.pipeline.sweep import expand, parse_space, plot_sweep

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
BEST_AUC = round(1 - 1 / 7 + 0.01, 6)  # C=2, penalty=l1, n=3


def _check_structure(sweep_id: str, n: int, failed: int) -> None:
    sweep = nbtrack.get_run(sweep_id)
    assert sweep.kind == "sweep" and sweep.status == "finished"
    kids = nbtrack.runs(parent=sweep_id)
    assert len(kids) == n and set(kids.kind) == {"pipeline"}
    assert (kids.status == "failed").sum() == failed
    for rid in kids[kids.status == "finished"].id:
        cells = nbtrack.runs(parent=rid)
        assert list(cells.kind) == ["cell"] and cells["metrics.auc"].notna().all()
    assert sweep.metrics["runs"] == n and sweep.metrics["failed_runs"] == failed


def test_space_parsing_and_random_draws():
    space, texts = parse_space([("C", "0.1,1,10"), ("penalty", "l1,l2")])
    assert space == {"C": [0.1, 1, 10], "penalty": ["l1", "l2"]} and texts["C"] == ["0.1", "1", "10"]
    assert len(expand(space)) == 6
    a, b = expand(space, 4, seed=7), expand(space, 4, seed=7)
    assert a == b and len({tuple(sorted(d.items())) for d in a}) == 4
    with pytest.raises(InvalidInput):
        parse_space([("C", "1,,2")])


def test_local_sweep_with_two_workers_lists_failures_and_picks_the_best(approve, workspace):
    approve("train.ipynb", "churn-train")
    res = CliRunner().invoke(cli, ["sweep", "churn-train", "-p", "C", "0,1,2", "-p", "penalty", "l1,l2",
                                   "--parallel", "2", "--select", "metrics.auc"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    sweep_id = nbtrack.runs(kind="sweep").id[0]
    _check_structure(sweep_id, 6, failed=2)
    assert "best: run" in res.output and f"auc={BEST_AUC:.6g}" in res.output
    assert "2 failed run(s):" in res.output and "C must be positive" in res.output
    assert "[6/6]" in res.output  # a line per run when not on a terminal
    assert nbtrack.get_run(sweep_id).tags["nbtrack.best_run"]
    table = nbtrack.runs(parent=sweep_id)
    assert table["metrics.auc"].max() == pytest.approx(BEST_AUC)
    fig = plot_sweep(sweep_id, "metrics.auc")
    assert [ax.get_xlabel() for ax in fig.axes] == ["C", "penalty"]


def test_invalid_values_stop_the_sweep_before_it_starts(approve, workspace):
    approve("train.ipynb", "churn-train")
    with pytest.raises(InvalidInput, match="parameter 'C': expected float"):
        nbtrack.sweep("churn-train", {"C": [1, "big"]}, progress=False)
    assert len(nbtrack.runs()) == 0


@pytest.mark.slow  # issue 19: kept out of the fast subset (README)
def test_dask_local_cluster_sweep(approve, workspace):
    distributed = pytest.importorskip("distributed")
    approve("train.ipynb", "churn-train")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        res = nbtrack.sweep("churn-train", {"C": [0.5, 1, 2], "penalty": ["l1", "l2"]}, dask=cluster.scheduler_address,
                            select="metrics.auc", progress=False)
    assert res.exit_code == 0 and not res.failed
    assert res.best["params"] == {"C": 2.0, "penalty": "l1"}
    assert res.best["metrics"]["auc"] == pytest.approx(BEST_AUC)
    _check_structure(res.sweep_id, 6, failed=0)
    hosts = set(nbtrack.runs(parent=res.sweep_id).id.map(lambda i: nbtrack.get_run(i).tags.get("nbtrack.sweep")))
    assert hosts == {res.sweep_id}


def test_workers_fork_outside_a_kernel_even_after_ipykernel_was_imported():
    import sys

    import ipykernel.kernelapp  # noqa: F401  (jupyter_client imports it when it finds kernelspecs)

    from nbtrack.pipeline import workers

    assert not workers._in_kernel()
    if sys.platform.startswith("linux"):
        assert workers._context().get_start_method() == "fork"


def test_forked_workers_take_the_sweeps_environment_fingerprint(approve, workspace, tmp_path, monkeypatch):
    """The fingerprint (packages, git state) is computed once, by the sweep process, while its workers
    (forked first: their first kernels boot meanwhile) already run: neither worker computes it again,
    and every run references the sweep run's environment object."""
    from sqlalchemy import select

    from nbtrack.capture import env
    from nbtrack.store.schema import runs as runs_table

    approve("train.ipynb", "churn-train")
    computed = tmp_path / "computed"
    real = env.compute

    def compute():
        import multiprocessing

        with open(computed, "a") as f:
            f.write(f"{os.getpid()} {len(multiprocessing.active_children())}\n")
        return real()

    monkeypatch.setattr(env, "compute", compute)
    monkeypatch.setattr(env, "_result", None)  # as in a new command's process
    monkeypatch.setattr(env, "_thread", None)
    res = nbtrack.sweep("churn-train", {"C": [1, 2, 3, 4]}, parallel=2, progress=False)
    assert computed.read_text().split() == [str(os.getpid()), "2"]  # once, here, with both workers running
    with workspace.meta.engine.connect() as c:
        rows = c.execute(select(runs_table.c.id, runs_table.c.parent_id, runs_table.c.env_oid)).all()
    kids = [r for r in rows if r.parent_id == res.sweep_id]
    sweep_oid = next(r.env_oid for r in rows if r.id == res.sweep_id)
    assert len(kids) == 4 and sweep_oid and {r.env_oid for r in kids} == {sweep_oid}


@pytest.mark.slow
def test_ctrl_c_stops_a_parallel_sweep_and_records_its_runs_as_interrupted(approve, workspace, tmp_path):
    """Ctrl-C in a terminal (SIGINT to the foreground process group: the sweep and its workers):
    the command ends at once with 130, the sweep and both running runs are recorded as
    interrupted, and no worker or kernel is left behind."""
    shutil.copy(NOTEBOOKS / "slow.ipynb", tmp_path / "slow.ipynb")
    approve("slow.ipynb", "slow")
    pidfile = tmp_path / "kernel.pid"
    env = {**os.environ, "NBTRACK_DRIVER": "0"}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "nbtrack"), "sweep", "slow", "-p", "seconds",
                             "30,31", "-p", "pidfile", str(pidfile), "--parallel", "2"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    deadline = time.time() + 120
    while not (pidfile.exists() and pidfile.read_text()) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert pidfile.exists(), proc.communicate(timeout=5)[0] if proc.poll() is not None else "no kernel started"
    time.sleep(1.5)  # both runs inside time.sleep(seconds)
    kernel_pid = int(pidfile.read_text())
    t = time.time()
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert time.time() - t < 20, out
    assert proc.returncode == 130, out
    assert "interrupted: the sweep was stopped and recorded as interrupted" in out
    sweep = nbtrack.runs(kind="sweep")
    assert list(sweep.status) == ["interrupted"]
    kids = nbtrack.runs(parent=sweep.id[0])
    assert sorted(kids.status) == ["interrupted", "interrupted"], kids[["status"]]
    for _ in range(50):
        try:
            os.killpg(proc.pid, 0)  # any process left in the command's group: a worker or a kernel
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("a process of the sweep is still alive after Ctrl-C")
    with pytest.raises(ProcessLookupError):
        os.kill(kernel_pid, 0)


@pytest.mark.slow
def test_a_killed_worker_loses_no_run(approve, workspace, tmp_path):
    """SIGKILL of one local worker mid-sweep (the pool breaks and stops its other worker too): the two
    runs that had started are recorded as failed (not run again, not left 'running'), the two that
    had not started run on a new pool; the sweep ends normally with exactly one run per parameter set."""
    import psutil

    shutil.copy(NOTEBOOKS / "slow.ipynb", tmp_path / "slow.ipynb")
    approve("slow.ipynb", "slow")
    env = {**os.environ, "NBTRACK_DRIVER": "0"}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "nbtrack"), "sweep", "slow", "-p", "seconds",
                             "60,61,0.1,0.2", "--parallel", "2"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            kids = nbtrack.runs(kind="pipeline")
            if len(kids) == 2 and set(kids.status) == {"running"}:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"the two long runs did not start: {proc.communicate(timeout=5)[0]}")
        time.sleep(1.0)  # both inside time.sleep(seconds)
        workers = [p for p in psutil.Process(proc.pid).children() if "sweep" in " ".join(p.cmdline())]
        assert len(workers) == 2, workers
        workers[0].kill()
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    sweep = nbtrack.runs(kind="sweep")
    assert list(sweep.status) == ["finished"], out
    kids = nbtrack.runs(parent=sweep.id[0])
    assert len(kids) == 4, kids[["status", "params.seconds"]]
    by_seconds = dict(zip(kids["params.seconds"], kids.status))
    assert by_seconds == {60.0: "failed", 61.0: "failed", 0.1: "finished", 0.2: "finished"}, by_seconds
    for rid in kids[kids.status == "failed"].id:
        run = nbtrack.get_run(rid)
        assert run.error_type == "WorkerLost" and "worker process of the sweep died" in run.error_message
    assert nbtrack.get_run(sweep.id[0]).metrics["failed_runs"] == 2
