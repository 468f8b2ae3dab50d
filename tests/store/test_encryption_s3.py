"""Encryption at rest on S3 (a moto server on 127.0.0.1): no plaintext in the bucket, round trip,
wrong key, tampering found by fsck."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pandas as pd
import pytest

import nbtrack
from nbtrack import workspace as ws_mod
from nbtrack.store import crypto

pytest.importorskip("s3fs")
pytest.importorskip("boto3")
pytest.importorskip("moto.server")

KEY = "1f" * 32
BUCKET = "enc-bucket"


@pytest.fixture(scope="module")
def s3_endpoint():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def s3_workspace(s3_endpoint, tmp_path, monkeypatch):
    import boto3

    for k, v in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
                 "AWS_ENDPOINT_URL": s3_endpoint, "AWS_EC2_METADATA_DISABLED": "true", "NBTRACK_KEY": KEY}.items():
        monkeypatch.setenv(k, v)
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket=BUCKET)
    prefix = f"ws-{tmp_path.name}"
    folder = tmp_path / ".nbtrack"
    folder.mkdir()
    (folder / "config.toml").write_text(f'[store]\nobjects = "s3://{BUCKET}/{prefix}"\nencryption = true\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NBTRACK_URI", str(folder))
    ws_mod.reset_cache()
    ws = ws_mod.init(tmp_path)
    yield ws, client, prefix
    ws_mod.reset_cache()


def _bucket(client, prefix):
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]
    return {k: client.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys}


def test_s3_encrypted_round_trip_wrong_key_and_tampering(s3_workspace, monkeypatch):
    ws, client, prefix = s3_workspace
    assert ws.objects.encrypted and not ws.objects.local
    df = pd.DataFrame({"name": [f"S3_PLAINTEXT_{i}" for i in range(2000)], "x": range(2000)})
    with nbtrack.track("s3run"):
        nbtrack.snapshot(df, "people")
        art = nbtrack.log_artifact(b"S3_ARTIFACT_SECRET " * 50, name="a.txt")
    stored = _bucket(client, prefix)
    assert len(stored) >= 4 and f"{prefix}/.nbtrack-encryption" in stored
    for needle in (b"S3_PLAINTEXT", b"S3_ARTIFACT_SECRET", b"people"):
        assert not [k for k, v in stored.items() if needle in v], needle
    ws_mod.reset_cache()
    assert nbtrack.load("people").equals(df)
    # wrong key: one line, nothing written to the bucket
    ws_mod.reset_cache()
    monkeypatch.setenv("NBTRACK_KEY", "2e" * 32)
    with pytest.raises(crypto.InvalidKey, match="wrong encryption key"):
        nbtrack.snapshot(df.head(3), "other")
    assert _bucket(client, prefix).keys() == stored.keys()
    # a changed ciphertext is found by fsck
    monkeypatch.setenv("NBTRACK_KEY", KEY)
    ws_mod.reset_cache()
    key = f"{prefix}/{art[:2]}/{art[2:]}"
    blob = bytearray(stored[key])
    blob[-1] ^= 1
    client.put_object(Bucket=BUCKET, Key=key, Body=bytes(blob))
    rep = nbtrack.fsck()
    assert art in rep.corrupt and len(rep.corrupt) == 1


def test_s3_rekey_crash_and_resume(s3_workspace, tmp_path, monkeypatch):
    from nbtrack.rekey import rekey

    ws, client, prefix = s3_workspace
    with nbtrack.track("r"):
        arts = [nbtrack.log_artifact(f"s3 artifact {i}".encode(), name=f"a{i}") for i in range(60)]
    before = _bucket(client, prefix)
    kf = tmp_path / "new.key"
    kf.write_text("3d" * 32)
    kf.chmod(0o600)
    ws_mod.reset_cache()
    with pytest.raises(RuntimeError, match="injected"):
        rekey(str(kf), fail_after=25)
    with pytest.raises(crypto.InvalidKey, match="rekey"):
        nbtrack.runs()
    rep = rekey(str(kf))
    assert rep.rekeyed + rep.already == rep.objects >= 60 and rep.already >= 25 and not rep.damaged
    after = _bucket(client, prefix)
    assert f"{prefix}/.nbtrack-rekey" not in after
    objects = [k for k in before if not k.rsplit("/", 1)[-1].startswith(".")]
    assert all(after[k] != before[k] for k in objects) and set(after) == set(before)
    monkeypatch.setenv("NBTRACK_KEY", "3d" * 32)
    ws_mod.reset_cache()
    assert ws_mod.get_workspace().objects.get(arts[42]) == b"s3 artifact 42"
