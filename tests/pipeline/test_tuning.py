"""Tuned (Optuna) sweeps: spaces, TPE vs random, real-kernel trials, pruning, resume after a kill."""

from __future__ import annotations

import os
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
from nbtrack.pipeline.parameters import load_schema
from nbtrack.pipeline.space import parse_space

optuna = pytest.importorskip("optuna")
sys.path.insert(0, str(Path(__file__).parent))
import tuning_notebook  # noqa: E402

SCHEMA = load_schema([{"name": "C", "default": 1.0, "type": "float"}, {"name": "depth", "default": 3, "type": "int"},
                      {"name": "kernel", "default": "rbf", "type": "str"}, {"name": "n", "default": 3}])
OBJECTIVE = "metrics.accuracy max"


@pytest.fixture
def tune(approve, tmp_path):
    tuning_notebook.write(tmp_path / "tune.ipynb")
    approve("tune.ipynb", "tune")
    return "tune"


def test_space_from_bounds_and_the_parameters_cell():
    dims = {d.name: d for d in parse_space([("C", "log:1e-3..1e2"), ("depth", "int:2..12"),
                                            ("kernel", "choice:rbf,linear"), ("n", "5")], SCHEMA)}
    assert (dims["C"].kind, dims["C"].low, dims["C"].high, dims["C"].log) == ("float", 1e-3, 1e2, True)
    assert (dims["depth"].kind, dims["depth"].low, dims["depth"].high) == ("int", 2, 12)
    assert dims["kernel"].choices == ("rbf", "linear") and dims["n"].kind == "fixed" and dims["n"].choices == (5,)
    assert parse_space([("depth", "log:1..64")], SCHEMA)[0].kind == "int"  # typed by the cell
    assert parse_space([("C", "0..1:0.1")], SCHEMA)[0].step == 0.1
    assert parse_space([("C", [0.1, 1])], SCHEMA)[0].choices == (0.1, 1.0)


@pytest.mark.parametrize("name,spec,says", [
    ("C", "log:0..1", "a log range needs bounds above 0"),
    ("C", "log:2..1", "must be below the high bound"),
    ("C", "log:1..x", "'x' is not a number"),
    ("depth", "1.5..3", "'1.5' is not an integer"),
    ("depth", "float:0..1", "depth is an int parameter"),
    ("kernel", "int:1..3", "kernel is a str parameter"),
    ("depth", "choice:2,big", "expected int"),
    ("max_depth", "int:2..12", "has no parameter 'max_depth'"),
    ("C", "1..", "is not a number"),
])
def test_bad_bounds_are_one_clear_line(name, spec, says):
    with pytest.raises(InvalidInput, match=says) as e:
        parse_space([(name, spec)], SCHEMA)
    assert "\n" not in str(e.value) and f"-p {name}" in str(e.value)


def test_cli_bounds_errors_exit_2_with_one_line(tune):
    runner = CliRunner()
    for args in (["-p", "C", "log:0..1"], ["-p", "steps", "0.5..2"], ["-p", "nope", "1..2"], ["-p", "C", "2"]):
        res = runner.invoke(cli, ["sweep", "tune", "--optuna", "--trials", "2", "--objective", OBJECTIVE, *args])
        assert res.exit_code == 2, res.output
        assert len(res.stderr.strip().splitlines()) == 1 and res.stderr.startswith("Error: "), res.stderr
    res = runner.invoke(cli, ["sweep", "tune", "--trials", "2", "-p", "C", "1,2"])
    assert res.exit_code == 2 and "need --optuna" in res.stderr
    res = runner.invoke(cli, ["sweep", "tune", "--optuna", "--objective", "metrics.accuracy up", "-p", "C", "1..2"])
    assert res.exit_code == 2 and "max or min" in res.stderr
    assert len(nbtrack.runs()) == 0  # nothing started


def _best(sampler, trials: int) -> float:
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lambda t: tuning_notebook.objective(t.suggest_float("C", 1e-3, 1e5, log=True),
                                                       t.suggest_float("gamma", 1e-8, 1e2, log=True)), n_trials=trials)
    return study.best_value


