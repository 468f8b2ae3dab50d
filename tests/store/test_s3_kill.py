"""kill -9 of a process in the middle of an S3 multipart upload: no partial object is ever
visible, fsck is clean, and the same content stores fine afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from nbtrack import maintenance
from nbtrack import workspace as ws_mod

CHILD = textwrap.dedent("""
    import sys, time
    import s3fs
    import nbtrack

    orig = s3fs.S3FileSystem.call_s3

    def call_s3(self, method, *args, **kwargs):
        out = orig(self, method, *args, **kwargs)
        if method == "upload_part":  # one part is up: the upload is now half done
            print("PART", flush=True)
            time.sleep(600)
        return out

    s3fs.S3FileSystem.call_s3 = call_s3
    with nbtrack.track("big upload") as run:
        run.log_artifact(sys.argv[1])
    print("DONE", flush=True)
""")


@pytest.mark.slow
def test_kill_9_mid_multipart_upload_leaves_no_partial_object(s3_workspace_factory, s3_bucket, tmp_path):
    import boto3
    import s3fs

    ws = s3_workspace_factory()
    big = tmp_path / "big.bin"
    block = os.urandom(1 << 20)
    with open(big, "wb") as f:
        for i in range(120):  # 120 MB: 50 MB parts
            f.write(block[:-1] + bytes([i]))
    oid = ws.objects.put_file(str(big))  # only to learn its id...
    ws.objects.delete(oid)  # ...then it is gone again
    bucket = s3_bucket.removeprefix("s3://")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(big)], env=env, cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line.strip() == "PART", (line, child.stderr.read() if child.poll() is not None else "")
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(30)
    client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u["Key"] for u in uploads] == [ws.objects.path(oid).split("/", 1)[1]]  # killed mid-upload
    fs = s3fs.S3FileSystem()
    fs.invalidate_cache()
    sizes = {p: fs.size(p) for p in fs.find(s3_bucket)}
    assert ws.objects.path(oid) not in sizes and all(s < 50 << 20 for s in sizes.values())
    assert not ws.objects.exists(oid)
    ws_mod.reset_cache()
    ws = ws_mod.get_workspace()
    rep = maintenance.fsck(ws)
    assert rep.ok and not rep.stale_temporaries and not rep.corrupt, rep.lines()
    assert ws.objects.put_file(str(big)) == oid and ws.objects.verify(oid) is None
    client.abort_multipart_upload(Bucket=bucket, Key=uploads[0]["Key"], UploadId=uploads[0]["UploadId"])
