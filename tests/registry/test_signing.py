"""Signed approvals: a tampered notebook, signature or pin is refused; an untouched one runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

import nbtrack
from nbtrack.cli import cli
from nbtrack.errors import ApprovalRequired, InvalidInput
from nbtrack.registry.signing import generate_key


def sql(ws, statement: str, *params) -> None:
    """Tamper with meta.db from another process (a second sqlite3 connection here would drop our locks)."""
    from nbtrack.store.meta import sqlite_path

    code = "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2], sys.argv[3:]); c.commit()"
    subprocess.run([sys.executable, "-c", code, sqlite_path(ws.meta.url), statement, *map(str, params)], check=True)


def notebook(path: Path, body: str = "print('trained with', C)") -> str:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("C = 1.0")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return str(path)


@pytest.fixture
def signed(workspace, tmp_path, monkeypatch):
    priv, pub = generate_key()
    monkeypatch.setenv("NBTRACK_USER", "alice")
    res = CliRunner().invoke(cli, ["keys", "add", "alice", pub])
    assert res.exit_code == 0, res.output
    cfg = Path(workspace.root) / "config.toml"
    cfg.write_text(cfg.read_text() + "\n[registry]\nrequire_signed_approvals = true\n")
    assert CliRunner().invoke(cli, ["keys"]).output.strip() == f"alice  {pub}"
    monkeypatch.setenv("NBTRACK_SIGNING_KEY", priv)
    nbtrack.approve(notebook(tmp_path / "train.ipynb"), "train")
    monkeypatch.delenv("NBTRACK_SIGNING_KEY")
    return workspace


def refused(match: str) -> None:
    with pytest.raises(ApprovalRequired, match=match):
        nbtrack.run_pipeline("train")
    res = CliRunner().invoke(cli, ["run", "train"])
    assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1, res.output


def test_an_untouched_signed_approval_runs(signed):
    assert json.loads(nbtrack.get_pipeline("train").signature)["signer"] == "alice"
    assert nbtrack.run_pipeline("train", params={"C": 2.0}).run_id


def test_a_swapped_notebook_is_refused(signed, tmp_path):
    other = signed.objects.put(nbformat.writes(nbformat.read(notebook(tmp_path / "evil.ipynb", "import os"), 4))
                               .encode())
    sql(signed, "UPDATE pipeline_versions SET notebook_oid = ?", other)
    refused("the signature of alice does not match: the approved notebook")


def test_a_changed_signature_or_pin_is_refused(signed):
    doc = json.loads(nbtrack.get_pipeline("train").signature)
    good = doc["ed25519"]
    doc["ed25519"] = ("0" if good[0] != "0" else "1") + good[1:]
    sql(signed, "UPDATE pipeline_versions SET signature = ?", json.dumps(doc))
    refused("does not match")
    doc["ed25519"] = good
    sql(signed, "UPDATE pipeline_versions SET signature = ?, pins = ?", json.dumps(doc), '{"customers": 1}')
    refused("does not match")


def test_an_unsigned_approval_or_unknown_approver_is_refused(signed, tmp_path, monkeypatch):
    nbtrack.approve(notebook(tmp_path / "train.ipynb"), "train")  # no NBTRACK_SIGNING_KEY: version 2 unsigned
    refused("train@2 is not signed and this workspace requires signed approvals")
    priv, _ = generate_key()
    monkeypatch.setenv("NBTRACK_SIGNING_KEY", priv)  # not alice's listed key: refused at approval, nothing written
    with pytest.raises(InvalidInput, match="is not the key listed for alice"):
        nbtrack.approve(notebook(tmp_path / "train.ipynb"), "train")
    monkeypatch.setenv("NBTRACK_USER", "bob")
    nbtrack.approve(notebook(tmp_path / "train.ipynb"), "train")
    refused("train@3: no public key for its approver 'bob'")


def test_bad_keys_are_one_clear_line(workspace, tmp_path, monkeypatch):
    res = CliRunner().invoke(cli, ["keys", "add", "alice", "not-a-key"])
    assert res.exit_code == 2 and "PUBKEY must be 64 hex characters" in res.output
    key_file = tmp_path / "signing.key"
    key_file.write_text(generate_key()[0])
    os.chmod(key_file, 0o644)
    monkeypatch.setenv("NBTRACK_SIGNING_KEY_FILE", str(key_file))
    with pytest.raises(InvalidInput, match="is readable by others: chmod 600"):
        nbtrack.approve(notebook(tmp_path / "t.ipynb"), "t")
    os.chmod(key_file, 0o600)
    assert json.loads(nbtrack.approve(notebook(tmp_path / "t.ipynb"), "t").signature)["ed25519"]
