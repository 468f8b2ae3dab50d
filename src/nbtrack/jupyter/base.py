"""The base handler: authentication, JSON, the workspace of a notebook, and the
one place where exceptions become HTTP statuses.

Every error answer has the body ``{"error": <class name>, "message": <text>}``; an
unexpected exception says only its class (the traceback goes to the server log).

Every answer of these routes (not JupyterLab's pages) carries ``Cache-Control: no-store``,
``Referrer-Policy: no-referrer``, ``X-Frame-Options: DENY`` and a CSP with
``frame-ancestors 'none'`` on top of Jupyter's own ``X-Content-Type-Options: nosniff``.
Request bodies (the POST routes) are limited to :data:`MAX_BODY` bytes, chunked ones too.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from typing import Any

from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..context import acting_as
from ..errors import InvalidInput, NbtrackError, NotFound
from ..workspace import get_workspace

MAX_BODY = 1 << 20  # the POST routes take small JSON objects
API_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


def error_body(exc: BaseException | None, status: int) -> tuple[int, dict[str, str]]:
    """(status, body) for any exception a handler let escape."""
    if isinstance(exc, NbtrackError):
        return exc.http_status, {"error": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, web.HTTPError):
        names = {400: "InvalidInput", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed", 413: "TooLarge"}
        default = "authentication required: a token or the Jupyter session cookie" \
            if exc.status_code == 403 else str(exc.status_code)
        return exc.status_code, {"error": names.get(exc.status_code, "HTTPError"),
                                 "message": exc.log_message or exc.reason or default}
    # never the exception's text: it may hold paths, SQL or values; the server log has the traceback
    what = f" ({type(exc).__name__})" if exc else ""
    return status, {"error": "InternalError", "message": f"internal error{what}; see the Jupyter server log"}


class NbtrackHandler(APIHandler):
    """JSON handlers over the public nbtrack API."""

    @property
    def content_security_policy(self) -> str:
        if "Content-Security-Policy" in self.settings.get("headers", {}):
            return super().content_security_policy  # the operator's own policy wins, as in Jupyter
        return super().content_security_policy.replace("frame-ancestors 'self'", "frame-ancestors 'none'")

    def set_default_headers(self) -> None:
        super().set_default_headers()
        configured = self.settings.get("headers", {})
        for name, value in API_HEADERS.items():
            if name not in configured:
                self.set_header(name, value)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        status, body = error_body(exc_info[1] if exc_info else None, status_code)
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def log_exception(self, typ, value, tb) -> None:
        if isinstance(value, NbtrackError) and value.http_status < 500:
            self.log.info("nbtrack API %s: %s", type(value).__name__, value)
        else:
            super().log_exception(typ, value, tb)

    # -- helpers -----------------------------------------------------------------
    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a (blocking, database-bound) API call off the event loop, as the server's
        authenticated user (what the audit log records and governance checks)."""
        loop = asyncio.get_running_loop()
        who = self.username()

        def as_user() -> Any:
            with acting_as(who):
                return fn(*args, **kwargs)

        return await loop.run_in_executor(None, as_user)

    def username(self) -> str | None:
        """The Jupyter server's authenticated user (its identity provider's ``username``)."""
        u = self.current_user
        name = getattr(u, "username", None) or (u if isinstance(u, str) else None)
        return str(name) if name else None

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, default=str))

    def body(self) -> dict[str, Any]:
        if not self.request.body:
            return {}
        try:
            data = json.loads(self.request.body)
        except ValueError as e:
            raise InvalidInput(f"the request body is not JSON: {e}") from None
        if not isinstance(data, dict):
            raise InvalidInput("the request body must be a JSON object")
        return data

    def int_arg(self, name: str, default: int, lo: int = 0, hi: int | None = None) -> int:
        raw = self.get_argument(name, None)
        if raw in (None, ""):
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InvalidInput(f"{name} must be an integer, got {raw!r}") from None
        if value < lo or (hi is not None and value > hi):
            raise InvalidInput(f"{name} must be between {lo} and {hi if hi is not None else 'any'}, got {value}")
        return value

    @property
    def root_dir(self) -> str:
        root = self.settings.get("server_root_dir") or os.getcwd()
        return os.path.abspath(os.path.expanduser(root))

    def notebook_names(self, notebook: str) -> list[str]:
        """Every spelling under which a kernel may have recorded ``notebook``.

        JupyterLab gives the kernel ``JPY_SESSION_NAME`` = the absolute path
        (root_dir joined with the notebook's path); ``NBTRACK_NOTEBOOK`` may be
        relative or go through a symlink.
        """
        rel = notebook.strip().lstrip("/")
        absolute = os.path.normpath(os.path.join(self.root_dir, rel))
        root = self.root_dir
        if not (absolute == root or absolute.startswith(root.rstrip(os.sep) + os.sep)):
            raise InvalidInput(f"notebook {notebook!r} is outside the server's root directory")
        names = [absolute, os.path.realpath(absolute), rel, os.path.normpath(rel)]
        return list(dict.fromkeys(names))

    def workspace(self):
        """The workspace the notebook's directory resolves to (same rules as its kernel)."""
        notebook = self.get_argument("notebook", "") or ""
        start = self.root_dir
        if notebook:
            start = os.path.dirname(self.notebook_names(notebook)[0])
        if not os.path.isdir(start):
            raise NotFound(f"no directory {start!r} for notebook {notebook!r}")
        return get_workspace(create=False, start=start)


@web.stream_request_body
class BodyHandler(NbtrackHandler):
    """A handler with a request body: at most :data:`MAX_BODY` bytes, counted while it arrives
    (a declared ``Content-Length`` beyond it is refused before reading; a chunked body is
    counted and dropped past it), so a client cannot make the server hold more."""

    async def prepare(self) -> None:  # type: ignore[override]
        self._chunks: list[bytes] = []
        self._size = 0
        await super().prepare()
        declared = self.request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            raise web.HTTPError(413, log_message=f"the body is larger than {MAX_BODY} bytes")

    def data_received(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > MAX_BODY:
            self._chunks = []
        else:
            self._chunks.append(chunk)

    def body(self) -> dict[str, Any]:
        if self._size > MAX_BODY:
            raise web.HTTPError(413, log_message=f"the body is larger than {MAX_BODY} bytes")
        self.request.body = b"".join(self._chunks)
        return super().body()