def test_tpe_finds_a_better_objective_than_random_on_average_over_seeds():
    """The notebook's objective in this process (seeded, deterministic): 8 seeds x 15 trials each."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seeds, trials = range(8), 15
    tpe = [_best(optuna.samplers.TPESampler(seed=s, n_startup_trials=5), trials) for s in seeds]
    rnd = [_best(optuna.samplers.RandomSampler(seed=s), trials) for s in seeds]
    mean_tpe, mean_rnd = sum(tpe) / len(tpe), sum(rnd) / len(rnd)
    print(f"best accuracy after {trials} trials, mean over {len(tpe)} seeds: TPE {mean_tpe:.4f}, random {mean_rnd:.4f}")
    assert mean_tpe > mean_rnd


def test_tuned_sweep_in_real_kernels_registers_the_best_through_the_gate(tune, workspace):
    res = CliRunner().invoke(cli, ["sweep", "tune", "--optuna", "--trials", "3", "--objective", OBJECTIVE,
                                   "-p", "C", "log:1e-1..1e2", "-p", "gamma", "log:1e-4..1e-2", "--seed", "1",
                                   "--select-best", "--register", "digits", "--promote-to", "staging",
                                   "--gate", "metrics.accuracy >= 0.5"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    sweep = nbtrack.runs(kind="sweep")
    assert len(sweep) == 1 and sweep.status[0] == "finished"
    sweep_run = nbtrack.get_run(sweep.id[0])
    assert sweep_run.tags["nbtrack.sweep_mode"] == "optuna" and sweep_run.params["C"] == "log:1e-1..1e2"
    kids = nbtrack.runs(parent=sweep_run.id)
    assert len(kids) == 3 and set(kids.kind) == {"pipeline"} and set(kids.status) == {"finished"}
    assert sorted(nbtrack.get_run(i).tags["nbtrack.trial"] for i in kids.id) == ["0", "1", "2"]
    assert all(0.1 <= c <= 100 for c in kids["params.C"])
    best = kids["metrics.accuracy"].max()
    assert sweep_run.metrics["best.accuracy"] == pytest.approx(best)
    assert f"accuracy={best:.6g}" in res.output and "registered digits@1, promoted to digits@staging" in res.output
    assert nbtrack.get_run(sweep_run.tags["nbtrack.best_run"]).tags["nbtrack.gates"].startswith("passed")
    assert os.path.exists(os.path.join(nbtrack.get_workspace().root, "optuna.db"))
    study = optuna.load_study(study_name=sweep_run.tags["nbtrack.study"],
                              storage=f"sqlite:///{nbtrack.get_workspace().root}/optuna.db")
    assert len(study.trials) == 3 and study.best_value == pytest.approx(best)
    for kind in ("history", "importances"):
        fig = nbtrack.plot_sweep(sweep_run.id, kind=kind)
        assert fig.axes and fig.axes[0].has_data()
    # the same command again: the study is complete, nothing runs again
    again = CliRunner().invoke(cli, ["sweep", "tune", "--optuna", "--trials", "3", "--objective", OBJECTIVE,
                                     "-p", "C", "log:1e-1..1e2", "-p", "gamma", "log:1e-4..1e-2", "--seed", "1"])
    assert again.exit_code == 0 and len(nbtrack.runs(parent=sweep_run.id)) == 3 and len(nbtrack.runs(kind="sweep")) == 1


def test_select_best_picks_the_winner_and_gate_and_register_need_it(tune, workspace):
    runner = CliRunner()
    base = ["sweep", "tune", "--optuna", "--trials", "2", "--objective", OBJECTIVE, "-p", "C", "log:1e-1..1e2",
            "--seed", "1"]
    for extra in (["--register", "digits"], ["--gate", "metrics.accuracy >= 0.5"]):
        res = runner.invoke(cli, base + extra)
        assert res.exit_code == 2 and "add --select-best" in res.stderr, res.output
        assert len(res.stderr.strip().splitlines()) == 1
    assert len(nbtrack.runs()) == 0  # refused before anything started
    res = runner.invoke(cli, base, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "no trial selected" in res.output and "best: trial" not in res.output
    sweep_run = nbtrack.get_run(nbtrack.runs(kind="sweep").id[0])
    assert "nbtrack.best_run" not in sweep_run.tags and not any(k.startswith("best.") for k in sweep_run.metrics)
    assert len(nbtrack.runs(parent=sweep_run.id)) == 2
    # the same study with --select-best: nothing runs again, and now the best trial is the winner
    res = runner.invoke(cli, base + ["--select-best"], catch_exceptions=False)
    assert res.exit_code == 0 and "best: trial" in res.output, res.output
    kids = nbtrack.runs(parent=sweep_run.id)
    assert len(kids) == 2
    sweep_run = nbtrack.get_run(sweep_run.id)
    chosen = nbtrack.get_run(sweep_run.tags["nbtrack.best_run"])
    assert chosen.parent_id == sweep_run.id
    best = kids["metrics.accuracy"].max()
    assert chosen.metrics["accuracy"] == sweep_run.metrics["best.accuracy"] == pytest.approx(best)


def test_pruned_trials_are_recorded_as_such(tune, workspace):
    res = nbtrack.sweep("tune", {"gamma": "choice:10.0,0.001", "C": [1.0], "steps": "3"},
                        search=nbtrack.OptunaSearch(trials=2, objective=OBJECTIVE, sampler="random", seed=0, wait=20,
                                                    prune=optuna.pruners.ThresholdPruner(lower=0.5)),
                        progress=False)
    assert "NBTRACK_PRUNE" not in os.environ and "NBTRACK_TRIAL" not in os.environ  # not left in the caller's process
    by_gamma = {o["params"]["gamma"]: o for o in res.outcomes}
    assert set(by_gamma) == {10.0, 0.001}, res.outcomes  # seed 0 draws both
    pruned, kept = by_gamma[10.0], by_gamma[0.001]
    assert pruned["status"] == "pruned" and kept["status"] == "finished" and res.best["run_id"] == kept["run_id"]
    run = nbtrack.get_run(pruned["run_id"])
    assert run.status == "pruned" and run.tags["nbtrack.pruned"].startswith("step 0:")
    assert list(nbtrack.runs(parent=run.id).status) == ["pruned"]  # the %%track cell the prune stopped
    assert len(run.metric_history("pruning.accuracy")) == 1  # stopped at its first step
    assert len(nbtrack.get_run(kept["run_id"]).metric_history("pruning.accuracy")) == 3
    sweep = nbtrack.get_run(res.sweep_id)
    assert sweep.metrics["pruned_runs"] == 1 and sweep.metrics["runs"] == 2
    study = optuna.load_study(study_name=sweep.tags["nbtrack.study"],
                              storage=f"sqlite:///{nbtrack.get_workspace().root}/optuna.db")
    assert sorted(t.state.name for t in study.trials) == ["COMPLETE", "PRUNED"]


def _stop_mid_sweep(ws, cmd: list[str], env: dict, cwd, how: int) -> subprocess.Popen:
    """Start the sweep command; send ``how`` to its process group once trial 0 finished and trial 1 runs."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    storage = f"sqlite:///{ws.root}/optuna.db"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        time.sleep(0.5)
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:] if proc.stderr else ""
        try:
            trials = optuna.load_study(study_name=None, storage=storage).trials
        except Exception:
            continue
        if any(t.state.name == "COMPLETE" for t in trials) and any(t.state.name == "RUNNING" for t in trials):
            break
    os.killpg(proc.pid, how)
    proc.wait(timeout=120)
    return proc


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_a_stopped_sweep_resumes_without_repeating_finished_trials(tune, workspace, tmp_path, how):
    ws = nbtrack.get_workspace()
    cmd = [sys.executable, "-m", "nbtrack", "sweep", "tune", "--optuna", "--trials", "3", "--objective", OBJECTIVE,
           "-p", "C", "log:1e-1..1e2", "-p", "gamma", "log:1e-4..1e-2", "-p", "sleep", "0", "--seed", "3"]
    env = {**os.environ, "NBTRACK_URI": ws.root}
    storage = f"sqlite:///{ws.root}/optuna.db"
    proc = _stop_mid_sweep(ws, cmd, env, tmp_path, how)
    first = optuna.load_study(study_name=None, storage=storage).trials
    done_before = {t.number: t.params for t in first if t.state.name == "COMPLETE"}
    if how == signal.SIGINT:  # Ctrl-C: the sweep says so and records the cut trial as interrupted
        assert proc.returncode == 130, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
        cut = [t for t in first if t.user_attrs.get("nbtrack.interrupted")]
        assert [t.state.name for t in cut] == ["FAIL"]
        assert nbtrack.runs(kind="sweep").status[0] == "interrupted"
    else:  # kill -9: the cut trial is left RUNNING in the study
        cut = [t for t in first if t.state.name == "RUNNING"]
    assert done_before and cut
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    trials = optuna.load_study(study_name=None, storage=storage).trials
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == 3  # --trials counts finished trials; the cut one does not count
    assert {t.number: t.params for t in complete if t.number in done_before} == done_before  # kept, not rerun
    assert any(t.params == cut[0].params for t in complete if t.number not in done_before)  # the cut one again
    sweeps = nbtrack.runs(kind="sweep")
    assert len(sweeps) == 1 and sweeps.status[0] == "finished"  # the same sweep run, re-opened
    kids = nbtrack.runs(parent=sweeps.id[0])
    assert (kids.status == "finished").sum() == 3  # no finished trial ran twice
    assert set(kids.status) <= {"finished", "interrupted", "running"}


