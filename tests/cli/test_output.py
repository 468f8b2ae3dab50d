"""CLI output never interprets user text: no rich markup, no terminal control sequences (issue 12, r08)."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

import nbtrack
from nbtrack.cli import cli
from nbtrack.cli.output import safe

MARKUP = ["[/.]", "[a-z]+", "[link=https://evil.example]click-me[/link]", "[bold red]loud[/]", ":smile:"]
CONTROL = ["\x1b]0;PWNED\x07\x1b[2J", "\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\", "\u202eevil",
           "\x9b31m", "a\rb"]
EVIL = MARKUP + CONTROL
RAW = ("\x1b", "\x07", "\u202e", "\x9b", "\r")


def test_safe_shows_control_characters_as_visible_escapes():
    assert safe("\x1b]0;PWNED\x07") == "\\x1b]0;PWNED\\x07"
    assert safe("\u202eevil") == "\\u202eevil"
    assert safe("tab\tand\nnewline [b]kept[/b]") == "tab\tand\nnewline [b]kept[/b]"


@pytest.fixture
def evil_workspace(workspace):
    for i, text in enumerate(EVIL):
        with nbtrack.track(f"run{i} {text}", params={"pattern": text, f"k{i}{text}": 1},
                           tags={"note": text}) as run:
            run.log_metric("acc", 0.5)
            run.log_artifact(b"x", name=f"a{i}{text[:20]}.txt")
    try:
        with nbtrack.track("boom"):
            raise ValueError("bad " + "".join(EVIL))
    except ValueError:
        pass
    nbtrack.snapshot(pd.DataFrame({"col" + "".join(EVIL): [1, 2]}), "frame" + MARKUP[0])
    from sklearn.linear_model import LinearRegression

    X = pd.DataFrame({"a": [0.0, 1.0, 2.0]})
    nbtrack.log_model(LinearRegression().fit(X, X["a"]), "m")
    nbtrack.set_alias("m", "production", 1, reason="ok " + "".join(EVIL))
    return workspace


def _commands():
    boom = nbtrack.runs(filter="name == 'boom'").id[0]
    first = nbtrack.runs(filter="name == 'run0 [/.]'").id[0]
    return [["runs"], ["runs", "--format", "csv"], ["runs", "--format", "json"], ["show", boom], ["show", first],
            ["events"], ["datasets"], ["datasets", "show", "frame[/.]", "--stats", "1"], ["lineage", first],
            ["models", "show", "m"], ["show", "\x1b]0;PWNED\x07nosuchrun"]]


def test_no_command_interprets_user_text(evil_workspace):
    runner = CliRunner()
    for args in _commands():
        result = runner.invoke(cli, args)
        out = result.output
        assert "Traceback" not in out and result.exception is None or isinstance(result.exception, SystemExit), \
            (args, out)
        assert not any(c in out for c in RAW), (args, out)
        if args == ["runs"]:
            assert "[a-z]+" in out and "[/.]" in out and "[link=https://evil.example]" in out
    show = runner.invoke(cli, _commands()[3]).output
    assert "\\x1b]0;PWNED\\x07" in show  # shown, harmlessly
    assert "[bold red]loud[/]" in runner.invoke(cli, ["events"]).output


def test_click_usage_errors_do_not_echo_control_characters(workspace):
    result = CliRunner().invoke(cli, ["runs", "--format", "\x1b]0;PWNED\x07"])
    assert result.exit_code == 2 and "\x1b" not in result.output and "\\x1b" in result.output


def test_every_cli_module_prints_through_the_cleaning_echo():
    """The class, not the instances: a new command that calls click.echo/print directly fails here."""
    import pathlib
    import re

    import nbtrack.cli

    folder = pathlib.Path(nbtrack.cli.__file__).parent
    offenders = []
    for path in folder.glob("*.py"):
        if path.name == "output.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\bclick\.echo\(|\bclick\.secho\(|(?<![\w.])print\(", line) and "interrupted" not in line:
                offenders.append(f"{path.name}:{n}: {line.strip()}")
    assert not offenders, "print user text with nbtrack.cli.output.echo:\n" + "\n".join(offenders)
