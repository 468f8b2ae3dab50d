"""Sweeps: many parameter sets of one approved pipeline, each a pipeline run under one sweep run.

``nbtrack.sweep("churn-train", {"C": [0.01, 0.1, 1, 10], "penalty": ["l1", "l2"]},
parallel=2, select="metrics.auc")`` runs the grid (or ``random=N`` sets of it)
on local worker processes, or on a Dask cluster with ``dask="tcp://host:8786"``.
A failed run never stops the sweep; ``nbtrack.runs(parent=result.sweep_id)`` is
the results table and :func:`plot_sweep` draws the metric against each parameter.
"""

from __future__ import annotations

import itertools
import random as random_mod
from collections.abc import Mapping, Sequence
from typing import Any

from ..capture import env
from ..capture.run import ActiveRun
from ..context import default_parent
from ..errors import InvalidInput
from ..workspace import Workspace, get_workspace
from . import workers
from .execute import check_timeout
from .parameters import parse_literal, validate
from .plots import plot_sweep as _plot
from .progress import SweepProgress
from .sweep_result import SweepResult, _metric_key
from .timeline import mark
from .versions import get_version


def parse_space(pairs: list[tuple[str, str]]) -> tuple[dict[str, list], dict[str, list[str]]]:
    """``-p C 0.01,0.1 -p penalty l1,l2`` into values parsed like papermill, and their texts."""
    space: dict[str, list] = {}
    texts: dict[str, list[str]] = {}
    for name, text in pairs:
        parts = [t.strip() for t in str(text).split(",")]
        if not all(parts):
            raise InvalidInput(f"-p {name} {text!r}: give comma-separated values, e.g. -p {name} 0.1,1,10")
        space.setdefault(name, []).extend(parse_literal(t) for t in parts)
        texts.setdefault(name, []).extend(parts)
    return space, texts


def expand(space: dict[str, list], n_random: int | None = None, seed: int | None = None) -> list[dict]:
    """Every combination (grid), or ``n_random`` distinct combinations drawn with ``seed``."""
    if not space:
        raise InvalidInput("a sweep needs at least one parameter with values: -p NAME V1,V2,...")
    names = list(space)
    grid = [dict(zip(names, combo)) for combo in itertools.product(*(space[n] for n in names))]
    if n_random is None:
        return grid
    if n_random < 1:
        raise InvalidInput(f"--random must be at least 1, got {n_random}")
    rng = random_mod.Random(seed)
    if n_random <= len(grid):
        return rng.sample(grid, n_random)
    return [rng.choice(grid) for _ in range(n_random)]


def _is_better(value: float | None, best: float | None, maximize: bool) -> bool:
    if value is None:
        return False
    return best is None or (value > best if maximize else value < best)


def _specs(ws: Workspace, pv, sets: list[dict], texts: list[dict], parent: str, timeout) -> list[dict]:
    base = {"meta": ws.meta_url, "objects": ws.objects_url, "root": ws.root, "name": pv.name,
            "version": pv.version, "parent": parent, "timeout": timeout}
    return [{**base, "index": i, "params": p, "texts": t} for i, (p, t) in enumerate(zip(sets, texts))]


def _sets(space: dict[str, list], space_texts: dict[str, list[str]] | None, n_random: int | None,
          seed: int | None) -> tuple[list[dict], list[dict]]:
    """Parameter sets and the command-line text of each value (kept for ``str`` parameters)."""
    texts: Mapping[str, Sequence[str | None]] = space_texts or {}
    items = {k: list(zip(v, texts.get(k) or [None] * len(v))) for k, v in space.items()}
    combos = expand(items, n_random, seed)
    return ([{k: v for k, (v, _) in c.items()} for c in combos],
            [{k: t for k, (_, t) in c.items() if t is not None} for c in combos])


