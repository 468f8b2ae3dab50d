"""``nbtrack`` command line: one click group, one module per stage.

Every command is a few lines over the Python API. Errors are translated here,
once: an nbtrack error prints one line and exits with its code (2 for usage or
input errors, 1 for failures).
"""

from __future__ import annotations

import sys

import click

from ..errors import NbtrackError


class Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except NbtrackError as e:
            from .output import echo

            echo(f"Error: {e}", err=True)  # messages quote user input: never let it drive the terminal
            ctx.exit(e.exit_code)
        except click.ClickException as e:  # click's usage errors quote the offending value
            from .output import safe

            e.message = safe(e.message)
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

    for name in ("snapshot", "registry", "pipeline", "serve", "monitor", "doctor"):
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