def test_study_in_its_own_postgresql_schema_next_to_the_workspace(pg_workspace, tmp_path):
    """PostgreSQL workspace: Optuna's tables (and its alembic_version) in schema nbtrack_optuna."""
    import shutil

    import sqlalchemy as sa

    shutil.copy(Path(__file__).parent.parent / "notebooks" / "train.ipynb", tmp_path / "train.ipynb")
    nbtrack.approve(str(tmp_path / "train.ipynb"), name="churn-train", reason="test")
    res = nbtrack.sweep("churn-train", {"C": "0.1..10", "penalty": "l1"}, progress=False,
                        search=nbtrack.OptunaSearch(trials=2, objective="metrics.auc max", seed=0))
    assert res.exit_code == 0 and len(nbtrack.runs(parent=res.sweep_id)) == 2
    engine = sa.create_engine(pg_workspace.meta_url)
    try:
        with engine.connect() as conn:
            where = dict(conn.execute(sa.text(
                "select table_name, string_agg(table_schema, ',' order by table_schema) from information_schema.tables "
                "where table_name in ('trials', 'runs', 'alembic_version') group by table_name")).all())
    finally:
        engine.dispose()
    assert where == {"trials": "nbtrack_optuna", "runs": "public", "alembic_version": "nbtrack_optuna,public"}
    study = optuna.load_study(study_name=nbtrack.get_run(res.sweep_id).tags["nbtrack.study"],
                              storage=optuna.storages.RDBStorage(pg_workspace.meta_url, engine_kwargs={
                                  "connect_args": {"options": "-csearch_path=nbtrack_optuna"}}))
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]


