"""A missing optional dependency is one line naming the extra to install (issue 19 item 5)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nbtrack.errors import EXTRAS, MissingExtra, missing_extra

ROOT = Path(__file__).resolve().parent.parent


def _hide(tmp_path, *modules: str) -> dict:
    """An environment in which importing ``modules`` fails as if they were not installed."""
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        f"for m in {list(modules)!r}:\n"
        "    sys.modules[m] = None  # import raises ModuleNotFoundError\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBTRACK_")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return env


def test_every_extra_of_pyproject_is_known():
    text = (ROOT / "pyproject.toml").read_text()
    for extra in {e for e, _ in EXTRAS.values()}:
        assert f"\n{extra} = [" in text, extra


def test_missing_module_names_its_extra():
    err = missing_extra(ModuleNotFoundError("No module named 'psycopg'", name="psycopg"))
    assert isinstance(err, MissingExtra) and 'pip install "nbtrack[postgres]"' in str(err)
    assert missing_extra(ImportError("Install s3fs to access S3")).fields["extra"] == "s3"
    assert missing_extra(ModuleNotFoundError("No module named 'foo'", name="foo")) is None
    assert missing_extra(ImportError("cannot import name 'x' from 'scipy'", name="scipy")) is None  # installed


def test_postgres_url_without_psycopg_is_one_line(tmp_path):
    env = _hide(tmp_path, "psycopg", "psycopg2")
    env["NBTRACK_URI"] = "postgresql+psycopg://user@127.0.0.1:1/nbtrack"
    env["NBTRACK_OBJECTS"] = str(tmp_path / "objects")
    out = subprocess.run([sys.executable, "-m", "nbtrack", "runs"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().count("\n") == 0, out.stderr
    assert 'pip install "nbtrack[postgres]"' in out.stderr


def test_s3_objects_without_s3fs_is_one_line(tmp_path):
    env = _hide(tmp_path, "s3fs")
    env["NBTRACK_URI"] = f"sqlite:///{tmp_path}/meta.db"
    env["NBTRACK_OBJECTS"] = "s3://bucket/nbtrack"
    code = "import nbtrack\nwith nbtrack.track('x'):\n    nbtrack.log_artifact('hi', name='a.txt')\n"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode != 0
    assert 'pip install "nbtrack[s3]"' in out.stderr.strip().splitlines()[-1], out.stderr[-2000:]


@pytest.mark.parametrize("args,extra", [(["serve", "m@1"], "serve"), (["monitor", "drift", "a@1", "a@2"], "monitor")])
def test_cli_commands_name_the_extra(tmp_path, args, extra):
    hidden = [m for m, (e, _) in EXTRAS.items() if e == extra]
    env = _hide(tmp_path, *hidden)
    env["NBTRACK_URI"] = str(tmp_path / ".nbtrack")
    make = ("import nbtrack, pandas as pd\n"
            "for x in (1.0, 5.0): nbtrack.snapshot(pd.DataFrame({'x': [x, 2.0, 3.0] * 20}), 'a')\n")
    subprocess.run([sys.executable, "-c", make], cwd=tmp_path, env=env, check=True, timeout=120)
    out = subprocess.run([sys.executable, "-m", "nbtrack", *args], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2, (out.stdout, out.stderr[-2000:])
    assert f'pip install "nbtrack[{extra}]"' in out.stderr and out.stderr.strip().count("\n") == 0, out.stderr
