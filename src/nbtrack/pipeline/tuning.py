"""Tuned sweeps: Optuna chooses each parameter set, every trial is a pipeline run under one sweep.

``nbtrack.sweep("churn-train", {"C": "log:1e-3..1e2", "penalty": "choice:l1,l2"},
search=nbtrack.OptunaSearch(trials=50, objective="metrics.auc max"))`` or
``nbtrack sweep churn-train --optuna --trials 50 --objective "metrics.auc max" -p C log:1e-3..1e2``.

* The space: ``-p`` ranges and choices (:mod:`.space`), typed by the parameters cell.
* The study lives with the workspace (:mod:`.study`); its name is derived from the
  pipeline version, space, objective and sampler, so **the same command resumes**:
  finished trials count and are never run again; trials a Ctrl-C or a crash cut short
  are run again with the same parameters; ``--trials`` is the total wanted.
* One sweep run (kind ``sweep``) per study; each trial is a pipeline run under it,
  tagged ``nbtrack.trial`` (the trial number) and ``nbtrack.study``.
* Pruning (``prune=True``): the notebook's ``nbtrack.log_metric(KEY, v, step=k)`` for the
  objective's metric reports to the pruner (:mod:`nbtrack.capture.pruning`,
  :class:`.trials.PruneMonitor`); a pruned trial is told ``PRUNED`` and its runs get
  status ``pruned``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from ..capture import pruning
from ..capture.run import ActiveRun
from ..context import default_parent
from ..errors import InvalidInput
from ..workspace import Workspace, get_workspace
from . import space as space_mod
from . import study as study_mod
from .progress import SweepProgress
from .sweep_result import SweepResult, _metric_key
from .trials import Pool, PruneMonitor
from .versions import get_version

POLL_S = 0.02  # how often the sweep looks for reported steps while trials run (with pruning): a kernel waits for it
TAG_STUDY, TAG_TRIAL = "nbtrack.study", "nbtrack.trial"
ATTR_SWEEP, ATTR_RUN = "nbtrack.sweep_id", "nbtrack.run_id"
ATTR_INTERRUPTED, ATTR_RETRIED = "nbtrack.interrupted", "nbtrack.retried"
OWNER_ATTR = "nbtrack.holder"  # study user attribute: who runs it now (named when a second sweep is refused)


@dataclass
class OptunaSearch:
    """How a sweep searches with Optuna (``nbtrack.sweep(..., search=OptunaSearch(...))``).

    Parameters
    ----------
    trials : int
        Trials wanted in the study in total (a resumed study runs only the rest).
    objective : str
        ``"metrics.auc max"`` or ``"metrics.loss min"``.
    sampler : {"tpe", "cmaes", "random"}
    prune : bool or optuna pruner
        ``True``: Optuna's median pruner on the objective's step values.
    seed : int, optional
        Sampler seed (offset by the trials already in the study, so a resume never
        replays the same draws).
    study : str, optional
        Study name (default: derived from pipeline version, space, objective, sampler).
    select_best : bool
        Select the best trial as the sweep's winner (``SweepResult.best``, the sweep
        run's ``nbtrack.best_run`` tag and ``best.<metric>``); ``gates`` and ``register``
        act on it and need it. The CLI selects only with ``--select-best``.
    """

    trials: int = 20
    objective: str = ""
    sampler: str = "tpe"
    prune: Any = False
    seed: int | None = None
    study: str | None = None
    wait: float = 30.0  # seconds a kernel waits for the pruning decision on a step
    select_best: bool = True


def as_search(search: Any, select: str | None, maximize: bool, trials: int | None, seed: int | None) -> OptunaSearch:
    """``search=OptunaSearch(...)`` as given; ``search="optuna"`` from the grid sweep's arguments."""
    if isinstance(search, OptunaSearch):
        if not search.objective and select:
            return OptunaSearch(**{**search.__dict__, "objective": f"{select} {'max' if maximize else 'min'}"})
        return search
    if search == "optuna":
        if not select:
            raise InvalidInput('search="optuna" needs select="metrics.NAME" (the objective)')
        return OptunaSearch(trials=trials or 20, objective=f"{select} {'max' if maximize else 'min'}", seed=seed)
    raise InvalidInput(f"search={search!r}: give nbtrack.OptunaSearch(...) or \"optuna\"")


