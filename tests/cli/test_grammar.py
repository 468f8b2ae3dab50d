"""Every command follows the grammar written in docs/cli.md (issue 19 item 9)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import nbtrack
from nbtrack.cli import cli, summary

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _words(kind: str) -> set[str]:
    m = re.search(rf"^`{kind}: ([a-z \-]+)`$", DOC.read_text(), re.M)
    assert m, f"docs/cli.md lost its `{kind}: ...` line"
    return set(m.group(1).split())


NOUNS, VERBS = _words("nouns"), _words("verbs")


def visible(group=cli, prefix=()):
    for name, cmd in sorted(group.commands.items()):
        if cmd.hidden:
            continue
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from visible(cmd, prefix + (name,))


COMMANDS = list(visible())
IDS = [" ".join(p) for p, _ in COMMANDS]


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=IDS)
def test_names_are_nouns_or_verbs(path, cmd):
    name = path[-1]
    if isinstance(cmd, click.Group):
        assert name in NOUNS, f"group `nbtrack {' '.join(path)}` must be a noun listed in docs/cli.md"
    elif len(path) == 1:
        assert name in VERBS | NOUNS, f"`nbtrack {name}`: a verb or a listing noun from docs/cli.md's grammar"
        if name in NOUNS:
            assert name.endswith("s") or name == "served", f"`nbtrack {name}` lists: use a plural noun"
    else:
        assert name in VERBS, f"`nbtrack {' '.join(path)}`: a subcommand is a verb from docs/cli.md's grammar"


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=IDS)
def test_options_have_one_meaning(path, cmd):
    where = f"nbtrack {' '.join(path)}"
    for p in cmd.params:
        if not isinstance(p, click.Option) or p.hidden:
            continue
        if "-o" in p.opts:
            assert "--output" in p.opts, f"{where}: -o means --output everywhere, here {p.opts}"
        assert "--name" not in p.opts, f"{where}: names are positional (NAME first), not --name"
        if "--timeout" in p.opts:
            assert isinstance(p.type, (click.types.FloatParamType, click.FloatRange)), \
                f"{where}: --timeout is seconds as a float"
        if "-p" in p.opts:
            assert "--parameter" in p.opts, f"{where}: -p means --parameter"


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=IDS)
def test_summaries_are_whole_sentences(path, cmd):
    text = summary(cmd)
    assert text and text.endswith((".", ")")) and not text.endswith("..."), f"nbtrack {' '.join(path)}: {text!r}"


def test_detail_views_are_show_under_the_plural_noun():
    for noun in ("runs", "models", "datasets", "pipelines"):
        assert "show" in cli.commands[noun].commands, f"nbtrack {noun} show is missing"
    assert cli.commands["show"].hidden  # the old spelling `nbtrack show RUN` still works, unlisted


@pytest.mark.parametrize("columns", ["80", "120"])
def test_top_level_help_is_not_cut(columns):
    out = CliRunner().invoke(cli, ["--help"], env={"COLUMNS": columns}).output
    body = out.split("Commands:", 1)[1]
    assert "..." not in body
    listed = [ln.split()[0] for ln in body.splitlines() if ln.startswith("  ") and not ln.startswith("    ")]
    assert "show" not in listed and "compare" in listed and "runs" in listed


@pytest.fixture
def runs3(workspace):
    ids = []
    for c in (1, 2, 3):
        with nbtrack.track(f"fit-{c}", params={"C": c, "kernel": "rbf"}) as r:
            nbtrack.log_metric("acc", 0.7 + c / 10)
        ids.append(r.id)
    return ids


def test_compare_and_old_spellings(runs3):
    run = CliRunner().invoke
    a, b, c = runs3
    res = run(cli, ["compare", a[:8], b[:8], c[:8]])
    assert res.exit_code == 0, res.output
    assert "params.C" in res.output and "metrics.acc" in res.output and "params.kernel" not in res.output
    assert "1 param(s) equal in every run" in res.output
    assert "params.kernel" in run(cli, ["compare", a, b, "--all"]).output
    bad = run(cli, ["compare", a])
    assert bad.exit_code == 2 and "two runs or more" in bad.output
    # diff of two runs points at compare instead of "no dataset"
    res = run(cli, ["diff", a[:8], b[:8]])
    assert res.exit_code == 2 and f"nbtrack compare {a[:8]} {b[:8]}" in res.output
    # runs show == the hidden show; runs -o still sorts, with a reminder
    assert run(cli, ["runs", "show", a]).output == run(cli, ["show", a]).output
    old = run(cli, ["runs", "-o", "metrics.acc", "--format", "csv", "-c", "name"])
    new = run(cli, ["runs", "-s", "metrics.acc", "--format", "csv", "-c", "name"])
    assert old.exit_code == new.exit_code == 0
    assert new.output.splitlines()[1].endswith("fit-1") and new.output in old.output
    assert "--order-by" in old.output


def test_register_and_approve_take_the_name_first(workspace, tmp_path):
    from sklearn.linear_model import LogisticRegression

    with nbtrack.track("fit") as r:
        nbtrack.log_model(LogisticRegression().fit([[0], [1]], [0, 1]), "clf")
    run = CliRunner().invoke
    res = run(cli, ["register", "churn", r.id])
    assert res.exit_code == 0 and "registered churn@1" in res.output, res.output
    res = run(cli, ["register", r.id, "--name", "churn2"])  # the old spelling
    assert res.exit_code == 0 and "churn2@1" in res.output, res.output
    res = run(cli, ["register", "churn"])
    assert res.exit_code == 2 and "nbtrack register NAME RUN" in res.output
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]})]
    nbformat.write(nb, tmp_path / "p.ipynb")
    res = run(cli, ["approve", "pipe", str(tmp_path / "p.ipynb")])
    assert res.exit_code == 0 and "approved pipe@1" in res.output, res.output
    shown = run(cli, ["pipelines", "show", "pipe"])
    assert shown.exit_code == 0 and "parameters of pipe@1" in shown.output
    assert run(cli, ["pipelines", "pipe"]).output == shown.output  # the old spelling
