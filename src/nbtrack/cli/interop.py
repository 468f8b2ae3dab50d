"""``nbtrack export mlflow`` and ``nbtrack import mlflow``: thin shells over nbtrack.interop."""

from __future__ import annotations

import click

from . import cli
from .output import echo
from .progress import progress

TARGETS = click.Choice(["mlflow"])


def _mlflow_errors(fn):
    """MLflow's own errors (a store it refuses, a server that says no) as one line, exit 1."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            if type(e).__name__ != "MlflowException":
                raise
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise click.ClickException(f"MLflow: {first}") from e

    return wrapper


@cli.command("export")
@click.argument("target", type=TARGETS)
@click.option("--tracking-uri", required=True, help="MLflow tracking URI: sqlite:///mlflow.db, postgresql://..., http://host:5000.")
@click.option("--registry-uri", default=None, help="MLflow model registry URI (default: the tracking URI).")
@click.option("--experiment", default=None, help="Only the runs of this experiment.")
@click.option("--since", default=None, help="Only runs started at or after this date/time (ISO, UTC).")
@click.option("--no-models", is_flag=True, help="Runs only: leave registered models out.")
@click.option("--trust", is_flag=True, help="Also export model versions that load only with trust (pickles).")
@_mlflow_errors
def export_cmd(target: str, tracking_uri: str, registry_uri: str | None, experiment: str | None,
               since: str | None, no_models: bool, trust: bool) -> None:
    """Export runs, artifacts, datasets and registered models to MLflow (again: updates, never duplicates).

    In Python: nbtrack.export_mlflow(tracking_uri, experiment=..., since=...)
    """
    from ..interop.mlflow_export import export_mlflow

    result = export_mlflow(tracking_uri, experiment, since, registry_uri=registry_uri, models=not no_models,
                           trust=True if trust else None, progress=progress("exporting runs"))
    for line in result.warnings:
        echo(f"warning: {line}", err=True)
    echo(str(result))


@cli.command("import")
@click.argument("target", type=TARGETS)
@click.option("--tracking-uri", required=True, help="MLflow tracking URI: sqlite:///mlflow.db, postgresql://..., http://host:5000.")
@click.option("--registry-uri", default=None, help="MLflow model registry URI (default: the tracking URI).")
@click.option("--experiment", default=None, help="Only the runs of this MLflow experiment.")
@click.option("--no-models", is_flag=True, help="Runs only: leave registered models out.")
@click.option("--trust", is_flag=True, help="Import pickled MLflow models too (loading a pickle can run code).")
@_mlflow_errors
def import_cmd(target: str, tracking_uri: str, registry_uri: str | None, experiment: str | None,
               no_models: bool, trust: bool) -> None:
    """Import runs, metric histories, artifacts and registered models from MLflow (again: updates only).

    Pickled MLflow models are refused without --trust (exit 2 after importing the rest).
    In Python: nbtrack.import_mlflow(tracking_uri, experiment=..., trust=...)
    """
    from ..interop.mlflow_import import import_mlflow

    result = import_mlflow(tracking_uri, experiment, registry_uri=registry_uri, models=not no_models,
                           trust=True if trust else None, progress=progress("importing runs"))
    for line in result.warnings:
        echo(f"warning: {line}", err=True)
    for line in result.refused:
        echo(f"refused: {line}", err=True)
    echo(str(result))
    if result.refused:
        raise click.exceptions.Exit(2)