def test_tuned_sweep_on_two_local_worker_processes(approve, workspace):
    approve("train.ipynb", "churn-train")
    res = nbtrack.sweep("churn-train", {"C": "0.1..10", "penalty": "choice:l1,l2"}, parallel=2, progress=False,
                        search=nbtrack.OptunaSearch(trials=3, objective="metrics.auc max", sampler="random", seed=0))
    assert res.exit_code == 0 and [o["status"] for o in res.outcomes] == ["finished"] * 3
    kids = nbtrack.runs(parent=res.sweep_id)
    assert len(kids) == 3 and set(kids.status) == {"finished"}
    assert res.best["metrics"]["auc"] == pytest.approx(kids["metrics.auc"].max())


@pytest.mark.slow
def test_tuned_sweep_on_a_dask_cluster(approve, workspace):
    distributed = pytest.importorskip("distributed")
    approve("train.ipynb", "churn-train")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        res = nbtrack.sweep("churn-train", {"C": "0.1..10", "penalty": "l1"}, dask=cluster.scheduler_address,
                            progress=False, search=nbtrack.OptunaSearch(trials=3, objective="metrics.auc max", seed=0))
    assert res.exit_code == 0 and [o["status"] for o in res.outcomes] == ["finished"] * 3
    assert len(nbtrack.runs(parent=res.sweep_id)) == 3


