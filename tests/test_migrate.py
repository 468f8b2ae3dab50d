"""``nbtrack migrate-store``: a workspace copied to another backend and back, killed midway and
resumed, refused where it would mix workspaces; ids, timestamps, the audit chain and encryption kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from store.teamdata import fill, new_pg_database, same_rows, table_rows

import nbtrack
from nbtrack import workspace as ws_mod
from nbtrack.cli import cli
from nbtrack.errors import InvalidInput, StoreUnavailable
from nbtrack.migrate import migrate_store
from nbtrack.store import pg_summary
from nbtrack.store.meta import MetaStore
from nbtrack.store.objects import ObjectStore


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """A filled SQLite workspace folder (copied by each test that writes to it)."""
    base = tmp_path_factory.mktemp("source")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(base)
        mp.setenv("NBTRACK_URI", str(base / ".nbtrack"))
        mp.setenv("NBTRACK_USER", "alice")
        mp.delenv("NBTRACK_PARENT_RUN", raising=False)
        ws_mod.reset_cache()
        ws_mod.init(base)
        fill(base)
        ws_mod.reset_cache()
    return base / ".nbtrack"


@pytest.fixture
def source(filled, tmp_path, monkeypatch):
    """The current workspace: a private copy of ``filled``."""
    import shutil

    folder = tmp_path / "src" / ".nbtrack"
    shutil.copytree(filled, folder)
    monkeypatch.chdir(folder.parent)
    monkeypatch.setenv("NBTRACK_URI", str(folder))
    monkeypatch.setenv("NBTRACK_USER", "bob")
    monkeypatch.delenv("NBTRACK_PARENT_RUN", raising=False)
    monkeypatch.delenv("NBTRACK_OBJECTS", raising=False)
    ws_mod.reset_cache()
    yield ws_mod.get_workspace()
    ws_mod.reset_cache()


def _rows(url: str) -> dict:
    meta = MetaStore(url)
    try:
        with meta.read() as conn:
            return table_rows(conn)
    finally:
        meta.dispose()


def _use(monkeypatch, meta: str, objects: str | None = None):
    monkeypatch.setenv("NBTRACK_URI", meta)
    if objects:
        monkeypatch.setenv("NBTRACK_OBJECTS", objects)
    ws_mod.reset_cache()
    return ws_mod.get_workspace()


def _works(expected_runs: int) -> None:
    """The application on the migrated store: reads, loads, verifies, writes."""
    df = nbtrack.runs(filter="metrics.auc > 0.805", order_by="metrics.auc desc")
    assert df["name"].tolist() == ["train-2", "train-1"]
    assert nbtrack.count_runs() == expected_runs
    assert nbtrack.get_model_version("churn@production").version == 3
    model = nbtrack.load_model("churn@production")
    assert model.predict(pd.DataFrame({"a": [2.0, -2.0], "b": [0.0, 0.0]})).tolist() == [1, 0]
    assert (nbtrack.load("features@2")["a"].iloc[:11] == 5.0).all()
    assert nbtrack.get_run(df.id[0]).artifact("notes.txt") == b"notes of run 2\n"
    assert nbtrack.verify_audit()
    before = len(nbtrack.events())
    nbtrack.set_alias("churn", "production", 2, reason="after migration")  # new ids continue after the copied ones
    with nbtrack.track("after-migration") as r:
        nbtrack.log_metric("auc", 0.5)
        nbtrack.log_artifact("new", name="n.txt")
    assert nbtrack.get_run(r.id).metrics["auc"] == 0.5
    assert len(nbtrack.events()) == before + 1 and nbtrack.verify_audit()
    rep = nbtrack.fsck()
    assert rep.ok, rep.lines()


@pytest.mark.postgres
def test_sqlite_to_postgres_and_back(source, pg_url, tmp_path, monkeypatch):
    before = table_rows_of(source)
    n_runs = nbtrack.count_runs()
    with new_pg_database(pg_url, "nbtrack_mig") as url:
        phases = []
        rep = migrate_store(url, str(tmp_path / "pg-objects"), progress=lambda p, d, t: phases.append(p))
        assert not rep.resumed and rep.objects_copied == sum(1 for _ in source.objects) and rep.objects_present == 0
        assert rep.rows_copied["runs"] == n_runs and rep.audit_events == len(before["events"])
        assert {"objects", "runs", "events", "verify"} <= set(phases)
        assert same_rows(_rows(url), before)  # ids, timestamps, hashes: every column of every row
        assert "NBTRACK_URI" in rep.lines()[-1] or "config.toml" in rep.lines()[-1]

        _use(monkeypatch, url, str(tmp_path / "pg-objects"))
        with ws_mod.get_workspace().meta.read() as conn:  # each run's params/metrics JSON, from the copied rows
            assert pg_summary.stale(conn) == []
            assert conn.exec_driver_sql("SELECT count(*) FROM runs WHERE summary_metrics IS NOT NULL").scalar() > 0
        _works(n_runs)
        after_pg = table_rows_of(ws_mod.get_workspace())

        back = tmp_path / "back"
        rep = migrate_store(str(back))  # a folder: meta.db + objects/ inside
        assert rep.meta_url == f"sqlite:///{back / 'meta.db'}"
        assert same_rows(_rows(rep.meta_url), after_pg)
    _use(monkeypatch, str(back))
    assert nbtrack.count_runs() == n_runs + 1
    assert nbtrack.fsck().ok and nbtrack.verify_audit()


def table_rows_of(ws) -> dict:
    with ws.meta.read() as conn:
        return table_rows(conn)


def test_metadata_only_keeps_the_object_store(source, tmp_path):
    target = f"sqlite:///{tmp_path / 'other.db'}"
    rep = migrate_store(target)
    assert rep.objects_url == source.objects_url and rep.objects_copied == 0
    assert rep.objects_present == rep.objects_verified > 0
    assert same_rows(_rows(target), table_rows_of(source))


KILLER = textwrap.dedent("""
    import os, signal, sys
    from nbtrack.migrate import migrate_store
    phase, after = sys.argv[3], int(sys.argv[4])
    def progress(p, done, total):
        if p == phase and done >= after:
            os.kill(os.getpid(), signal.SIGKILL)
    migrate_store(sys.argv[1], sys.argv[2], progress=progress, batch=2)
