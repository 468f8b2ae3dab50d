"""The version number lives in one place: ``nbtrack.__version__`` (pyproject.toml reads it)."""

from __future__ import annotations

import importlib.metadata
import json
import re
from pathlib import Path

from click.testing import CliRunner

import nbtrack
from nbtrack.cli import cli

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_takes_the_version_from_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    source = (ROOT / project["tool"]["hatch"]["version"]["path"]).read_text()
    assert re.findall(r'^__version__ = "([^"]+)"', source, re.M) == [nbtrack.__version__]


def test_installed_metadata_cli_and_package_agree():
    assert importlib.metadata.version("nbtrack") == nbtrack.__version__
    out = CliRunner().invoke(cli, ["--version"]).output
    assert nbtrack.__version__ in out


def test_the_labextension_has_the_same_version():
    package = json.loads((ROOT / "labextension" / "package.json").read_text())
    assert package["version"] == nbtrack.__version__


def test_the_sidebar_api_document_has_the_same_version():
    import yaml

    spec = yaml.safe_load((ROOT / "src" / "nbtrack" / "jupyter" / "openapi.yml").read_text())
    assert spec["info"]["version"] == nbtrack.__version__
