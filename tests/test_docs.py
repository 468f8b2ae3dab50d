"""Every CLI command and every public API name is documented (as sqlite-utils does)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import nbtrack
from nbtrack.cli import cli

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def docs_text() -> str:
    return "\n".join(p.read_text() for p in sorted(DOCS.glob("*.md")))


def _commands(group=cli, prefix=()):
    for name, cmd in sorted(group.commands.items()):
        yield " ".join(prefix + (name,))
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, prefix + (name,))


@pytest.mark.parametrize("command", list(_commands()))
def test_cli_command_is_documented(docs_text, command):
    assert re.search(rf"nbtrack {re.escape(command)}\b", docs_text), f"`nbtrack {command}` is not in docs/"


@pytest.mark.parametrize("name", [n for n in nbtrack.__all__ if not n.startswith("_") and n not in (
    "load_ipython_extension", "unload_ipython_extension", "Run")])
def test_public_name_is_documented(docs_text, name):
    assert f"nbtrack.{name}" in docs_text, f"nbtrack.{name} is not in docs/"
