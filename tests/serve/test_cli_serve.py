"""`nbtrack serve` as a real process: two workers, a token file, a clean shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

import nbtrack
from servehelpers import free_port


def test_refuses_public_bind_without_token_and_readable_token_file(churn, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NBTRACK_SERVE_TOKEN"}
    out = subprocess.run([sys.executable, "-m", "nbtrack", "serve", "churn@production", "--host", "0.0.0.0"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2 and "without a token" in out.stderr
    token = tmp_path / "token"
    token.write_text("abc")
    token.chmod(0o644)
    out = subprocess.run([sys.executable, "-m", "nbtrack", "serve", "churn@production", "--token-file", str(token)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2 and "chmod 600" in out.stderr


@pytest.mark.slow
def test_serve_two_workers_with_token_file(churn, tmp_path):
    X, m1, _ = churn
    token = tmp_path / "token"
    token.write_text("tok-0123456789abcdef\n")
    token.chmod(0o600)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "nbtrack", "serve", "churn@production", "--port", str(port),
                             "--workers", "2", "--token-file", str(token), "--flush-every", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            proc.kill()
            pytest.fail(proc.stdout.read())
        body = {"records": X.head(2).assign(plan=X["plan"].astype(str).head(2)).to_dict("records")}
        assert httpx.post(url + "/v1/models/churn/predict", json=body).status_code == 401
        auth = {"Authorization": "Bearer tok-0123456789abcdef"}
        for _ in range(10):
            r = httpx.post(url + "/v1/models/churn/predict", json=body, headers=auth)
            assert r.status_code == 200 and r.json()["predictions"] == m1.predict(X.head(2)).tolist()
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    # each worker wrote its buffered rows on the way out
    assert len(nbtrack.load("churn.predictions")) == 20
    runs = nbtrack.runs(kind="serve")
    assert len(runs) == 2 and set(runs["status"]) == {"finished"}
