"""``nbtrack migrate-store``: copy the workspace to another backend (a shell over nbtrack.migrate)."""

from __future__ import annotations

import sys
from typing import Any

import click

from . import cli
from .output import echo


class _Bars:
    """One rich progress bar per phase, on a terminal only."""

    def __init__(self) -> None:
        self.progress: Any = None
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> _Bars:
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
                                     TimeRemainingColumn(), console=Console(stderr=True), transient=True)
            self.progress.start()
        return self

    def __call__(self, phase: str, done: int, total: int) -> None:
        if self.progress is None:
            return
        task = self.tasks.get(phase)
        if task is None:
            task = self.tasks[phase] = self.progress.add_task(phase, total=max(total, 1))
        self.progress.update(task, completed=done, total=max(total, done, 1))

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()


@cli.command("migrate-store")
@click.option("--to", "to", required=True, metavar="META_URL",
              help="target metadata: a database URL (postgresql+psycopg://..., sqlite:///...) or a new folder")
@click.option("--objects", metavar="URL",
              help="target object store: a folder or s3://bucket/prefix (default: the folder's objects/, "
                   "or the current object store for a database URL)")
def migrate_store(to: str, objects: str | None) -> None:
    """Copy this workspace (metadata and objects) to another backend, resumably, verified at the end.

    Ids, timestamps and the audit chain are kept; an encrypted store stays encrypted under
    the same key. Killed midway, the same command continues where it stopped. Stop writers
    first. In Python: nbtrack.migrate_store(to, objects=None)
    """
    from ..migrate import migrate_store as do_migrate

    with _Bars() as bars:
        report = do_migrate(to, objects, progress=bars)
    for line in report.lines():
        echo(line)
