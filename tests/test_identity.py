"""Who is acting: the identity recorded on every audit event (INTERFACES.md "Identity")."""

from __future__ import annotations

import getpass
import subprocess
import sys

import pytest

import nbtrack
from nbtrack.context import acting_as, user


@pytest.fixture
def clean_env(monkeypatch):
    for var in ("NBTRACK_USER", "CI", "GITHUB_ACTOR", "CI_USER"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_os_user_by_default(clean_env):
    assert user() == getpass.getuser()


def test_ci_uses_github_actor_then_ci_user(clean_env):
    clean_env.setenv("GITHUB_ACTOR", "octocat")
    assert user() == getpass.getuser()  # GITHUB_ACTOR alone (no CI=true) is not trusted
    clean_env.setenv("CI", "true")
    assert user() == "octocat"
    clean_env.delenv("GITHUB_ACTOR")
    clean_env.setenv("CI_USER", "ci-bot")
    assert user() == "ci-bot"
    clean_env.setenv("NBTRACK_USER", "override")
    assert user() == "override"


def test_a_server_user_wins_within_its_block_only(clean_env):
    clean_env.setenv("NBTRACK_USER", "env-user")
    with acting_as("alice"):
        assert user() == "alice"
        with acting_as(None):
            assert user() == "alice"
    assert user() == "env-user"


def test_every_audit_event_records_the_actor(workspace, clean_env):
    from sklearn.linear_model import LogisticRegression

    clean_env.setenv("CI", "true")
    clean_env.setenv("GITHUB_ACTOR", "octocat")
    nbtrack.register_model("m", model=LogisticRegression().fit([[0.0], [1.0]], [0, 1]))
    with acting_as("alice"):
        nbtrack.set_alias("m", "staging", 1)
    ev = nbtrack.events(target="m")
    assert list(zip(ev["action"], ev["actor"])) == [("model.register", "octocat"), ("alias.set", "alice")]


def test_cli_events_show_the_ci_actor(workspace, clean_env, tmp_path):
    from sklearn.linear_model import LogisticRegression

    nbtrack.register_model("m", model=LogisticRegression().fit([[0.0], [1.0]], [0, 1]))
    env = {"CI": "true", "CI_USER": "ci-bot"}
    import os

    out = subprocess.run([sys.executable, "-m", "nbtrack", "alias", "set", "m", "staging", "1"],
                         env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert nbtrack.events(action="alias.set")["actor"].tolist() == ["ci-bot"]
