"""Commands over runs and the workspace: init, runs, show, fsck, gc."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import Any

import click

from . import cli, hidden_alias
from .output import echo, print_frame, print_json

FORMATS = click.Choice(["table", "json", "csv"])


@cli.command()
@click.argument("path", required=False, type=click.Path(file_okay=False))
@click.option("--encrypt", is_flag=True, help="encrypt objects at rest (key: NBTRACK_KEY, --key-file or OS keyring)")
@click.option("--key-file", type=click.Path(dir_okay=False), help="file holding the 64-hex-character key (mode 600)")
@click.option("--meta", metavar="URL", help="metadata database, e.g. postgresql+psycopg://user@host/db "
              "(password: PGPASSWORD or ~/.pgpass, never stored)")
@click.option("--objects", metavar="URL", help="object store, e.g. s3://bucket/prefix (endpoint and credentials: "
              "the standard AWS environment, never stored)")
def init(path: str | None, encrypt: bool, key_file: str | None, meta: str | None, objects: str | None) -> None:
    """Create a workspace (.nbtrack/) in PATH (default: the current directory).

    In Python: nbtrack.init(path, encrypt=False, key_file=None, meta=None, objects=None)
    """
    from ..workspace import init as do_init

    ws = do_init(path, encrypt=encrypt, key_file=key_file, meta=meta, objects=objects)
    where = f" (metadata: {ws.meta_url}; objects: {ws.objects_url})" if meta or objects else ""
    echo(f"workspace ready: {ws.root}{where}{' (objects encrypted)' if ws.objects.encrypted else ''}")


@cli.group("runs", invoke_without_command=True, subcommand_metavar="[show RUN]")
@click.option("--filter", "-f", "filter_", help="e.g. \"metrics.acc > 0.9 and params.model == 'rf'\"")
@click.option("--order-by", "-s", help="e.g. 'metrics.acc desc' (default: newest first)")
@click.option("-o", "order_by_old", hidden=True)  # was --order-by's short form; -o means --output everywhere
@click.option("--limit", "-n", type=int, default=50, show_default=True, help="0 for all")
@click.option("--experiment", "-e", help="only this experiment")
@click.option("--parent", help="only children of this run")
@click.option("--status", "statuses", multiple=True, help="only runs with this status (repeatable)")
@click.option("--kind", "kinds", multiple=True, help="only runs of this kind: cell, script, pipeline... (repeatable)")
@click.option("--notebook", "notebooks", multiple=True, help="only runs of this notebook path (repeatable)")
@click.option("--columns", "-c", help="comma-separated columns to show after id and name, e.g. params.C,metrics.acc")
@click.option("--all", "all_", is_flag=True, help="every column, model hyper-parameters (params.model.*) too")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_context
def runs_cmd(ctx, filter_, order_by, order_by_old, limit, experiment, parent, statuses, kinds, notebooks, columns,
             all_, fmt) -> None:
    """List runs, newest first, with params and the last value of each metric.

    The table fits the terminal (or $COLUMNS): columns that do not fit are left out
    and counted in a footer; --columns picks them, --all shows everything.
    `nbtrack runs show RUN` shows one run.

    In Python: nbtrack.runs(filter=..., order_by=..., limit=...)
    """
    if ctx.invoked_subcommand:
        return
    if order_by_old:
        echo("nbtrack runs: -o is --output in every command; sort with --order-by (or -s)", err=True)
        order_by = order_by or order_by_old
    from ..query import runs

    where: dict[str, Any] = {"status": list(statuses) or None, "kind": list(kinds) or None,
                             "notebook": list(notebooks) or None}
    df = runs(experiment=experiment, filter=filter_, order_by=order_by, limit=limit or None, parent=parent,
              model_params=all_, **where)
    if columns:
        wanted = [c.strip() for c in columns.split(",") if c.strip()]
        unknown = [c for c in wanted if c not in df.columns]
        if unknown and len(df):
            raise click.UsageError(f"no column {', '.join(map(repr, unknown))}; columns: {', '.join(df.columns)}")
        df = df[["id", "name"] + [c for c in wanted if c in df.columns and c not in ("id", "name")]]
    title = f"{len(df)} run(s)"
    if fmt != "table":
        print_frame(df, fmt, title=title)
        return
    df = compact(df, keep=bool(columns) or all_)
    if limit and len(df) == limit:
        from ..query import count_runs

        total = count_runs(filter_, experiment=experiment, parent=parent, **where)
        if total > limit:
            title = f"newest {limit} of {total} runs (--limit 0 shows all)" if not order_by else \
                f"first {limit} of {total} runs (--limit 0 shows all)"
    width = None if all_ else table_width()
    dropped: list[str] = []
    if width:
        df, dropped = fit_columns(df, width)
    print_frame(df, fmt, title=title, width=width, max_col=None if all_ else MAX_COL)
    if dropped:
        echo(more_columns(dropped, width))


def more_columns(dropped: list[str], width: int | None) -> str:
    """``+N more columns (a, b, ...): --columns A,B picks, --all shows all``, within ``width``."""
    head = f"+{len(dropped)} more column{'s' * (len(dropped) > 1)}"
    tail = ": --columns A,B picks, --all shows all"
    names = ""
    for i, col in enumerate(dropped):
        more = ", ..." if i < len(dropped) - 1 else ""
        candidate = f"{names}, {col}" if names else col
        if width and len(f"{head} ({candidate}{more}){tail}") > width:
            names += ", ..." if names else "..."
            break
        names = candidate
    return f"{head} ({names}){tail}"


MAX_COL = 30  # widest column in a fitted table; longer values end with an ellipsis


def table_width() -> int | None:
    """The terminal's width, or $COLUMNS for a pipe that sets it; None: unlimited."""
    import os
    import shutil

    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    cols = os.environ.get("COLUMNS", "")
    return int(cols) if cols.isdigit() and int(cols) > 0 else None