def sweep(
    name: str,
    space: dict[str, list],
    version: int | None = None,
    random: int | None = None,
    seed: int | None = None,
    parallel: int = 1,
    dask: Any = None,
    select: str | None = None,
    maximize: bool = True,
    register: str | None = None,
    promote_to: str | None = None,
    timeout: float | None = None,
    progress: str | bool | None = True,
    warm: bool = True,
    *,
    space_texts: dict[str, list[str]] | None = None,
    workspace: Workspace | None = None,
    search: Any = None,
    gates: list[str] | None = None,
) -> SweepResult:
    """Run pipeline ``name`` once per parameter set, in parallel, under one sweep run.

    Parameters
    ----------
    name : str
        Approved pipeline (``churn-train`` or ``churn-train@2``).
    space : dict
        Values to try per parameter: ``{"C": [0.1, 1], "penalty": ["l1", "l2"]}``.
    random, seed : int, optional
        Draw ``random`` distinct sets from the grid instead of running all of it
        (with repetition only when ``random`` exceeds the grid's size).
    parallel : int
        Local worker processes (1: one after the other in this process).
    dask : str or distributed.Client, optional
        Run on this Dask scheduler instead (``tcp://host:8786``).
    select : str, optional
        ``metrics.auc``: pick the best run by it (``maximize=False`` for losses).
    register, promote_to : str, optional
        Register the best run's model under this name and promote it.
    progress : {True, "rich", "lines", False}
        A tqdm bar (in a notebook: a widget), a rich bar, a line per run, or nothing.
    warm : bool
        Each local worker launches its next run's kernel while the current run
        executes (every run still gets a new kernel and a clean folder).
        ``False``: strictly one kernel per worker at a time. Not used with Dask.

    search : nbtrack.OptunaSearch or "optuna", optional
        Let Optuna choose the parameter sets (a tuned sweep, resumable): ``space``
        then holds ranges and choices (``{"C": "log:1e-3..1e2"}``), see
        :mod:`nbtrack.pipeline.tuning`. With ``"optuna"``, ``select``/``maximize``
        give the objective and ``random`` the number of trials.
    gates : list of str, optional
        Tuned sweeps: conditions the best trial must pass before ``register``.

    Returns
    -------
    SweepResult
    """
    if search is not None:
        from .tuning import as_search, tuned_sweep

        return tuned_sweep(name, space, as_search(search, select, maximize, random, seed), version=version,
                           parallel=parallel, dask=dask, register=register,
                           promote_to=promote_to, gates=gates, timeout=timeout, progress=progress, warm=warm,
                           workspace=workspace)
    mark("sweep.begin", parallel=parallel)
    check_timeout(timeout)
    pooled = dask is None and parallel > 1
    if not pooled:  # forked workers start first (no thread running in this process when they fork)
        env.start_background()  # the sweep run's environment fingerprint (its workers' too: workers.shared_env)
    ws = workspace or get_workspace(create=False)
    pv = get_version(name, version, workspace=ws)
    if parallel < 1:
        raise InvalidInput(f"--parallel must be at least 1, got {parallel}")
    if register and not select:
        raise InvalidInput("--register needs --select METRIC to choose the best run")
    sets, texts = _sets(space, space_texts, random, seed)
    checked = []  # every set is checked before the first run starts
    for s, t in zip(sets, texts):
        values = validate(pv.parameters, s, t, pipeline=pv.label)
        checked.append({k: values[k] for k in s})
    sets = checked
    if dask is not None:  # the scheduler answers and its workers reach the store, before anything is recorded
        from .dask_runs import check_cluster

        check_cluster(dask, ws)
    # local workers start now, each launching its first run's kernel while the sweep is recorded
    local = None
    if dask is None:
        from .run import _kernel_spec

        workers.adopt(ws)
        local = workers.Local(len(sets), parallel, warm, _kernel_spec(ws, pv, dict(pv.pins)) if warm else None)
    env.start_background()  # (forked workers are running: it overlaps their first kernels' boot)
    try:
        run = ActiveRun(pv.name, "sweep", parent_id=default_parent(), workspace=ws)
        run.log_params({k: list(v) for k, v in space.items()})
        for k, v in {"nbtrack.pipeline": pv.name, "nbtrack.pipeline_version": pv.version,
                     "nbtrack.sweep_mode": "random" if random else "grid", "nbtrack.select": select or "",
                     "nbtrack.executor": _executor(parallel, dask, warm, len(sets))}.items():
            run.set_tag(k, v)
        if random is not None:
            run.log_param("seed", seed)
        run.start()
    except BaseException:
        if local is not None:
            local.close()
        raise
    mark("sweep.started")
    result = SweepResult(run.id, pv.name, pv.version, _metric_key(select))
    try:
        specs = _specs(ws, pv, sets, texts, run.id, timeout)
        shared = workers.shared_env(ws) if local is not None and local.pool is not None else None
        if shared is not None:  # the sweep run's fingerprint, for its forked workers' runs
            specs = [{**s, "env": shared} for s in specs]
        _execute(result, specs, parallel, dask, maximize, progress, warm, local)
    except KeyboardInterrupt as e:
        run.end("interrupted", e)
        raise
    mark("sweep.executed")
    _finish(run, result)
    mark("sweep.end")
    if register and result.best is not None:
        from .registry_link import register_and_promote
        from .run import PipelineResult

        best = result.best
        pr = PipelineResult(best["run_id"], pv.name, pv.version, best["params"], dict(pv.pins), best["metrics"])
        register_and_promote(ws, pr, register, promote_to, None)
        result.model, result.promoted = pr.model, pr.promoted
    return result


