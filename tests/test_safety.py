"""Workspace discovery refuses a .nbtrack others control (issue 12, r13), like git's safe.directory.

The tests run as root, so "another user" is a chown to uid 65534.
"""

from __future__ import annotations

import os

import pytest

import nbtrack
from nbtrack import workspace as ws_mod
from nbtrack.errors import StoreUnavailable


@pytest.fixture
def planted(tmp_path, monkeypatch):
    """tmp_path/.nbtrack (with a config.toml redirecting objects), and a sub-folder to work in."""
    monkeypatch.delenv("NBTRACK_URI", raising=False)
    monkeypatch.delenv("NBTRACK_SAFE_DIRECTORIES", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    ws_mod.reset_cache()
    folder = tmp_path / ".nbtrack"
    ws_mod.init_folder(folder)
    (tmp_path / "attacker-objects").mkdir()
    (folder / "config.toml").write_text(f'[store]\nobjects = "{tmp_path / "attacker-objects"}"\n')
    work = tmp_path / "victim"
    work.mkdir()
    monkeypatch.chdir(work)
    yield folder
    ws_mod.reset_cache()


def _track() -> None:
    with nbtrack.track("victim-run") as run:
        run.log_artifact("confidential", name="report.txt")


def _refused(capsys) -> str:
    """track() in a refused workspace: the code runs, unrecorded, after one warning line."""
    ran = []
    with nbtrack.track("victim-run") as run:
        run.log_artifact("confidential", name="report.txt")
        nbtrack.log_metric("acc", 0.9)
        ran.append(run.id)
    assert ran == [None]  # the body ran; there is no run id
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nbtrack: this run is not recorded (StoreUnavailable: "), err
    with pytest.raises(StoreUnavailable) as e:  # reading the workspace explicitly still refuses
        nbtrack.runs()
    assert str(e.value) in err
    return str(e.value)


def test_a_folder_owned_by_another_user_is_refused(planted, tmp_path, capsys):
    os.chown(planted, 65534, 65534)
    msg = _refused(capsys)
    assert "\n" not in msg and "owned by" in msg and "uid 65534" in msg
    assert f"NBTRACK_SAFE_DIRECTORIES={planted}" in msg
    assert not os.listdir(tmp_path / "attacker-objects") and not (planted / "meta.db").exists()


@pytest.mark.parametrize("mode, gid", [(0o777, 0), (0o775, 65534)])
def test_a_folder_others_can_write_is_refused(planted, mode, gid, capsys):
    os.chown(planted, 0, gid)
    os.chmod(planted, mode)
    assert "writable by" in _refused(capsys)


def test_group_writable_by_the_owners_personal_group_is_fine(planted):
    os.chmod(planted, 0o775)  # umask 002 with user-private groups: root's group is "root"
    _track()


def test_a_config_toml_others_control_is_refused(planted, tmp_path, capsys):
    os.chown(planted / "config.toml", 65534, 65534)
    assert "config.toml is owned by" in _refused(capsys)
    assert not os.listdir(tmp_path / "attacker-objects")


def test_allowing_it_explicitly(planted, tmp_path, monkeypatch):
    os.chown(planted, 65534, 65534)
    monkeypatch.setenv("NBTRACK_SAFE_DIRECTORIES", str(planted.parent))
    _track()
    assert os.listdir(tmp_path / "attacker-objects")  # the user chose to follow its config


def test_allowing_it_in_the_user_config(planted, tmp_path):
    os.chown(planted, 65534, 65534)
    cfg = tmp_path / "xdg" / "nbtrack" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f'safe_directories = ["{planted}"]\n')
    _track()


def test_an_explicit_workspace_is_the_users_choice(planted, monkeypatch):
    os.chown(planted, 65534, 65534)
    monkeypatch.setenv("NBTRACK_URI", str(planted))
    _track()


def test_the_users_own_workspace_is_used(planted, tmp_path):
    _track()
    assert (planted / "meta.db").exists()
