"""``nbtrack sweep --optuna``: the tuned-sweep options of ``sweep`` and their report."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..errors import GateFailed, InvalidInput
from .output import echo, print_rows

TUNING_ONLY = ("trials", "objective", "sampler", "prune", "select_best", "gates", "study")


def TUNING_OPTIONS(f):
    """The options ``sweep`` takes for a tuned sweep (added to the grid sweep's)."""
    for opt in reversed([
        click.option("--optuna", is_flag=True, help="let Optuna choose the parameter sets (a tuned sweep)"),
        click.option("--trials", type=int, help="with --optuna: trials in the study in total (default 20)"),
        click.option("--objective", metavar='"METRIC max|min"', help='with --optuna: e.g. "metrics.auc max"'),
        click.option("--sampler", type=click.Choice(["tpe", "cmaes", "random"]),
                     help="with --optuna: Optuna's sampler (default tpe)"),
        click.option("--prune", is_flag=True,
                     help="with --optuna: stop poor trials early from the step values the notebook logs"),
        click.option("--select-best", is_flag=True,
                     help="with --optuna: select the best trial as the sweep's winner (needed by --gate, --register)"),
        click.option("--gate", "gates", multiple=True, metavar="EXPR",
                     help="with --optuna: the best trial must pass this before --register (repeatable)"),
        click.option("--study", metavar="NAME", help="with --optuna: study name (default: derived from the command)"),
    ]):
        f = opt(f)
    return f


def tuned_sweep_cmd(pipeline, params, *, version, n_random, seed, parallel, dask, select, minimize, register,
                    promote_to, timeout, warm, optuna, trials, objective, sampler, prune, select_best, gates,
                    study) -> None:
    from ..pipeline.tuning import OptunaSearch, tuned_sweep

    given = {"trials": trials, "objective": objective, "sampler": sampler, "prune": prune,
             "select_best": select_best, "gates": gates, "study": study}
    if not optuna:
        used = [f"--{k.replace('_', '-')}" for k in TUNING_ONLY if given[k]]
        raise InvalidInput(f"{', '.join(used)} need --optuna (a tuned sweep)")
    if n_random or select or minimize:
        raise InvalidInput("--random, --select and --minimize are for grid sweeps; with --optuna give --trials N "
                           'and --objective "metrics.NAME max|min"')
    if not objective:
        raise InvalidInput('--optuna needs --objective, e.g. --objective "metrics.auc max"')
    if not params:
        raise InvalidInput("--optuna needs the space: -p C log:1e-3..1e2 -p max_depth int:2..12 "
                           "-p kernel choice:rbf,linear")
    search = OptunaSearch(trials=20 if trials is None else trials, objective=objective, sampler=sampler or "tpe",
                          prune=prune, seed=seed, study=study, select_best=select_best)
    try:
        res = tuned_sweep(pipeline, list(params), search, version=version, parallel=parallel, dask=dask,
                          register=register, promote_to=promote_to, gates=list(gates), timeout=timeout,
                          progress="auto", warm=warm)
    except KeyboardInterrupt:
        echo("interrupted: the sweep was stopped; run the same command again to resume it", err=True)
        sys.exit(130)
    except GateFailed as e:
        result: Any = e.fields.get("result")  # a SweepResult
        if result is not None:
            report(result)
            for g in result.gates:
                echo(f"  {g}")
        raise
    report(res)
    for g in res.gates:
        echo(f"  {g}")
    sys.exit(res.exit_code)


def report(res) -> None:
    names = list(dict.fromkeys(k for o in res.outcomes for k in o["params"]))
    columns = ["trial", "run", "status", *(f"params.{k}" for k in names), f"metrics.{res.metric}"]
    rows = [[o["index"], (o["run_id"] or "-")[:10], o["status"], *(_short(o["params"].get(k)) for k in names),
             o["metrics"].get(res.metric)] for o in res.outcomes]
    counts = {s: sum(o["status"] == s for o in res.outcomes) for s in ("finished", "pruned", "failed")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    print_rows(columns, rows, title=f"sweep {res.sweep_id}: {len(rows)} trial(s), {summary}")
    if not res.selects:
        echo("no trial selected (--select-best selects the best one, which --gate and --register act on)")
    if res.best is not None:
        echo(f"best: trial {res.best['index']} run {res.best['run_id']} "
             f"{res.metric}={res.best['metrics'][res.metric]:.6g} {res.best['params']}")
    if res.model:
        echo(f"registered {res.model}" + (f", promoted to {res.promoted}" if res.promoted else ""))
    echo(f"results: nbtrack runs --parent {res.sweep_id}")


def _short(v):
    return float(f"{v:.6g}") if isinstance(v, float) else v
