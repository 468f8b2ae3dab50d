"""Pipeline commands: run, sweep, reproduce. Exit codes: 0 ok, 1 failed (cell, gate), 2 usage/input."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..errors import GateFailed
from . import cli
from .output import echo, print_frame, print_rows

TIMEOUT = click.FloatRange(min=0, min_open=True)
PARAM = click.option("-p", "--parameter", "params", nargs=2, multiple=True, metavar="NAME VALUE",
                     help="a parameter, parsed like papermill -p (repeatable)")


def skip_slow_optional_imports() -> None:
    """Start-up trims for our own CLI process (never applied to a user's kernel or session):
    papermill is imported without what it never needs here, while the run's kernel boots
    (see :func:`nbtrack.pipeline.execute.import_papermill`)."""
    from ..pipeline import execute

    execute.TRIM_PAPERMILL_IMPORT = True


def _echo_gates(gates) -> None:
    for g in gates:
        echo(f"  {g}")


@cli.command("run")
@click.argument("pipeline")
@PARAM
@click.option("--version", type=int, help="approved version (default: the newest)")
@click.option("--gate", "gates", multiple=True, metavar="EXPR", help='e.g. "metrics.auc>=0.9" (repeatable)')
@click.option("--gate-vs", metavar="ALIAS:METRIC", help="at least as good as that alias, e.g. production:auc")
@click.option("--register", metavar="MODEL", help="register the run's model under this name if the gates pass")
@click.option("--promote-to", metavar="ALIAS", help="then promote it (gated by the registry)")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="also write the executed notebook here")
@click.option("--timeout", type=TIMEOUT, help="seconds any one cell may run")
def run_cmd(pipeline, params, version, gates, gate_vs, register, promote_to, output, timeout) -> None:
    """Execute an approved notebook PIPELINE with papermill as a recorded pipeline run.

    Parameters are checked against the approved schema before the kernel starts.
    Exit code: 0 done and every gate passed, 1 a cell failed or a gate failed,
    2 a usage or input error.

    In Python: nbtrack.run_pipeline(PIPELINE, params={...}, gates=[...])
    """
    skip_slow_optional_imports()
    from ..pipeline.parameters import parse_pairs
    from ..pipeline.run import run_pipeline

    if promote_to and not register:
        raise click.UsageError("--promote-to needs --register MODEL")
    values, texts = parse_pairs(list(params))
    try:
        res = run_pipeline(pipeline, params=values, version=version, gates=list(gates), gate_vs=gate_vs,
                           register=register, promote_to=promote_to, output=output, timeout=timeout,
                           param_texts=texts, progress=sys.stderr.isatty())
    except KeyboardInterrupt:
        echo("interrupted: the kernel was stopped and the run recorded as interrupted", err=True)
        sys.exit(130)
    except GateFailed as e:
        result: Any = e.fields.get("result")  # a PipelineResult
        if result is not None and getattr(result, "gates", None):
            echo(f"run {result.run_id} ({result.pipeline}@{result.version}) gates:")
            _echo_gates(result.gates)
        raise
    echo(f"run {res.run_id} ({res.pipeline}@{res.version}) finished")
    for k, v in sorted(res.metrics.items()):
        echo(f"  {k} = {v:.6g}" if v is not None else f"  {k} = (none)")
    if res.gates:
        echo("gates:")
        _echo_gates(res.gates)
    if res.model:
        echo(f"registered {res.model}" + (f", promoted to {res.promoted}" if res.promoted else ""))
    if output:
        echo(f"executed notebook: {output}")


from .tuning import TUNING_ONLY, TUNING_OPTIONS  # noqa: E402  (the --optuna options of `sweep`)


@cli.command("sweep")
@click.argument("pipeline")
@click.option("-p", "--parameter", "params", nargs=2, multiple=True, metavar="NAME V1,V2,...",
              help="values to try for a parameter (repeatable)")
@click.option("--version", type=int, help="approved version (default: the newest)")
@click.option("--random", "n_random", type=int, help="run N random parameter sets instead of the grid")
@click.option("--seed", type=int, help="seed for --random")
@click.option("--parallel", type=int, default=1, show_default=True, help="local worker processes")
@click.option("--dask", metavar="ADDRESS", help="run on this Dask scheduler, e.g. tcp://host:8786")
@click.option("--select", metavar="METRIC", help="choose the best run by this metric, e.g. metrics.auc")
@click.option("--minimize", is_flag=True, help="lower --select values are better")
@click.option("--register", metavar="MODEL", help="register the best run's model under this name")
@click.option("--promote-to", metavar="ALIAS", help="then promote it (gated by the registry)")
@click.option("--timeout", type=TIMEOUT, help="seconds any one cell may run")
@click.option("--warm/--no-warm", default=True, show_default=True,
              help="each worker starts its next run's kernel while the current run executes")
@TUNING_OPTIONS
def sweep_cmd(pipeline, params, version, n_random, seed, parallel, dask, select, minimize, register,
              promote_to, timeout, warm, **tuning) -> None:
    """Run PIPELINE for every parameter set (grid, or --random N), each a run under one sweep run.

    A failed run does not stop the sweep; failures are listed at the end. Exit
    code: 0 when at least one run finished (and the best was found with
    --select), 1 otherwise, 2 for usage or input errors.

    With --optuna, Optuna chooses the parameter sets (-p C log:1e-3..1e2,
    -p max_depth int:2..12, -p kernel choice:rbf,linear) to optimise --objective
    over --trials trials; the same command resumes an interrupted study.

    In Python: nbtrack.sweep(PIPELINE, {"C": [0.1, 1]}, parallel=2, select="metrics.auc")
    """
    skip_slow_optional_imports()
    if tuning["optuna"] or any(tuning[k] for k in TUNING_ONLY):
        from .tuning import tuned_sweep_cmd

        tuned_sweep_cmd(pipeline, params, version=version, n_random=n_random, seed=seed, parallel=parallel,
                        dask=dask, select=select, minimize=minimize, register=register, promote_to=promote_to,
                        timeout=timeout, warm=warm, **tuning)
        return
    from ..pipeline.sweep import parse_space, sweep

    if not params:
        raise click.UsageError("give at least one -p NAME V1,V2,...")
    space, texts = parse_space(list(params))
    try:
        res = sweep(pipeline, space, version=version, random=n_random, seed=seed, parallel=parallel, dask=dask,
                    select=select, maximize=not minimize, register=register, promote_to=promote_to,
                    timeout=timeout, progress="auto", warm=warm, space_texts=texts)
    except KeyboardInterrupt:
        echo("interrupted: the sweep was stopped and recorded as interrupted", err=True)
        sys.exit(130)
    _sweep_report(res)
    sys.exit(res.exit_code)


def _sweep_report(res) -> None:
    names = list(dict.fromkeys(k for o in res.outcomes for k in o["params"]))
    columns = ["run", "status", *(f"params.{k}" for k in names)] + ([f"metrics.{res.metric}"] if res.metric else [])
    rows = [[(o["run_id"] or "-")[:10], o["status"], *(o["params"].get(k) for k in names)]
            + ([o["metrics"].get(res.metric)] if res.metric else []) for o in res.outcomes]
    print_rows(columns, rows, title=f"sweep {res.sweep_id}: {len(rows)} run(s)")
    if res.best is not None:
        echo(f"best: run {res.best['run_id']} {res.metric}={res.best['metrics'][res.metric]:.6g} "
                   f"{res.best['params']}")
    if res.model:
        echo(f"registered {res.model}" + (f", promoted to {res.promoted}" if res.promoted else ""))
    if res.failed:
        echo(f"{len(res.failed)} failed run(s):")
        for o in res.failed:
            echo(f"  {o['run_id'] or '-'} {o['params']}: {(o['error'] or '').splitlines()[0]}")
    echo(f"results: nbtrack runs --parent {res.sweep_id}")


@cli.command("reproduce")
@click.argument("run_id")
@click.option("--tolerance", type=float, default=1e-9, show_default=True,
              help="largest accepted metric difference (relative above 1)")
@click.option("--timeout", type=TIMEOUT, help="seconds any one cell may run")
def reproduce_cmd(run_id, tolerance, timeout) -> None:
    """Execute RUN_ID again (same approved version, parameters, pinned data) and compare.

    Prints each metric old vs new and the environment differences. Exit code 0
    when every metric matches within --tolerance, 1 otherwise.

    In Python: nbtrack.reproduce(RUN_ID, tolerance=1e-9)
    """
    skip_slow_optional_imports()
    from ..pipeline.reproduce import reproduce

    res = reproduce(run_id, tolerance=tolerance, timeout=timeout)
    print_frame(res.metrics, title=f"metrics: {res.original} (original) vs {res.reproduced} (reproduced)")
    if len(res.env):
        print_frame(res.env, title="environment differences")
    else:
        echo("environment: same python and package versions")
    echo("reproduced: every metric matches" if res.matched else "NOT reproduced: metrics differ")
    sys.exit(res.exit_code)
