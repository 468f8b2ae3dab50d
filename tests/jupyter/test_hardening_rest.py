"""The Jupyter extension's routes over a real jupyter server: security headers on the API's
answers only (not Jupyter's own), no CORS for strangers, POST bodies limited (chunked too),
internal errors that say nothing of their text."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import httpx
from jupyterproc import TOKEN

from nbtrack.jupyter.base import MAX_BODY, error_body

AUTH = {"Authorization": f"token {TOKEN}"}


def api(server, path: str) -> str:
    return f"{server.base}/nbtrack/api/{path}"


def hardened(r: httpx.Response) -> bool:
    h = r.headers
    return (h.get("x-content-type-options") == "nosniff" and h.get("referrer-policy") == "no-referrer"
            and h.get("x-frame-options") == "DENY" and "frame-ancestors 'none'" in h["content-security-policy"])


def test_security_headers_on_every_api_answer_not_on_jupyters(server, data):
    ok = httpx.get(api(server, "models"), headers=AUTH)
    missing = httpx.get(api(server, "runs/nosuchrun"), headers=AUTH)
    anonymous = httpx.get(api(server, "models"))
    stranger = httpx.get(api(server, "models"), headers={"Origin": "https://evil.example"})  # Jupyter: blocked
    bad = httpx.post(api(server, "models/churn/aliases"), json={"alias": ""}, headers=AUTH)
    answers = (ok, missing, anonymous, stranger, bad)
    assert [r.status_code for r in answers] == [200, 404, 403, 404, 400]
    for r in answers:
        assert hardened(r), (r.status_code, dict(r.headers))
        assert r.headers["cache-control"] == "no-store"
    assert "access-control-allow-origin" not in stranger.headers
    png = httpx.get(api(server, f"artifacts/{data.cell_a[-1]}/figure-1.png"), headers=AUTH)
    assert png.status_code == 200 and hardened(png)
    assert "immutable" in png.headers["cache-control"]  # content-addressed bytes may be cached (privately)
    # Jupyter's own answers (what JupyterLab's pages live on) are left as Jupyter makes them
    status = httpx.get(f"{server.base}/api/status", headers=AUTH)
    assert status.status_code == 200 and "x-frame-options" not in status.headers
    assert "frame-ancestors 'self'" in status.headers["content-security-policy"]


def test_post_bodies_are_limited_chunked_too(server, data):
    def chunks():
        piece = b" " * 65536
        for _ in range(MAX_BODY // len(piece) + 2):
            yield piece

    r = httpx.post(api(server, "models/churn/aliases"), content=chunks(),
                   headers={**AUTH, "Content-Type": "application/json"}, timeout=30)
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert r.status_code == 413 and r.json()["error"] == "TooLarge" and hardened(r)
    # a declared length beyond the limit is refused before a byte of the body is read
    url = urlsplit(api(server, "approvals"))
    with socket.create_connection((url.hostname, url.port), timeout=10) as s:
        s.sendall((f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: token {TOKEN}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {100 * MAX_BODY}\r\n\r\n").encode())
        head = s.recv(65536).decode("latin-1")
    assert head.startswith("HTTP/1.1 413"), head[:200]
    # a body within the limit is read as before (validated: 400 names what is wrong)
    small = httpx.post(api(server, "approvals"), json={"notebook": ""}, headers=AUTH)
    assert small.status_code == 400 and "notebook" in small.json()["message"]


def test_unexpected_errors_do_not_echo_their_text():
    status, body = error_body(RuntimeError("password=hunter2 at /home/me/secret.db"), 500)
    assert status == 500 and body["error"] == "InternalError"
    assert "hunter2" not in body["message"] and "secret.db" not in body["message"]
    assert "RuntimeError" in body["message"]
