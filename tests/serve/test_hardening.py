"""`nbtrack serve` hardening over real HTTP: weak tokens, security headers, CORS, body limits
(chunked too), the failed-authentication rate limit."""

from __future__ import annotations

import io
import subprocess
import sys

import httpx
import pytest

import nbtrack
from nbtrack.errors import InvalidInput
from nbtrack.serve.guard import FailureLimiter
from nbtrack.serve.server import read_token

TOKEN = "hardening-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROW = {"records": [{"age": 30, "income": 50.0, "plan": "basic"}]}
SECURITY = {"x-content-type-options": "nosniff", "cache-control": "no-store", "referrer-policy": "no-referrer",
            "x-frame-options": "DENY"}


def secure(r: httpx.Response) -> bool:
    return all(r.headers.get(k) == v for k, v in SECURITY.items()) and \
        "frame-ancestors 'none'" in r.headers["content-security-policy"] and "server" not in r.headers


@pytest.mark.parametrize("token, problem", [("short", "at least 16"), ("with space 0123456789", "printable")])
def test_weak_tokens_are_refused(churn, token, problem):
    with pytest.raises(InvalidInput, match=problem):
        nbtrack.serve("churn@production", token=token)


def test_empty_env_token_and_weak_token_file_are_refused(churn, tmp_path, monkeypatch):
    monkeypatch.setenv("NBTRACK_SERVE_TOKEN", " ")
    with pytest.raises(InvalidInput, match="empty"):
        read_token(None)
    f = tmp_path / "token"
    f.write_text("abc\n")
    f.chmod(0o600)
    monkeypatch.delenv("NBTRACK_SERVE_TOKEN")
    out = subprocess.run([sys.executable, "-m", "nbtrack", "serve", "churn@production", "--token-file", str(f)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "at least 16" in out.stderr


def test_security_headers_on_every_response_and_no_cors_by_default(churn):
    with nbtrack.serve("churn@production", token=TOKEN, max_body=4096, log_predictions=False) as s:
        origin = {"Origin": "https://evil.example"}
        answers = [httpx.post(s.url + "/v1/models/churn/predict", json=ROW, headers={**AUTH, **origin}),
                   httpx.post(s.url + "/v1/models/churn/predict", json=ROW, headers=origin),  # 401
                   httpx.get(s.url + "/v1/models/nope", headers=AUTH),  # 404 from the route
                   httpx.get(s.url + "/no/such/route", headers=AUTH),  # 404 from the router
                   httpx.post(s.url + "/v1/models/churn/predict", content=b"x" * 5000, headers=AUTH),  # 413
                   httpx.get(s.url + "/health"), httpx.get(s.url + "/metrics", headers=AUTH),
                   httpx.options(s.url + "/v1/models/churn/predict",
                                 headers={**origin, "Access-Control-Request-Method": "POST"})]
        assert [r.status_code for r in answers] == [200, 401, 404, 404, 413, 200, 200, 401]
        for r in answers:
            assert secure(r), (r.status_code, dict(r.headers))
            assert "access-control-allow-origin" not in r.headers
        assert TOKEN not in answers[1].text and "Traceback" not in "".join(r.text for r in answers)


def test_cors_only_for_configured_origins(churn):
    ok = "https://app.example.com"
    with nbtrack.serve("churn@production", token=TOKEN, cors_origins=[ok], log_predictions=False) as s:
        pre = httpx.options(s.url + "/v1/models/churn/predict",
                            headers={"Origin": ok, "Access-Control-Request-Method": "POST",
                                     "Access-Control-Request-Headers": "authorization, content-type"})
        assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == ok
        assert "authorization" in pre.headers["access-control-allow-headers"] and secure(pre)
        r = httpx.post(s.url + "/v1/models/churn/predict", json=ROW, headers={**AUTH, "Origin": ok})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == ok
        assert "x-model-version" in r.headers["access-control-expose-headers"]
        other = httpx.post(s.url + "/v1/models/churn/predict", json=ROW,
                           headers={**AUTH, "Origin": "https://evil.example"})
        assert other.status_code == 200 and "access-control-allow-origin" not in other.headers
        assert "Origin" in other.headers["vary"]
        evil_pre = httpx.options(s.url + "/v1/models/churn/predict",
                                 headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert evil_pre.status_code == 401 and "access-control-allow-origin" not in evil_pre.headers


def test_every_body_path_is_limited_chunked_too(churn):
    X = churn[0]
    big = X.assign(plan=X["plan"].astype(str))
    buf = io.BytesIO()
    big.to_parquet(buf)
    limit = 2048
    assert len(buf.getvalue()) > limit
    with nbtrack.serve("churn@production", token=TOKEN, max_body=limit, log_predictions=False) as s:
        url = s.url + "/v1/models/churn/predict"

        def chunks():
            for _ in range(64):
                yield b"age,income,plan\n" * 16  # 256 bytes a chunk, no Content-Length

        bodies = [(big.to_csv(index=False).encode(), "text/csv"),
                  (buf.getvalue(), "application/vnd.apache.parquet"),
                  (big.to_json(orient="records").encode(), "application/json")]
        for content, ctype in bodies:
            r = httpx.post(url, content=content, headers={**AUTH, "Content-Type": ctype})
            assert r.status_code == 413, (ctype, r.status_code)
        for ctype in ("text/csv", "application/json"):
            r = httpx.post(url, content=chunks(), headers={**AUTH, "Content-Type": ctype})
            assert "content-length" not in r.request.headers and r.request.headers["transfer-encoding"] == "chunked"
            assert r.status_code == 413 and "larger than 2048" in r.json()["error"]
        small = big.head(3).to_csv(index=False).encode()
        assert httpx.post(url, content=small, headers={**AUTH, "Content-Type": "text/csv"}).status_code == 200


def test_failed_authentication_is_rate_limited_per_address(churn):
    with nbtrack.serve("churn@production", token=TOKEN, max_auth_failures=3, log_predictions=False) as s:
        url = s.url + "/v1/models/churn/predict"
        with httpx.Client() as a, httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as b:
            for _ in range(5):  # successes never count
                assert a.post(url, json=ROW, headers=AUTH).status_code == 200
            codes = [a.post(url, json=ROW, headers={"Authorization": f"Bearer guess-{i}"}).status_code
                     for i in range(3)]
            assert codes == [401, 401, 401]
            blocked = a.post(url, json=ROW, headers={"Authorization": "Bearer guess-4"})
            assert blocked.status_code == 429 and 0 < int(blocked.headers["retry-after"]) <= 60
            assert secure(blocked) and "guess" not in blocked.text
            # blocked whatever it sends (else guessing would go on), health stays open
            assert a.post(url, json=ROW, headers=AUTH).status_code == 429
            assert a.get(s.url + "/health").status_code == 200
            # another address is not affected
            assert b.post(url, json=ROW, headers=AUTH).status_code == 200
            assert b.post(url, json=ROW, headers={"Authorization": "Bearer x"}).status_code == 401


def test_failure_table_is_bounded_and_windows_expire():
    now = [0.0]
    lim = FailureLimiter(limit=2, window=10, size=100, clock=lambda: now[0])
    for i in range(10_000):
        lim.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(lim.table) == 100
    lim.failed("a")
    lim.failed("a")
    assert lim.retry_after("a") == 10 and lim.retry_after("b") == 0
    now[0] = 9.5
    assert lim.retry_after("a") == 1
    now[0] = 10.0
    assert lim.retry_after("a") == 0 and "a" not in lim.table
    lim.failed("a")
    assert lim.retry_after("a") == 0  # a new window: one failure


def test_health_names_models_only_to_token_holders_and_request_ids_are_plain(churn):
    with nbtrack.serve("churn@production", token=TOKEN, log_predictions=False) as s:
        anonymous = httpx.get(s.url + "/health")
        assert anonymous.status_code == 200 and anonymous.json() == {"status": "ok"}
        wrong = httpx.get(s.url + "/health", headers={"Authorization": "Bearer nope"})
        assert wrong.json() == {"status": "ok"}
        assert httpx.get(s.url + "/health", headers=AUTH).json() == {"status": "ok", "models": {"churn": 1}}
        url = s.url + "/v1/models/churn/predict"
        kept = httpx.post(url, json=ROW, headers={**AUTH, "X-Request-Id": "order-42:a.b_c"})
        assert kept.headers["x-request-id"] == "order-42:a.b_c" and kept.json()["request_id"] == "order-42:a.b_c"
        for bad in ("<script>alert(1)</script>", "x" * 129, "a b"):
            r = httpx.post(url, json=ROW, headers={**AUTH, "X-Request-Id": bad})
            assert r.status_code == 200 and len(r.headers["x-request-id"]) == 32 and bad not in r.text
    with nbtrack.serve("churn@production", log_predictions=False) as s:  # no token: loopback, all open
        assert httpx.get(s.url + "/health").json()["models"] == {"churn": 1}
