"""`nbtrack doctor`: one line per check; exit 1 only when a check fails."""

from __future__ import annotations

from click.testing import CliRunner

from nbtrack.cli import cli
from nbtrack.cli import doctor as doctor_mod


def test_doctor_healthy_workspace(workspace):
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("nbtrack ")
    ws_line = next(line for line in lines if "workspace" in line and "schema" in line)
    assert ws_line.strip().startswith("ok")
    assert any("kernel" in line for line in lines)


def test_doctor_fails_on_damaged_database(workspace, tmp_path):
    from nbtrack import workspace as ws_mod

    ws_mod.reset_cache()
    (tmp_path / ".nbtrack" / "meta.db").write_bytes(b"this is not a database" * 100)
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 1, result.output
    assert any(line.strip().startswith("FAIL") and "workspace" in line for line in result.output.splitlines())


def test_doctor_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(doctor_mod.EXTRAS, "nosuch", ("nbtrack_no_such_module", "something optional"))
    status, message = doctor_mod._extra_check("nosuch", "nbtrack_no_such_module", "something optional")()
    assert status == doctor_mod.WARN
    assert 'pip install "nbtrack[nosuch]"' in message
