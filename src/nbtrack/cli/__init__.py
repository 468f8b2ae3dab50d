"""``nbtrack`` command line: one click group, one module per stage.

Every command is a few lines over the Python API. Errors are translated here,
once: an nbtrack error prints one line and exits with its code (2 for usage or
input errors, 1 for failures).
"""

from __future__ import annotations

from .driver import maybe_forward

maybe_forward()  # `nbtrack run|sweep|reproduce` served by the pre-imported driver (exits), else returns

import copy  # noqa: E402
import inspect  # noqa: E402
import sys  # noqa: E402

import click  # noqa: E402

from ..errors import NbtrackError  # noqa: E402


def summary(cmd: click.Command) -> str:
    """A command's one-line summary in help listings: its whole first paragraph, never cut mid-sentence."""
    if cmd.short_help:
        return cmd.short_help
    text = inspect.cleandoc(cmd.help or "")
    first = text.split("\n\n", 1)[0].replace("\b\n", "")
    return " ".join(first.split())


def hidden_alias(cmd: click.Command, name: str) -> click.Command:
    """``cmd`` under an old ``name``: works, is not listed (the grammar in docs/cli.md)."""
    alias = copy.copy(cmd)
    alias.name, alias.hidden = name, True
    return alias


class Group(click.Group):
    group_class = type  # sub-groups (models, monitor, ...) are Groups too: same errors, same help

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, summary(cmd)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except NbtrackError as e:
            from .output import echo

            echo(f"Error: {e}", err=True)  # messages quote user input: never let it drive the terminal
            ctx.exit(e.exit_code)
        except ImportError as e:  # an optional extra that is not installed: say which
            from ..errors import missing_extra
            from .output import echo

            extra = missing_extra(e)
            if extra is None:
                raise
            echo(f"Error: {extra}", err=True)
            ctx.exit(extra.exit_code)
        except click.ClickException as e:  # click's usage errors quote the offending value
            from .output import safe

            e.message = safe(e.message)  # type: ignore[misc]  # click's stubs mark it Final; rewritten for the terminal
            raise


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="nbtrack")
def cli() -> None:
    """nbtrack: experiment runs, data and model versions from your notebooks.

    The workspace is found like git finds a repository: NBTRACK_URI, else the
    nearest .nbtrack/ folder upward from the current directory.
    """


def _register() -> None:
    from . import runs  # noqa: F401  (each module adds its commands to `cli`)
    from . import demo  # noqa: F401

    for name in ("snapshot", "registry", "pipeline", "serve", "monitor", "doctor", "migrate", "interop"):
        try:
            __import__(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise


_register()


def main() -> None:
    try:
        cli.main(standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
