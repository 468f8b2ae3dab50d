"""Commands over dataset versions: datasets, datasets show, diff, lineage."""

from __future__ import annotations

import click

from . import cli
from .output import echo, print_frame, print_json

FORMATS = click.Choice(["table", "json", "csv"])


@cli.group(invoke_without_command=True)
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_context
def datasets(ctx: click.Context, fmt: str) -> None:
    """List datasets: versions, latest version's shape and size.

    In Python: nbtrack.datasets()
    """
    if ctx.invoked_subcommand is not None:
        return
    from ..snapshot.api import datasets as list_datasets

    print_frame(list_datasets(), fmt, title="datasets")


@datasets.command("show")
@click.argument("name")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--stats", "ref", metavar="VERSION", help="also print the summary statistics of this version")
def show(name: str, fmt: str, ref: str | None) -> None:
    """Show the versions of dataset NAME (new_chunks: chunks no earlier version had).

    In Python: nbtrack.dataset_versions(name)
    """
    from ..snapshot.api import dataset_version, dataset_versions

    df = dataset_versions(name)
    if fmt == "table":
        df = df.drop(columns=["id"]).assign(run_id=df["run_id"].str[:10])
    print_frame(df, fmt, title=f"dataset {name}")
    if ref:
        stats = dataset_version(f"{name}@{ref}" if "@" not in ref else ref).stats()
        print_frame(_compact(stats), fmt, title="statistics")


def _compact(stats):
    """Statistics without the drift bins, ``top`` cut to three values, for a terminal."""
    keep = [c for c in ("count", "nulls", "min", "max", "mean", "std", "top") if c in stats.columns]
    out = stats[keep].copy()
    if "top" in out:
        out["top"] = [", ".join(f"{v} ({n})" for v, n in t[:3]) if isinstance(t, list) else ""
                      for t in out["top"]]
    return out.reset_index(names="column").astype(object).where(out.reset_index(names="column").notna(), None)


@cli.command()
@click.argument("a")
@click.argument("b")
@click.option("--rows", "-n", type=int, default=10, show_default=True, help="changed/added/removed rows to print")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def diff(a: str, b: str, rows: int, fmt: str) -> None:
    """Compare two dataset versions, e.g. `nbtrack diff raw@1 raw@2`.

    Prints schema changes, rows added/removed/changed (by index) and changed
    values per column. In Python: nbtrack.diff(a, b)
    """
    from ..snapshot.api import diff as do_diff

    _not_runs(a, b)
    d = do_diff(a, b)
    if fmt == "json":
        print_json({**d.summary(), "schema": d.schema.to_dict("records"),
                    "column_changes": d.column_changes.to_dict()})
        return
    echo(repr(d))
    for title, part in (("changed", d.changed), ("added", d.added), ("removed", d.removed)):
        if rows and len(part):
            echo(f"--- {title} (first {min(rows, len(part))} of {len(part)}) ---")
            echo(part.head(rows).to_string())


def _not_runs(a: str, b: str) -> None:
    """``nbtrack diff RUN RUN`` is a run comparison: say so instead of "no dataset 'a296'"."""
    if "@" in a or "@" in b:
        return
    from ..errors import NbtrackError
    from ..query.ids import resolve_run_id
    from ..workspace import get_workspace

    try:
        with get_workspace(create=False).meta.read() as conn:
            resolve_run_id(conn, a)
            resolve_run_id(conn, b)
    except NbtrackError:
        return
    raise click.UsageError(f"{a} and {b} are runs: compare runs with `nbtrack compare {a} {b}`; "
                           "nbtrack diff compares dataset versions (NAME@N)")


@cli.command()
@click.argument("target")
@click.option("--depth", type=int, default=10, show_default=True, help="edges to follow each way")
@click.option("--format", "fmt", type=click.Choice(["text", "table", "json", "csv"]), default="text",
              show_default=True)
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="also draw the graph to this PNG/SVG")
def lineage(target: str, depth: int, fmt: str, plot_path: str | None) -> None:
    """Show what TARGET came from and what came of it.

    TARGET is a run id (or prefix), NAME@N (a dataset version, else a model
    version), or dataset:NAME@N / model:NAME@N. In Python: nbtrack.lineage(target)
    """
    from ..snapshot.api import lineage as do_lineage

    if plot_path:
        _check_writable(plot_path)
    g = do_lineage(target, depth=depth)
    if fmt == "text":
        echo(g.text())
    else:
        print_frame(g.to_frame()[["source_label", "relation", "target_label", "source", "target"]], fmt,
                    title="lineage")
    if plot_path:
        try:
            g.plot().savefig(plot_path, bbox_inches="tight")
        except (OSError, ValueError) as e:  # a format matplotlib does not know, a vanished folder
            raise click.BadParameter(str(e), param_hint="--plot") from None
        echo(f"graph written to {plot_path}", err=True)


def _check_writable(path: str) -> None:
    import os

    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise click.BadParameter(f"folder {folder} does not exist", param_hint="--plot")
    if not os.access(folder, os.W_OK):
        raise click.BadParameter(f"folder {folder} is not writable", param_hint="--plot")
    from matplotlib.backend_bases import FigureCanvasBase

    kinds = FigureCanvasBase.get_supported_filetypes()
    ext = os.path.splitext(path)[1].lstrip(".").lower()
    if ext not in kinds:
        raise click.BadParameter(f"{path}: name the file .png, .svg or .pdf (matplotlib writes "
                                 f"{', '.join(sorted(kinds))})", param_hint="--plot")
