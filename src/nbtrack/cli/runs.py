"""Commands over runs and the workspace: init, runs, show, fsck, gc."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

import click

from . import cli
from .output import echo, print_frame, print_json

FORMATS = click.Choice(["table", "json", "csv"])


@cli.command()
@click.argument("path", required=False, type=click.Path(file_okay=False))
def init(path: str | None) -> None:
    """Create a workspace (.nbtrack/) in PATH (default: the current directory).

    In Python: nbtrack.init(path)
    """
    from ..workspace import init as do_init

    ws = do_init(path)
    echo(f"workspace ready: {ws.root}")


@cli.command("runs")
@click.option("--filter", "-f", "filter_", help="e.g. \"metrics.acc > 0.9 and params.model == 'rf'\"")
@click.option("--order-by", "-o", help="e.g. 'metrics.acc desc' (default: newest first)")
@click.option("--limit", "-n", type=int, default=50, show_default=True, help="0 for all")
@click.option("--experiment", "-e", help="only this experiment")
@click.option("--parent", help="only children of this run")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
def runs_cmd(filter_, order_by, limit, experiment, parent, fmt) -> None:
    """List runs, newest first, with params and the last value of each metric.

    In Python: nbtrack.runs(filter=..., order_by=..., limit=...)
    """
    from ..query import runs

    df = runs(experiment=experiment, filter=filter_, order_by=order_by, limit=limit or None, parent=parent)
    title = f"{len(df)} run(s)"
    if fmt == "table":
        df = compact(df)
        if limit and len(df) == limit:
            from ..query import count_runs

            total = count_runs(filter_, experiment=experiment, parent_id=parent)
            if total > limit:
                title = f"newest {limit} of {total} runs (--limit 0 shows all)" if not order_by else \
                    f"first {limit} of {total} runs (--limit 0 shows all)"
    print_frame(df, fmt, title=title)


def compact(df):
    """The runs table for people: short ids, local times, no empty columns."""
    df = df.assign(id=df["id"].str[:10])
    if "started" in df:
        df["started"] = df["started"].dt.tz_convert(None).dt.strftime("%Y-%m-%d %H:%M:%S")
    if "duration" in df:
        df["duration"] = df["duration"].map(lambda d: "" if d != d or d is None else f"{d:.3f}s")
    drop = ["notebook"] + [c for c in ("parent", "cell_version") if c in df and df[c].isna().all()]
    if "experiment" in df and (df["experiment"] == "default").all():
        drop.append("experiment")
    return df.drop(columns=[c for c in drop if c in df])


def _ts(t: float | None) -> str:
    if t is None:
        return ""
    return datetime.fromtimestamp(t, timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M:%S")


@cli.command()
@click.argument("run_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--source/--no-source", default=True, help="print the cell or script source")
def show(run_id: str, fmt: str, source: bool) -> None:
    """Show one run: params, metrics, artifacts, source (RUN_ID or a unique prefix).

    In Python: nbtrack.get_run(run_id)
    """
    from ..query import get_run

    run = get_run(run_id)
    if fmt == "json":
        d = run.to_dict()
        d["source"] = run.source
        print_json(d)
        return
    lines = [
        f"run       {run.id}  {run.name or ''}",
        f"status    {run.status}" + (f"  ({run.error_type}: {run.error_message})" if run.error_type else ""),
        f"kind      {run.kind}   experiment {run.experiment}" + (f"   parent {run.parent_id}" if run.parent_id else ""),
        f"started   {_ts(run.started)}   duration {run.duration or 0:.3f}s",
    ]
    if run.notebook or run.cell_version:
        lines.append(f"cell      {run.notebook or '?'} {run.cell_id or ''} version {run.cell_version}")
    if run.git_commit:
        lines.append(f"git       {run.git_commit[:12]}{' (dirty)' if run.git_dirty else ''}")
    if run.params:
        lines.append("params    " + ", ".join(f"{k}={v!r}" for k, v in run.params.items()))
    if run.metrics:
        lines.append("metrics   " + ", ".join(f"{k}={v:.6g}" if v is not None else f"{k}=nan"
                                              for k, v in run.metrics.items()))
    if run.tags:
        lines.append("tags      " + ", ".join(f"{k}={v}" for k, v in run.tags.items()))
    if getattr(run, "inputs", None):
        lines.append("inputs    " + ", ".join(run.inputs))
    if getattr(run, "outputs", None):
        lines.append("outputs   " + ", ".join(run.outputs))
    for a in run.artifacts:
        lines.append(f"artifact  {a['name']}  {a['media_type']}  {a['size']:,} bytes  {a['oid'][:12]}")
    echo("\n".join(lines))
    if source and run.source is not None:
        echo("--- source ---")
        echo(run.source.rstrip("\n"))


@cli.command()
@click.option("--quiet", "-q", is_flag=True, help="print problems only")
@click.option("--repair", is_flag=True, help="restore damaged or missing objects from healthy copies")
@click.option("--from", "sources", multiple=True, metavar="FOLDER_OR_URL",
              help="with --repair: another objects folder or a backup to copy healthy objects from (repeatable)")
@click.option("--deep", is_flag=True, help="also load every dataset version back and report those that do not")
def fsck(quiet: bool, repair: bool, sources: tuple[str, ...], deep: bool) -> None:
    """Verify every object against its hash and every reference to it.

    Exits 1 when anything is corrupt or missing, the database is damaged, or (with
    --deep) a dataset version does not load. In Python: nbtrack.fsck(repair=False, sources=[], deep=False)
    """
    from ..maintenance import fsck as do_fsck
    from .progress import progress

    if sources and not repair:
        raise click.UsageError("--from is used with --repair")
    report = do_fsck(progress=None if quiet else progress("verifying objects"), repair=repair, sources=sources,
                     deep=deep)
    for line in report.lines():
        if not quiet or not report.ok:
            echo(line)
    sys.exit(0 if report.ok else 1)


@cli.command()
@click.argument("dest", type=click.Path(file_okay=False))
def backup(dest: str) -> None:
    """Copy the workspace into the new folder DEST safely, even while kernels are writing to it.

    meta.db is copied with SQLite's online backup API (what is still in its
    write-ahead log included), then the objects and config.toml.
    In Python: nbtrack.backup(DEST)
    """
    from ..maintenance import backup as do_backup

    done = do_backup(dest)
    echo(f"backed up {done['source']} -> {done['meta']}; {done['objects']:,} object(s) copied "
         f"({done['bytes']:,} bytes), {done['objects_skipped']:,} already there")


@cli.command()
@click.option("--force", is_flag=True, help="really delete (default: dry run)")
@click.option("--min-age", type=float, default=3600.0, show_default=True,
              help="keep unreferenced objects younger than this many seconds (a run may be writing them)")
def gc(force: bool, min_age: float) -> None:
    """Remove objects that nothing refers to (a dry run unless --force).

    In Python: nbtrack.gc(force=True)
    """
    from ..maintenance import gc as do_gc

    report = do_gc(force=force, min_age_s=min_age)
    for line in report.lines():
        echo(line)