def _workers(parallel: int, dask: Any, n: int) -> int:
    return 0 if dask is not None else (min(parallel, n) if parallel > 1 and n > 1 else 1)


def _executor(parallel: int, dask: Any, warm: bool, n: int) -> str:
    workers = _workers(parallel, dask, n)
    if not workers:
        return "dask"
    return f"processes:{workers}" + (",warm" if warm else "")  # Dask workers start kernels per run


def _execute(result: SweepResult, specs: list[dict], parallel: int, dask: Any, maximize: bool, progress,
             warm: bool = True, local: workers.Local | None = None) -> None:
    if dask is not None:
        it, slots = workers.dask(specs, dask), workers.dask_slots(dask) or len(specs)
    else:
        local = local or workers.Local(len(specs), parallel, warm)
        it, slots = local.run(specs), (parallel if local.workers > 1 else 1)
    best_value = None
    with SweepProgress(len(specs), f"sweep {result.pipeline}", progress) as bar:
        for out in it:
            mark("sweep.outcome", index=out["index"])
            result.outcomes.append(out)
            value = out["metrics"].get(result.metric) if result.metric else None
            if out["status"] == "finished" and _is_better(value, best_value, maximize):
                best_value, result.best = value, out
            done = sum(o["status"] == "finished" for o in result.outcomes)
            failed = len(result.outcomes) - done
            best = f"{result.metric}={best_value:.6g}" if best_value is not None else None
            bar.update(done, failed, min(slots, len(specs) - done - failed), best, out)
    result.outcomes.sort(key=lambda o: o["index"])


def _finish(run: ActiveRun, result: SweepResult) -> None:
    n_failed = len(result.failed)
    run.log_metrics({"runs": len(result.outcomes), "failed_runs": n_failed}, step=0)
    if result.best is not None:
        run.set_tag("nbtrack.best_run", result.best["run_id"])
        run.log_metric(f"best.{result.metric}", result.best["metrics"][result.metric], step=0)
    status = "failed" if result.outcomes and n_failed == len(result.outcomes) else "finished"
    run.end(status)


def plot_sweep(sweep_id: str, metric: str | None = None, workspace: Workspace | None = None, *,
               kind: str | None = None):
    """The metric against each swept parameter, one panel per parameter.

    For a tuned (Optuna) sweep, Optuna's own plot of its study: ``kind="history"``
    (optimisation history, the default), ``"importances"`` (parameter importances),
    ``"slice"``, ``"parallel"`` or ``"contour"``; ``kind="scatter"`` gives the panels above.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ..query.runs import get_run

    if kind != "scatter" and get_run(sweep_id, workspace=workspace).tags.get("nbtrack.study"):
        from .tuning import plot_study

        return plot_study(sweep_id, kind or "history", workspace)
    if metric is None:
        raise InvalidInput("plot_sweep needs the metric to plot, e.g. plot_sweep(sweep_id, \"metrics.auc\")")
    return _plot(sweep_id, _metric_key(metric), workspace)