def _resume(study) -> int:
    """Trials a previous session left unfinished are failed (if still running) and queued again.
    This process holds the study (:mod:`.study_lock`): a trial still RUNNING is a dead session's."""
    from optuna.trial import TrialState

    retried = set(study.user_attrs.get(ATTR_RETRIED, []))
    again = []
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.RUNNING:
            study.tell(t.number, state=TrialState.FAIL)
            again.append(t)
        elif t.state == TrialState.FAIL and t.user_attrs.get(ATTR_INTERRUPTED) and t.number not in retried:
            again.append(t)
    for t in again:
        study.enqueue_trial(t.params, skip_if_exists=False)
        retried.add(t.number)
    if again:
        study.set_user_attr(ATTR_RETRIED, sorted(retried))
    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
               or (t.state == TrialState.FAIL and t.number not in retried and not t.user_attrs.get(ATTR_INTERRUPTED)))


def _sweep_run(ws: Workspace, study, pv, dims, search: OptunaSearch, metric: str, maximize: bool) -> ActiveRun:
    """The study's sweep run: the one a previous session started (re-opened), or a new one."""
    from ..query.runs import get_run
    from ..store import runs as store_runs

    run = ActiveRun(pv.name, "sweep", parent_id=default_parent(), workspace=ws)
    old = study.user_attrs.get(ATTR_SWEEP)
    if old:
        try:
            get_run(old, workspace=ws)
        except Exception:
            old = None
    if old:
        run.id, run.row_written = old, True
        with ws.meta.write() as conn:
            store_runs.update_run(conn, old, status="running", ended=None, error_type=None, error_message=None,
                                  pid=os.getpid())
        return run
    run.log_params(space_mod.describe(dims))
    run.log_params({"trials": search.trials, "objective": f"{metric} {'max' if maximize else 'min'}",
                    "sampler": search.sampler, "seed": search.seed})
    for k, v in {"nbtrack.pipeline": pv.name, "nbtrack.pipeline_version": pv.version, "nbtrack.sweep_mode": "optuna",
                 "nbtrack.select": metric, TAG_STUDY: study.study_name}.items():
        run.set_tag(k, v)
    run.start()
    study.set_user_attr(ATTR_SWEEP, run.id)
    return run


def _outcome(t, key: str) -> dict:
    from optuna.trial import TrialState

    status = {TrialState.COMPLETE: "finished", TrialState.PRUNED: "pruned"}.get(t.state, "failed")
    if t.state == TrialState.RUNNING:
        status = "running"
    value = t.value if t.state == TrialState.COMPLETE else None
    return {"index": t.number, "params": dict(t.params), "run_id": t.user_attrs.get(ATTR_RUN),
            "metrics": {key: value} if value is not None else {}, "status": status,
            "error": t.user_attrs.get("nbtrack.error")}