def fit_columns(df, width: int):
    """The leading columns that fit ``width`` in a table, and the names of those left out."""
    from .output import _cell

    used = 1
    kept: list[Any] = []
    dropped: list[Any] = []
    for i, col in enumerate(df.columns):
        w = min(MAX_COL, max([len(str(col))] + [len(_cell(v)) for v in df[col]]))
        if used + w + 3 <= width and not dropped:
            kept.append(col)
            used += w + 3
        elif i < 2:  # id and name always: the name shrinks instead
            kept.append(col)
            used += min(w, 12) + 3
        else:
            dropped.append(col)
    return df[kept], dropped


def compact(df, keep: bool = False):
    """The runs table for people: short ids, local times, no empty or constant bookkeeping columns."""
    df = df.assign(id=df["id"].str[:10])
    if "started" in df:
        df["started"] = df["started"].dt.tz_convert(None).dt.strftime("%Y-%m-%d %H:%M:%S")
    if "duration" in df:
        df["duration"] = df["duration"].map(lambda d: "" if d != d or d is None else f"{d:.3f}s")
    drop = ["notebook"] + [c for c in ("parent", "cell_version") if c in df and df[c].isna().all()]
    if "experiment" in df and (df["experiment"] == "default").all():
        drop.append("experiment")
    if not keep:
        if "kind" in df and df["kind"].nunique() <= 1:
            drop.append("kind")
        if "cell_version" in df and (df["cell_version"].fillna(1) == 1).all():
            drop.append("cell_version")
        drop += [c for c in df.columns if c.startswith(("params.", "metrics.")) and df[c].isna().all()]
    return df.drop(columns=[c for c in dict.fromkeys(drop) if c in df])


