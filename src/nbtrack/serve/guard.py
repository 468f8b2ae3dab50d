"""What the prediction server does to every request before and around the routes:

- :func:`check_token`: a weak or malformed token is refused at start;
- :class:`FailureLimiter`: failed bearer attempts per client address, in a bounded table;
- :class:`Guard`: pure ASGI middleware adding the security headers to every response
  and answering CORS only for origins configured explicitly.

Only the standard library: a deployment bundle vendors this module.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

MIN_TOKEN = 16
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
]
CORS_METHODS = b"GET, POST, OPTIONS"
CORS_HEADERS = b"authorization, content-type, x-request-id"


class WeakToken(ValueError):
    pass


def check_token(token: str | None) -> None:
    """Raise :class:`WeakToken` for a token too short, or one that cannot travel in a header."""
    if token is None:
        return
    hint = "make one with: python -c \"import secrets; print(secrets.token_urlsafe(32))\""
    if len(token) < MIN_TOKEN:
        raise WeakToken(f"the token has {len(token)} characters; use at least {MIN_TOKEN} ({hint})")
    if not all(33 <= ord(c) < 127 for c in token):
        raise WeakToken(f"the token must be printable ASCII without spaces ({hint})")


class FailureLimiter:
    """Failed authentications per client address in fixed windows of ``window`` seconds.

    After ``limit`` failures in one window the address is refused (429) until the window
    ends. The table keeps at most ``size`` addresses (least recently failing dropped first),
    so memory stays constant whatever the number of clients.
    """

    def __init__(self, limit: int = 10, window: float = 60.0, size: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.size, self.clock = limit, window, size, clock
        self.table: OrderedDict[str, list[float]] = OrderedDict()  # address -> [window start, failures]

    def retry_after(self, addr: str) -> int:
        """Seconds until ``addr`` may try again (0: not blocked)."""
        if self.limit <= 0:
            return 0
        entry = self.table.get(addr)
        if entry is None:
            return 0
        left = entry[0] + self.window - self.clock()
        if left <= 0:
            del self.table[addr]
            return 0
        return math.ceil(left) if entry[1] >= self.limit else 0

    def failed(self, addr: str) -> None:
        if self.limit <= 0:
            return
        now = self.clock()
        entry = self.table.get(addr)
        if entry is None or entry[0] + self.window <= now:
            entry = [now, 0.0]
        entry[1] += 1
        self.table[addr] = entry
        self.table.move_to_end(addr)
        while len(self.table) > self.size:
            self.table.popitem(last=False)


class Guard:
    """ASGI middleware (outermost): security headers on every response; CORS for ``origins`` only."""

    def __init__(self, app: Any, cors_origins: list[str] | tuple[str, ...] = ()) -> None:
        self.app = app
        self.origins = {o.rstrip("/") for o in cors_origins}

    def _allowed(self, scope: dict) -> bytes | None:
        if not self.origins:
            return None
        origin = next((v for k, v in scope["headers"] if k == b"origin"), None)
        if origin is None:
            return None
        if "*" in self.origins:
            return b"*"
        return origin if origin.decode("latin-1") in self.origins else None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        allow = self._allowed(scope)
        extra = list(SECURITY_HEADERS)
        if self.origins:
            extra.append((b"vary", b"Origin"))
        if allow is not None:
            extra.append((b"access-control-allow-origin", allow))
            if scope["method"] == "OPTIONS":  # a preflight carries no token: answered here
                extra += [(b"access-control-allow-methods", CORS_METHODS),
                          (b"access-control-allow-headers", CORS_HEADERS),
                          (b"access-control-max-age", b"600"), (b"content-length", b"0")]
                await send({"type": "http.response.start", "status": 204, "headers": extra})
                await send({"type": "http.response.body", "body": b""})
                return
            extra.append((b"access-control-expose-headers", b"x-model-version, x-request-id"))

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                message = {**message, "headers": list(message.get("headers", []))
                           + [(k, v) for k, v in extra if k not in have]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