def tuned_sweep(name: str, space: dict[str, Any] | list[tuple[str, Any]], search: OptunaSearch, *,
                version: int | None = None, parallel: int = 1, dask: Any = None,
                register: str | None = None, promote_to: str | None = None, gates: list[str] | None = None,
                timeout: float | None = None, progress: Any = True, warm: bool = True,
                workspace: Workspace | None = None) -> SweepResult:
    """Run (or resume) an Optuna study over pipeline ``name``; see :func:`nbtrack.sweep`."""
    from . import gates as gates_mod
    from .execute import check_timeout

    check_timeout(timeout)
    ws = workspace or get_workspace(create=False)
    pv = get_version(name, version, workspace=ws)
    if search.trials is None or search.trials < 1:
        raise InvalidInput(f"--trials must be at least 1, got {search.trials}")
    if parallel < 1:
        raise InvalidInput(f"--parallel must be at least 1, got {parallel}")
    metric, maximize = study_mod.parse_objective(search.objective)
    key = _metric_key(metric)
    parsed_gates = [gates_mod.parse_gate(g) for g in gates or []]
    if promote_to and not register:
        raise InvalidInput("--promote-to needs --register MODEL")
    if not search.select_best and (register or parsed_gates):
        raise InvalidInput(f"{'--register' if register else '--gate'} acts on the best trial: add --select-best")
    pairs = list(space.items()) if isinstance(space, dict) else list(space)
    dims = space_mod.parse_space(pairs, pv.parameters, pipeline=pv.label)
    sampler = study_mod.sampler(search.sampler, None)  # checked before the study exists
    if dask is not None:  # the scheduler answers and its workers reach the store, before anything is recorded
        from .dask_runs import check_cluster

        check_cluster(dask, ws)
    optuna = study_mod.import_optuna()
    name_ = search.study or study_mod.default_name(pv.name, pv.version, dims, metric, search.sampler,
                                                   bool(search.prune))
    backend = study_mod.storage(ws)
    stored = optuna.create_study(study_name=name_, storage=backend, load_if_exists=True,
                                 direction="maximize" if maximize else "minimize")
    if stored.direction.name.lower() != ("maximize" if maximize else "minimize"):
        raise InvalidInput(f"study {name_!r} {stored.direction.name.lower()}s its objective; use another --study")
    with study_mod.lock(ws, name_) as held:
        held.acquire(lambda: stored.user_attrs.get(OWNER_ATTR))
        return _held_sweep(ws, pv, dims, search, name_, backend, sampler, metric, maximize, key, parsed_gates,
                           parallel=parallel, dask=dask, register=register, promote_to=promote_to,
                           timeout=timeout, progress=progress, warm=warm)


def _held_sweep(ws, pv, dims, search: OptunaSearch, name_: str, backend, sampler, metric: str, maximize: bool,
                key: str, parsed_gates, *, parallel, dask, register, promote_to, timeout, progress,
                warm) -> SweepResult:
    """The sweep, once this process holds its study: kept in memory, written behind (:mod:`.study_mirror`)."""
    optuna = study_mod.import_optuna()
    from .study_lock import holder_text
    from .study_mirror import StudyMirror

    mirror = StudyMirror(backend, name_)
    try:
        study = optuna.Study(study_name=name_, storage=mirror, sampler=sampler, pruner=study_mod.pruner(search.prune))
        study.set_user_attr(OWNER_ATTR, holder_text())
        counted = _resume(study)
        if search.seed is not None:
            study.sampler = study_mod.sampler(search.sampler, search.seed + len(study.trials))
        run = _sweep_run(ws, study, pv, dims, search, metric, maximize)
        result = SweepResult(run.id, pv.name, pv.version, key, selects=search.select_best)
        loop = _Loop(ws, pv, run.id, study, dims, search, key, timeout, warm, mirror.flush)
        try:
            loop.run(max(0, search.trials - counted), parallel, dask, progress)
        except KeyboardInterrupt as e:
            run.end("interrupted", e)
            raise
        _finish(ws, run, study, result, key, search.select_best)
        mirror.flush()  # the stored study complete before the winner is registered and the study let go
    except BaseException:
        try:
            mirror.close()
        except Exception:  # the store went away: the error being raised says more
            pass
        raise
    mirror.close()
    if result.best is not None and (register or parsed_gates):
        _register(ws, pv, result, parsed_gates, register, promote_to)
    return result