""")


@pytest.mark.parametrize("phase,after", [("objects", 5), ("metrics", 6), ("verify", 3)])
def test_killed_midway_then_resumed_without_duplicates(source, tmp_path, phase, after):
    target, objects = tmp_path / "t" / "meta.db", str(tmp_path / "t" / "objects")
    url = f"sqlite:///{target}"
    proc = subprocess.run([sys.executable, "-c", KILLER, url, objects, phase, str(after)], timeout=300,
                          capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    there = sum(1 for _ in ObjectStore(objects))
    assert 0 < there
    rep = migrate_store(url, objects)
    assert rep.resumed
    if phase == "objects":
        assert rep.objects_present >= after and rep.objects_copied > 0
    else:
        assert rep.objects_copied == 0 and rep.objects_present == there
    assert same_rows(_rows(url), table_rows_of(source))  # verified, nothing twice
    with pytest.raises(InvalidInput, match="not empty"):  # done: a third run refuses, it does not duplicate
        migrate_store(url, objects)


def test_refusals_are_one_clear_line(source, tmp_path, monkeypatch):
    with pytest.raises(InvalidInput, match="own database"):
        migrate_store(source.meta_url)
    # a target holding another workspace's history
    other = tmp_path / "other"
    monkeypatch.setenv("NBTRACK_URI", str(other / ".nbtrack"))
    ws_mod.reset_cache()
    ws_mod.init(other)
    with nbtrack.track("someone else's"):
        nbtrack.log_artifact("theirs", name="t.txt")
    monkeypatch.setenv("NBTRACK_URI", str(source.root))
    ws_mod.reset_cache()
    with pytest.raises(InvalidInput, match=r"not empty \(1 experiments, 1 runs"):
        migrate_store(f"sqlite:///{other / '.nbtrack' / 'meta.db'}", str(tmp_path / "fresh-objects"))
    with pytest.raises(InvalidInput, match="holds objects of another workspace"):
        migrate_store(str(tmp_path / "new"), str(other / ".nbtrack" / "objects"))
    with pytest.raises(StoreUnavailable, match="cannot use the target database"):
        migrate_store("postgresql+psycopg://nobody@127.0.0.1:1/nbtrack", str(tmp_path / "o"))
    with pytest.raises(InvalidInput):
        migrate_store("  ")


def test_cli(source, tmp_path):
    runner = CliRunner()
    out = runner.invoke(cli, ["migrate-store", "--to", str(tmp_path / "copy")])
    assert out.exit_code == 0, out.output
    assert "verified" in out.output and f"NBTRACK_URI={tmp_path / 'copy'}" in out.output
    again = runner.invoke(cli, ["migrate-store", "--to", str(tmp_path / "copy")])
    assert again.exit_code == 2 and again.output.startswith("Error: ") and "not empty" in again.output
    assert len(again.output.strip().splitlines()) == 1
    assert runner.invoke(cli, ["migrate-store"]).exit_code == 2


def test_encrypted_store_stays_encrypted_under_the_same_key(tmp_path, monkeypatch):
    key = "ab" * 32
    monkeypatch.setenv("NBTRACK_KEY", key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NBTRACK_URI", str(tmp_path / ".nbtrack"))
    monkeypatch.delenv("NBTRACK_PARENT_RUN", raising=False)
    ws_mod.reset_cache()
    ws_mod.init(tmp_path, encrypt=True)
    secret = pd.DataFrame({"ssn": ["123-45-6789"] * 50})
    nbtrack.snapshot(secret, "people")
    src_ids = set(ws_mod.get_workspace().objects)
    rep = migrate_store(str(tmp_path / "copy"))
    assert rep.encrypted and rep.objects_copied == len(src_ids)
    copy = ObjectStore(str(tmp_path / "copy" / "objects"))
    assert set(copy) == src_ids and copy.read_marker() is not None
    assert not any(b"123-45-6789" in Path(copy.path(o)).read_bytes() for o in src_ids)  # still ciphertext
    ws = _use(monkeypatch, str(tmp_path / "copy"))
    assert ws.objects.encrypted and nbtrack.load("people@1").equals(secret)
    monkeypatch.setenv("NBTRACK_KEY", "cd" * 32)
    ws_mod.reset_cache()
    from nbtrack.store.crypto import InvalidKey

    with pytest.raises(InvalidKey):
        nbtrack.load("people@1")


def test_local_objects_to_s3_and_back(source, s3_bucket, tmp_path, monkeypatch):
    n_runs = nbtrack.count_runs()
    before = table_rows_of(source)
    rep = migrate_store(str(tmp_path / "team"), f"{s3_bucket}/team")
    assert rep.objects_copied > 0 and rep.objects_verified == rep.objects_copied
    assert (tmp_path / "team" / "config.toml").read_text() == f'[store]\nobjects = "{s3_bucket}/team"\n'
    _use(monkeypatch, str(tmp_path / "team"))
    assert same_rows(table_rows_of(ws_mod.get_workspace()), before)
    assert not ws_mod.get_workspace().objects.local
    _works(n_runs)
    rep = migrate_store(str(tmp_path / "local-again"))  # S3 -> a folder
    assert rep.objects_copied == rep.objects_verified and os.path.isdir(tmp_path / "local-again" / "objects")
    _use(monkeypatch, str(tmp_path / "local-again"))
    assert nbtrack.count_runs() == n_runs + 1 and nbtrack.fsck().ok


def test_a_half_done_migration_belongs_to_its_source(source, tmp_path, monkeypatch):
    url, objects = f"sqlite:///{tmp_path / 't' / 'meta.db'}", str(tmp_path / "t" / "objects")
    proc = subprocess.run([sys.executable, "-c", KILLER, url, objects, "runs", "2"], timeout=300,
                          capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    other = tmp_path / "other"
    monkeypatch.setenv("NBTRACK_URI", str(other / ".nbtrack"))
    ws_mod.reset_cache()
    ws_mod.init(other)
    with nbtrack.track("someone else's"):
        pass
    with pytest.raises(InvalidInput, match="being filled from another workspace"):
        migrate_store(url, str(tmp_path / "o2"))
    monkeypatch.setenv("NBTRACK_URI", str(source.root))
    ws_mod.reset_cache()
    assert migrate_store(url, objects).resumed  # its own source finishes it
