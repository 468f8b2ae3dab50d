"""`nbtrack init --meta postgresql+psycopg://... --objects s3://bucket/prefix`: config.toml names
where things live and never how to log in (no endpoint, no key, no password)."""

from __future__ import annotations


import pandas as pd
import pytest
from click.testing import CliRunner

import nbtrack
from nbtrack import workspace as ws_mod
from nbtrack.cli import cli


def test_init_meta_postgres_objects_s3_stores_no_secret(pg_database, s3_bucket, s3_server, tmp_path, monkeypatch):
    import s3fs

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NBTRACK_URI", raising=False)
    monkeypatch.delenv("NBTRACK_OBJECTS", raising=False)
    ws_mod.reset_cache()
    res = CliRunner().invoke(cli, ["init", "--meta", pg_database, "--objects", f"{s3_bucket}/team"])
    assert res.exit_code == 0, res.output
    assert "objects: s3://" in res.output
    cfg = (tmp_path / ".nbtrack" / "config.toml").read_text()
    assert pg_database in cfg and f"{s3_bucket}/team" in cfg
    for secret in ("testing", "127.0.0.1:" + s3_server.rsplit(":", 1)[1], "endpoint", "AWS_", "key", "password"):
        assert secret not in cfg, secret
    ws_mod.reset_cache()
    df = pd.DataFrame({"x": range(500)})
    with nbtrack.track("team-run") as run:
        run.log_metric("m", 1.0)
        nbtrack.snapshot(df, "frame")
    ws_mod.reset_cache()
    ws = ws_mod.get_workspace()
    assert ws.meta_url == pg_database and ws.objects_url == f"{s3_bucket}/team"
    assert nbtrack.load("frame").equals(df) and nbtrack.runs()["name"].tolist() == ["team-run"]
    assert not (tmp_path / ".nbtrack" / "meta.db").exists()
    assert s3fs.S3FileSystem().find(f"{s3_bucket}/team")
    # init again with the same places is fine; with others it is refused
    ws_mod.reset_cache()
    assert CliRunner().invoke(cli, ["init", "--objects", f"{s3_bucket}/team"]).exit_code == 0
    res = CliRunner().invoke(cli, ["init", "--objects", f"{s3_bucket}/other"])
    assert res.exit_code == 2 and "already sets objects" in res.output


@pytest.mark.parametrize("args, says", [
    (["--objects", "s3://AKIAXXXX:secretkey@bucket/p"], "credentials"),
    (["--objects", "s3://bucket/p?endpoint_url=http://127.0.0.1:9000"], "endpoint"),
    (["--objects", "ftp2://bucket/p"], "s3://bucket/prefix"),
    (["--objects", "s3:///p"], "no bucket"),
    (["--meta", "postgresql+psycopg://user:hunter2@db/nbtrack"], "PGPASSWORD"),
    (["--meta", "mysql://db/x"], "database URL"),
])
def test_init_refuses_urls_with_secrets_or_unknown_schemes(args, says, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["init", *args])
    assert res.exit_code == 2 and says in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / ".nbtrack").exists()


def test_init_names_a_missing_bucket_in_one_line(s3_bucket, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["init", "--objects", "s3://no-such-bucket-nbtrack/team"])
    assert res.exit_code == 2 and "'no-such-bucket-nbtrack' does not exist" in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1 and not (tmp_path / ".nbtrack").exists()