class _Loop:
    """Ask, run, tell: keeps ``slots`` trials running until ``n`` were told."""

    def __init__(self, ws, pv, sweep_id, study, dims, search, key, timeout, warm, flush=None) -> None:
        self.ws, self.pv, self.sweep_id, self.study, self.key = ws, pv, sweep_id, study, key
        self.dims, self.search, self.timeout, self.warm = dims, search, timeout, warm
        self.dists = study_mod.distributions(dims)
        self.fixed = {d.name: d.choices[0] for d in dims if d.kind == "fixed"}
        self.monitor = PruneMonitor(ws, sweep_id, key) if search.prune else None
        self.flush = flush

    def _spec(self, trial, n_left: int, slots: int) -> dict:
        values = {**self.fixed, **trial.params}
        spec = {"meta": self.ws.meta_url, "objects": self.ws.objects_url, "root": self.ws.root, "name": self.pv.name,
                "version": self.pv.version, "parent": self.sweep_id, "timeout": self.timeout, "index": trial.number,
                "params": values, "texts": {},
                "tags": {TAG_TRIAL: str(trial.number), TAG_STUDY: self.study.study_name}}
        if self.search.prune:  # each kernel must know its trial: launched for it, not warmed ahead
            spec["environ"] = {pruning.ENV: json.dumps({"metric": self.key, "wait": self.search.wait}),
                               pruning.TRIAL_ENV: str(trial.number)}
        elif self.warm:
            spec["warm"] = n_left > slots  # a later trial on this worker will take the kernel it warms
        return spec

    def run(self, n: int, parallel: int, dask: Any, progress: Any) -> None:
        pool = Pool(parallel, dask)
        running: dict[Any, tuple[Any, dict]] = {}
        asked = done = failed = 0
        best = None
        try:
            with SweepProgress(n, f"tune {self.pv.name}", progress) as bar:
                while asked < n or running:
                    while len(running) < pool.slots and asked < n:
                        trial = self.study.ask(self.dists)
                        spec = self._spec(trial, n - asked, pool.slots)
                        if asked < pool.slots and pool.pool is not None and self.flush is not None:
                            self.flush()  # a worker process may be forked now: not while the writer thread writes
                        running[pool.submit(spec)] = (trial, spec)
                        asked += 1
                    ready = pool.done(list(running), POLL_S if self.monitor else None)
                    if self.monitor is not None:
                        self.monitor.poll({t.number: t for t, _ in running.values()})
                    for f in ready:
                        trial, spec = running.pop(f)
                        out = self._tell(trial, pool.outcome(f, spec))
                        done += out["status"] in ("finished", "pruned")
                        failed += out["status"] == "failed"
                        value = out["metrics"].get(self.key)
                        if value is not None and (best is None or (value > best) == self._maximize()):
                            best = value
                        bar.update(done, failed, len(running), f"{self.key}={best:.6g}" if best is not None else None,
                                   out)
        except BaseException:
            for trial, _ in running.values():
                self._interrupted(trial)
            pool.close(list(running))
            raise
        pool.close()

    def _maximize(self) -> bool:
        return self.study.direction.name == "MAXIMIZE"

    def _interrupted(self, trial) -> None:
        from optuna.trial import TrialState

        try:
            trial.set_user_attr(ATTR_INTERRUPTED, True)
            self.study.tell(trial, state=TrialState.FAIL)
        except Exception:  # the store went away: the next session fails and retries it
            pass

    def _tell(self, trial, out: dict) -> dict:
        from optuna.trial import TrialState

        if out.get("run_id"):
            trial.set_user_attr(ATTR_RUN, out["run_id"])
        value = out["metrics"].get(self.key)
        pruned = self.monitor is not None and trial.number in self.monitor.pruned
        if pruned or (out["status"] == "failed" and "TrialPruned" in (out.get("error") or "")):
            self.study.tell(trial, state=TrialState.PRUNED)
            if self.monitor is not None:
                self.monitor.mark_pruned(out.get("run_id"))
            return {**out, "status": "pruned", "metrics": {}}
        if out["status"] == "finished" and value is not None:
            self.study.tell(trial, float(value))
            return out
        if out["status"] == "finished":
            out = {**out, "status": "failed", "error": f"the run logged no metric {self.key!r}"}
        trial.set_user_attr("nbtrack.error", (out.get("error") or "")[:1000])
        self.study.tell(trial, state=TrialState.FAIL)
        return out