def _ts(t: float | None) -> str:
    if t is None:
        return ""
    return datetime.fromtimestamp(t, timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M:%S")


@runs_cmd.command("show")
@click.argument("run_id", metavar="RUN")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--source/--no-source", default=True, help="print the cell or script source")
@click.option("--stdout/--no-stdout", default=True, help="print what the run printed")
def show(run_id: str, fmt: str, source: bool, stdout: bool) -> None:
    """Show one run: params, metrics, artifacts, source, stdout (RUN: an id or a unique prefix).

    In Python: nbtrack.get_run(run_id)
    """
    from ..query import get_run

    run = get_run(run_id)
    if fmt == "json":
        d = run.to_dict()
        d["source"] = run.source
        d["stdout"] = run.stdout
        for key in ("started", "ended"):  # ISO 8601 UTC, as `nbtrack runs --format json` writes them
            if d.get(key) is not None:
                iso = datetime.fromtimestamp(d[key], timezone.utc).isoformat(timespec="milliseconds")
                d[key] = iso.replace("+00:00", "Z")
        print_json(d)
        return
    lines = [
        f"run       {run.id}  {run.name or ''}",
        f"status    {run.status}" + (f"  ({run.error_type}: {run.error_message})" if run.error_type else ""),
        f"kind      {run.kind}   experiment {run.experiment}" + (f"   parent {run.parent_id}" if run.parent_id else ""),
        f"started   {_ts(run.started)}   duration {run.duration or 0:.3f}s",
    ]
    if run.notebook or run.cell_version:
        label = run.cell_id or ((run.cell_key or "").split("::", 1)[-1] if run.cell_key else "")
        cell = "  ".join(p for p in (run.notebook, label, f"version {run.cell_version}" if run.cell_version else "")
                         if p)
        lines.append(f"cell      {cell}")
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
    if stdout and run.stdout:
        echo("--- stdout ---")
        echo(run.stdout.rstrip("\n"))


cli.add_command(hidden_alias(show, "show"))  # `nbtrack show RUN`: the spelling before `runs show`


@cli.command()
@click.argument("run_ids", nargs=-1, required=True, metavar="RUN RUN...")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--all", "all_", is_flag=True, help="every param, not only those that differ")
@click.option("--source/--no-source", default=True, help="the source diff of the first and last run")
def compare(run_ids: tuple[str, ...], fmt: str, all_: bool, source: bool) -> None:
    """Compare runs side by side: params that differ, metrics, and the source diff.

    RUN is a run id or a unique prefix; up to 12 runs. In Python: nbtrack.compare_runs(*runs)
    """
    from ..query import compare_runs

    if len(run_ids) < 2:
        raise click.UsageError("give two runs or more, e.g. nbtrack compare 1a2b3c4d 5e6f7a8b")
    c = compare_runs(*run_ids)
    keys = list(c.params) if all_ else c.differing("params")
    if fmt == "json":
        print_json({"runs": [r.id for r in c.runs], "params": {k: c.params[k] for k in keys},
                    "metrics": c.metrics, "source_diff": c.source_diff() if source else None})
        return
    from .output import print_rows

    header = ["", *(f"{r.id[:8]} {r.name or ''}".rstrip() for r in c.runs)]
    rows = [("status", *(r.status for r in c.runs))]
    rows += [(f"params.{k}", *c.params[k]) for k in keys]
    rows += [(f"metrics.{k}", *vs) for k, vs in c.metrics.items()]
    print_rows(header, rows, numeric=[False] * len(header))
    if not all_ and len(keys) < len(c.params):
        echo(f"{len(c.params) - len(keys)} param(s) equal in every run not shown (--all shows them)")
    if source:
        diff = c.source_diff()
        echo(diff.rstrip("\n") if diff else "same source" if c.runs[0].source is not None else "no source recorded")


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
@click.option("--new-key-file", required=True, type=click.Path(dir_okay=False),
              help="file holding the new 64-hex-character key (mode 600)")
def rekey(new_key_file: str) -> None:
    """Re-encrypt every object under a new key; run it again to resume after a crash.

    The current key is read as usual (NBTRACK_KEY, key file, OS keyring). In Python:
    nbtrack.rekey.rekey(new_key_file)
    """
    from ..rekey import rekey as do_rekey, report_lines
    from .progress import progress

    for line in report_lines(do_rekey(new_key_file, progress=progress("re-encrypting objects"))):
        echo(line)


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
@click.option("--min-age", type=click.FloatRange(min=0), default=3600.0, show_default=True,
              help="keep unreferenced objects younger than this many seconds (a run may be writing them)")
def gc(force: bool, min_age: float) -> None:
    """Remove objects that nothing refers to (a dry run unless --force).

    In Python: nbtrack.gc(force=True)
    """
    from ..maintenance import gc as do_gc

    report = do_gc(force=force, min_age_s=min_age)
    for line in report.lines():
        echo(line)
