"""The prediction server: a Starlette ASGI app over a :class:`~.served.ModelTable`.

Routes (every one but ``/health`` needs ``Authorization: Bearer TOKEN`` when a
token is configured):

- ``POST /v1/models/{name}/predict`` (``?proba=true`` for probabilities): rows as
  JSON records, JSON columns + data, CSV or parquet; validated against the
  version's signature (422 naming every problem), answered with the version
  in the body (``"version"``) and the ``X-Model-Version`` header;
- ``GET /v1/models``, ``GET /v1/models/{name}``: what is served, with provenance;
- ``GET /health``, ``GET /metrics`` (Prometheus), ``GET /openapi.json``.

The app knows nothing of the workspace: alias polling and the prediction log are
plugged in from outside (see :mod:`.runtime`), so a deployment bundle runs it alone.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import hmac
import json
import re
import time
import uuid
from typing import Any
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from .batcher import Batcher
from .guard import FailureLimiter, Guard
from .bodies import BadBody, read_frame, read_json, to_list
from .metrics import Metrics
from .openapi import document
from .served import ModelTable, NoProba, ServedModel
from .validation import InvalidRows

MAX_BODY = 32 << 20
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
FAST_ROWS = 64  # JSON requests up to this many rows are checked in plain Python and micro-batched


class TooLarge(Exception):
    pass


def json_response(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(doc, separators=(",", ":"), allow_nan=False, default=str).encode()
    return Response(body, status, headers=headers, media_type="application/json")


def error(status: int, message: str, **extra: Any) -> Response:
    return json_response({"error": message, **extra}, status)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, or :class:`TooLarge` as soon as it passes ``limit`` bytes (never buffered beyond)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class BearerAuth:
    """ASGI middleware: every path but /health needs the token (compared in constant time).

    A client address with too many failed attempts in the window gets 429 (with
    ``Retry-After``) on every authenticated route until the window ends, whatever it sends.
    """

    def __init__(self, app: Any, token: str, limiter: FailureLimiter | None = None) -> None:
        self.app = app
        self.expected = hashlib.sha256(f"Bearer {token}".encode()).digest()
        self.limiter = limiter or FailureLimiter()

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and scope["path"] == "/health":  # open, but says less without the token
            got = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
            if not hmac.compare_digest(hashlib.sha256(got).digest(), self.expected):
                scope.setdefault("state", {})["anonymous"] = True
        elif scope["type"] == "http":
            addr = (scope.get("client") or ("?",))[0]
            wait = self.limiter.retry_after(addr)
            if wait:
                response = error(429, f"too many failed authentications from {addr}; retry in {wait} s")
                response.headers["Retry-After"] = str(wait)
                await response(scope, receive, send)
                return
            got = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
            if not hmac.compare_digest(hashlib.sha256(got).digest(), self.expected):
                self.limiter.failed(addr)
                response = error(401, "missing or wrong bearer token: send 'Authorization: Bearer TOKEN'")
                response.headers["WWW-Authenticate"] = 'Bearer realm="nbtrack"'
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class Handlers:
    def __init__(self, models: ModelTable, metrics: Metrics, max_body: int, log: Any, title: str) -> None:
        self.models, self.metrics, self.max_body, self.log, self.title = models, metrics, max_body, log, title
        self.batcher = Batcher()

    async def predict(self, request: Request) -> Response:
        t0 = time.perf_counter()
        name = request.path_params["name"]
        served = self.models.get(name)
        if served is None:
            self.metrics.requests.labels("unknown", "", "404").inc()
            return error(404, f"no model {name!r} is served here", models=self.models.keys())
        rid = request.headers.get("x-request-id", "")
        if not REQUEST_ID.fullmatch(rid):  # echoed and logged: only a short, plain id is kept
            rid = uuid.uuid4().hex
        proba = request.query_params.get("proba", "").lower() in ("1", "true", "yes")
        response = await self._predict(request, served, rid, proba)
        response.headers["X-Model-Version"] = str(served.version)
        response.headers["X-Request-Id"] = rid
        m = self.metrics
        m.requests.labels(served.name, str(served.version), str(response.status_code)).inc()
        m.latency.labels(served.name).observe(time.perf_counter() - t0)
        return response

    async def _predict(self, request: Request, served: ServedModel, rid: str, proba: bool) -> Response:
        base = {"model": served.name, "version": served.version, "request_id": rid}
        try:
            body = await read_body(request, self.max_body)
            ctype = request.headers.get("content-type")
            X: Any = None
            if _is_json(ctype, body):
                cols, n = read_json(body)
                if served.schema.fast and n <= FAST_ROWS:  # plain Python checks, batched with other requests
                    X = served.schema.validate_columns(cols, n)
                    out = await self.batcher.predict(served, X, n, proba)
                else:
                    X = served.schema.validate(_frame(cols, n))
            else:
                X = served.schema.validate(read_frame(body, ctype))
            if not isinstance(X, dict):
                n = len(X)
                out = await run_in_threadpool(_compute, served, X, proba)
        except TooLarge:
            return self._fail(served, 413, "too_large", f"the body is larger than {self.max_body} bytes; "
                              "send fewer rows per request (or raise --max-body)", base)
        except BadBody as e:
            return self._fail(served, e.status, "bad_body", str(e), base)
        except InvalidRows as e:
            return self._fail(served, 422, "invalid", "the rows do not match the model's signature", base,
                              problems=e.problems)
        except NoProba as e:
            return self._fail(served, 400, "no_proba", str(e), base)
        except ClientDisconnect:
            return self._fail(served, 400, "disconnect", "the client went away", base)
        except (ValueError, TypeError) as e:  # the model itself refused the rows
            msg = str(e).splitlines()[0][:500] if str(e) else type(e).__name__
            return self._fail(served, 422, "model", "the model could not predict these rows", base,
                              problems=[{"column": None, "problem": "model", "message": msg}])
        doc, pred = out
        self.metrics.rows.labels(served.name, str(served.version)).inc(n)
        if self.log is not None:
            self.log.record(served, rid, X, pred)
        return json_response({**base, **doc})

    def _fail(self, served: ServedModel, status: int, reason: str, message: str, base: dict, **extra) -> Response:
        self.metrics.errors.labels(served.name, reason).inc()
        return json_response({**base, "error": message, **extra}, status)

    async def list_models(self, request: Request) -> Response:
        return json_response({"models": [s.describe() | {"route": k} for k, s in self.models.items()]})

    async def get_model(self, request: Request) -> Response:
        served = self.models.get(request.path_params["name"])
        if served is None:
            return error(404, f"no model {request.path_params['name']!r} is served here", models=self.models.keys())
        return json_response(served.describe(), headers={"X-Model-Version": str(served.version)})

    async def health(self, request: Request) -> Response:
        if request.scope.get("state", {}).get("anonymous"):
            return json_response({"status": "ok"})  # which models and versions: for token holders only
        return json_response({"status": "ok", "models": {k: s.version for k, s in self.models.items()}})

    async def metrics_text(self, request: Request) -> Response:
        for key, s in self.models.items():
            self.metrics.version.labels(key, s.ref or key).set(s.version)
        if self.log is not None:
            self.log.update_metrics()
        return Response(self.metrics.render(), media_type=self.metrics.content_type)

    async def openapi(self, request: Request) -> Response:
        return json_response(document(self.models, self.title))


def _is_json(ctype: str | None, body: bytes) -> bool:
    c = (ctype or "").split(";")[0].strip().lower()
    return c == "application/json" or c.endswith("+json") or (not c and body[:4] != b"PAR1")


def _frame(cols: dict, n: int) -> Any:
    import pandas as pd

    return pd.DataFrame(cols, index=pd.RangeIndex(n))


def _compute(served: ServedModel, X: Any, proba: bool) -> tuple[dict, Any]:
    if proba:
        p, pred = served.predict_proba(X)
        return {"predictions": to_list(pred), "probabilities": to_list(p), "classes": served.classes}, pred
    pred = served.predict(X)
    return {"predictions": to_list(pred)}, pred


def create_app(models: ModelTable, *, token: str | None = None, max_body: int = MAX_BODY, log: Any = None,
               metrics: Metrics | None = None, title: str = "nbtrack model server",
               on_start: Callable[[], None] | None = None, on_stop: Callable[[], None] | None = None,
               cors_origins: list[str] | tuple[str, ...] = (), max_auth_failures: int = 10,
               auth_window: float = 60.0) -> Any:
    """The ASGI app serving ``models``.

    Parameters
    ----------
    token : str, optional
        Bearer token required on every route but ``/health``.
    log : object, optional
        A prediction log (``record(served, request_id, X, predictions)``, ``update_metrics()``).
    on_start, on_stop : callable, optional
        Run (in a worker thread) when the server starts and stops: alias polling, log flushing.
    cors_origins : list of str
        Origins answered with ``Access-Control-Allow-Origin`` (``"*"``: any); none by default.
    max_auth_failures, auth_window : int, float
        A client address with this many failed bearer attempts within ``auth_window``
        seconds gets 429 until the window ends (0 turns the limit off).
    """
    metrics = metrics or Metrics()
    h = Handlers(models, metrics, max_body, log, title)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if on_start is not None:
            await run_in_threadpool(on_start)
        # The loaded models and libraries are hundreds of thousands of objects that never die;
        # frozen, the garbage collector stops walking them in every full collection, which
        # otherwise shows as tens of milliseconds in the tail latency.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            if on_stop is not None:
                await run_in_threadpool(on_stop)

    routes = [
        Route("/v1/models/{name:path}/predict", h.predict, methods=["POST"]),
        Route("/v1/models", h.list_models, methods=["GET"]),
        Route("/v1/models/{name:path}", h.get_model, methods=["GET"]),
        Route("/health", h.health, methods=["GET"]),
        Route("/metrics", h.metrics_text, methods=["GET"]),
        Route("/openapi.json", h.openapi, methods=["GET"]),
    ]
    app: Any = Starlette(routes=routes, lifespan=lifespan)
    app.state.models, app.state.metrics = models, metrics
    if token:
        app = BearerAuth(app, token, FailureLimiter(max_auth_failures, auth_window))
    return Guard(app, cors_origins)