def _finish(ws, run: ActiveRun, study, result: SweepResult, key: str, select: bool) -> None:
    from optuna.trial import TrialState

    from .gates import gate_metrics

    trials = study.get_trials(deepcopy=False)
    result.outcomes = [_outcome(t, key) for t in trials]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    counts = {"runs": len(trials), "failed_runs": sum(t.state == TrialState.FAIL for t in trials),
              "pruned_runs": sum(t.state == TrialState.PRUNED for t in trials)}
    run.log_metrics(counts, step=0)
    if complete and select:
        best = study.best_trial
        run_id = best.user_attrs.get(ATTR_RUN)
        result.best = {"index": best.number, "params": dict(best.params), "run_id": run_id,
                       "metrics": gate_metrics(ws, run_id) if run_id else {key: best.value}, "status": "finished"}
        result.best["metrics"].setdefault(key, best.value)
        run.set_tag("nbtrack.best_run", run_id or "")
        run.log_metric(f"best.{key}", best.value, step=0)
    run.end("failed" if trials and not complete and not counts["pruned_runs"] else "finished")


def _register(ws, pv, result: SweepResult, parsed_gates, register: str | None, promote_to: str | None) -> None:
    """The best trial through the same gates as ``nbtrack run --gate``, then registered and promoted."""
    from ..errors import GateFailed
    from . import gates as gates_mod
    from .registry_link import register_and_promote, tag_run
    from .run import PipelineResult

    best = result.best
    assert best is not None
    pr = PipelineResult(best["run_id"], pv.name, pv.version, best["params"], dict(pv.pins), best["metrics"])
    pr.verdicts = gates_mod.evaluate(parsed_gates, best["metrics"])
    pr.gates = [c for v in pr.verdicts for c in v.conditions]
    if pr.gates:
        tag_run(ws, pr.run_id, {"nbtrack.gates": ("passed: " if pr.passed else "failed: ")
                                + gates_mod.summary(pr.gates)})
    result.gates = pr.gates
    if not pr.passed:
        raise GateFailed(f"best trial run {pr.run_id} failed its gates: "
                         + gates_mod.summary([g for g in pr.gates if not g.passed]), result=result)
    if register:
        register_and_promote(ws, pr, register, promote_to, None)
        result.model, result.promoted = pr.model, pr.promoted


def plot_study(sweep_id: str, kind: str = "history", workspace: Workspace | None = None):
    """Optuna's own matplotlib plot of a tuned sweep's study: ``history`` (optimisation
    history), ``importances`` (parameter importances), ``slice``, ``parallel``, ``contour``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ..query.runs import get_run

    ws = workspace or get_workspace(create=False)
    run = get_run(sweep_id, workspace=ws)
    name = run.tags.get(TAG_STUDY)
    if not name:
        raise InvalidInput(f"run {run.id} is not a tuned (Optuna) sweep")
    study = study_mod.load(ws, name)
    study_mod.import_optuna()
    import warnings

    from optuna.visualization import matplotlib as ovm

    plots: dict[str, Any] = {"history": ovm.plot_optimization_history, "importances": ovm.plot_param_importances,
             "slice": ovm.plot_slice, "parallel": ovm.plot_parallel_coordinate, "contour": ovm.plot_contour}
    if kind not in plots:
        raise InvalidInput(f"plot {kind!r}: choose one of {', '.join(plots)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "experimental" warnings on every call
        ax = plots[kind](study)
    first = ax.flat[0] if hasattr(ax, "flat") else ax
    return first.figure