@pytest.mark.slow
def test_pruned_trials_side_by_side_on_one_multithreaded_dask_worker(tune, workspace):
    """Two pruned trials at once in one Dask worker process (2 threads): each kernel gets its own trial."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None) as cluster:
        res = nbtrack.sweep("tune", {"gamma": "choice:10.0,0.001", "C": [1.0], "steps": "3", "sleep": "1"},
                            dask=cluster.scheduler_address, progress=False,
                            search=nbtrack.OptunaSearch(trials=2, objective=OBJECTIVE, sampler="random", seed=0,
                                                        wait=60, prune=optuna.pruners.ThresholdPruner(lower=0.5)))
    by_gamma = {o["params"]["gamma"]: o for o in res.outcomes}
    assert set(by_gamma) == {10.0, 0.001}, res.outcomes
    pruned, kept = by_gamma[10.0], by_gamma[0.001]
    assert pruned["status"] == "pruned" and kept["status"] == "finished", res.outcomes
    for o in res.outcomes:  # each run reported as its own trial (a shared os.environ crossed them)
        assert nbtrack.get_run(o["run_id"]).tags["nbtrack.trial"] == str(o["index"])
    assert len(nbtrack.get_run(pruned["run_id"]).metric_history("pruning.accuracy")) == 1
    assert len(nbtrack.get_run(kept["run_id"]).metric_history("pruning.accuracy")) == 3
    runs = [nbtrack.get_run(o["run_id"]) for o in res.outcomes]
    assert sorted(r.started for r in runs)[1] < sorted(r.ended for r in runs)[0]  # they ran at the same time
    # every step was judged at once (a kernel without its trial's variables waits out wait=60 s per step)
    assert all(r.ended - r.started < 45 for r in runs), [(r.ended - r.started) for r in runs]
    study = optuna.load_study(study_name=nbtrack.get_run(res.sweep_id).tags["nbtrack.study"],
                              storage=f"sqlite:///{nbtrack.get_workspace().root}/optuna.db")
    steps = {t.params["gamma"]: sorted(t.intermediate_values) for t in study.trials}
    assert steps == {10.0: [0], 0.001: [0, 1, 2]}  # each trial judged on its own kernel's reports


def test_every_sampler_drives_a_study_over_the_parsed_space():
    from nbtrack.pipeline import study as study_mod

    dims = parse_space([("C", "log:1e-3..1e2"), ("depth", "int:2..12"), ("kernel", "choice:rbf,linear")], SCHEMA)
    dists = study_mod.distributions(dims)
    for name in study_mod.SAMPLERS:
        study = optuna.create_study(sampler=study_mod.sampler(name, 0), direction="minimize")
        for _ in range(4):
            trial = study.ask(dists)
            p = trial.params
            assert 1e-3 <= p["C"] <= 1e2 and isinstance(p["depth"], int) and p["kernel"] in ("rbf", "linear")
            study.tell(trial, (p["C"] - 1) ** 2 + p["depth"])
        assert len(study.trials) == 4, name
    with pytest.raises(InvalidInput, match="choose one of tpe, cmaes, random"):
        study_mod.sampler("grid", 0)


@pytest.mark.slow
def test_a_killed_trial_worker_is_settled_and_the_study_goes_on(approve, workspace, tmp_path):
    """A local trial worker killed mid-trial: both running trials' runs are recorded as failed
    (WorkerLost; the pool stops its other worker too), none is left 'running', and the next
    trial runs on new workers."""
    import shutil
    import time
    from pathlib import Path

    import psutil

    from nbtrack.pipeline.trials import Pool

    shutil.copy(Path(__file__).parent.parent / "notebooks" / "slow.ipynb", tmp_path / "slow.ipynb")
    version = approve("slow.ipynb", "slow")
    ws = nbtrack.get_workspace()
    base = {"meta": ws.meta_url, "objects": ws.objects_url, "root": ws.root, "name": "slow", "version": version,
            "parent": "", "timeout": None, "texts": {}}
    pool = Pool(2)
    try:
        specs = [{**base, "index": i, "params": {"seconds": s}} for i, s in enumerate([60.0, 61.0])]
        futures = [pool.submit(s) for s in specs]
        deadline = time.time() + 120
        while time.time() < deadline:
            kids = nbtrack.runs(kind="pipeline")
            if len(kids) == 2 and set(kids.status) == {"running"}:
                break
            time.sleep(0.2)
        time.sleep(1.0)
        workers = psutil.Process().children()
        workers = [p for p in workers if p.pid in {q.pid for q in pool.pool._processes.values()}]
        assert len(workers) == 2
        workers[0].kill()
        outs = [pool.outcome(f, s) for f, s in zip(futures, specs)]
        assert [o["status"] for o in outs] == ["failed", "failed"], outs
        assert all(o["run_id"] for o in outs) and all("WorkerLost" in o["error"] for o in outs), outs
        later = {**base, "index": 2, "params": {"seconds": 0.1}}
        out = pool.outcome(pool.submit(later), later)
        assert out["status"] == "finished", out
    finally:
        pool.close()
    kids = nbtrack.runs(kind="pipeline")
    assert sorted(kids.status) == ["failed", "failed", "finished"], kids[["status", "params.seconds"]]
    for rid in kids[kids.status == "failed"].id:
        assert nbtrack.get_run(rid).error_type == "WorkerLost"
