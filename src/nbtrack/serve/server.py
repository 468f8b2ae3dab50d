"""Run the prediction server: in the foreground (``nbtrack serve``) or in a background thread
(``nbtrack.serve(...)`` in a notebook).

Starting a server loads every reference, opens a run of kind ``serve`` (its
lineage: the served versions as inputs, the prediction-log versions as outputs),
starts the alias watcher and the prediction log, and binds. Without a token it
binds only to a loopback address.
"""

from __future__ import annotations

import atexit
import ipaddress
import json
import logging
import os
import socket
import stat
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select

from ..errors import InvalidInput
from ..workspace import Workspace, get_workspace
from .app import MAX_BODY, create_app
from .guard import WeakToken, check_token
from .metrics import Metrics
from .predlog import PredictionLog
from .served import ModelTable, ServedModel
from .source import AliasWatcher, load_served

log = logging.getLogger("nbtrack.serve")
TOKEN_ENV = "NBTRACK_SERVE_TOKEN"
CONFIG_ENV = "NBTRACK_SERVE_CONFIG"


@dataclass
class Options:
    refs: list[str]
    token: str | None = None
    trust: Any = None
    sample: float = 1.0
    poll: float = 2.0
    flush_every: float = 5.0
    max_body: int = MAX_BODY
    log_predictions: bool = True
    cors_origins: list[str] = field(default_factory=list)
    max_auth_failures: int = 10


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    try:
        check_token(token)
    except WeakToken as e:
        raise InvalidInput(str(e)) from None
    if not token and not is_loopback(host):
        raise InvalidInput(f"refusing to serve on {host} without a token: anyone who can reach it could use the "
                           f"models. Set {TOKEN_ENV} or pass --token-file FILE (or bind to 127.0.0.1)")


def read_token(token_file: str | None) -> str | None:
    """The token from ``token_file`` (refused when others can read it), else ``NBTRACK_SERVE_TOKEN``."""
    if token_file:
        try:
            mode = os.stat(token_file).st_mode
            text = open(token_file).read().strip()
        except OSError as e:
            raise InvalidInput(f"cannot read the token file {token_file}: {e.strerror}") from None
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            raise InvalidInput(f"the token file {token_file} is readable by other users; "
                               f"run `chmod 600 {token_file}` first")
        if not text:
            raise InvalidInput(f"the token file {token_file} is empty")
        return text
    env = os.environ.get(TOKEN_ENV)
    if env is not None and not env.strip():
        raise InvalidInput(f"{TOKEN_ENV} is set but empty; unset it (loopback only) or set a token")
    return env


class Parts:
    """Everything one server owns besides the HTTP loop; ``start()``/``stop()`` are the app's lifespan."""

    def __init__(self, opts: Options, ws: Workspace) -> None:
        self.opts, self.ws = opts, ws
        self.metrics = Metrics()
        self.table = ModelTable()
        self.run: Any = None
        self.log: PredictionLog | None = None
        for ref in opts.refs:
            served = load_served(ref, opts.trust, ws)
            key = served.name if self.table.get(served.name) is None else served.ref
            self.table.put(key, served)
        self.watcher = AliasWatcher(self.table, ws, opts.trust, opts.poll, on_swap=self._swapped)
        if opts.log_predictions:
            self.log = PredictionLog(ws, sample=opts.sample, flush_every=opts.flush_every, metrics=self.metrics)

    def _swapped(self, key: str, new: ServedModel, old: ServedModel | None) -> None:
        self.metrics.swaps.labels(new.name).inc()
        self._link_input(new)

    def _link_input(self, served: ServedModel) -> None:
        if self.run is None:
            return
        from ..store.schema import lineage

        vid = served.info.get("version_id")
        with self.ws.meta.write() as conn:
            exists = conn.execute(select(lineage.c.id).where(lineage.c.run_id == self.run.id,
                                                             lineage.c.model_version_id == vid)).first()
            if exists is None:
                conn.execute(insert(lineage).values(run_id=self.run.id, direction="input", model_version_id=vid,
                                                    variable=served.ref))

    def start(self) -> None:
        if self.log is not None:
            from ..capture.run import ActiveRun

            self.run = ActiveRun(f"serve {' '.join(self.opts.refs)}", "serve", workspace=self.ws).start()
            for _, served in self.table.items():
                self._link_input(served)
            self.log.run_id = self.run.id
            self.log.start()
        self.watcher.start()

    def stop(self) -> None:
        self.watcher.stop()
        if self.log is not None:
            self.log.stop()
        if self.run is not None:
            self.run.end("finished")

    def app(self, title: str = "nbtrack model server") -> Any:
        return create_app(self.table, token=self.opts.token, max_body=self.opts.max_body, log=self.log,
                          metrics=self.metrics, title=title, on_start=self.start, on_stop=self.stop,
                          cors_origins=self.opts.cors_origins, max_auth_failures=self.opts.max_auth_failures)


def _log_to_stderr() -> None:
    """``nbtrack serve`` says on stderr when it switches versions (and why the log cannot be written)."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def app_from_env() -> Any:
    """uvicorn factory for ``--workers N``: options from ``NBTRACK_SERVE_CONFIG`` (JSON), token from the env."""
    cfg = json.loads(os.environ[CONFIG_ENV])
    opts = Options(**cfg, token=os.environ.get(TOKEN_ENV) or None)
    _log_to_stderr()
    return Parts(opts, get_workspace()).app()


def run(opts: Options, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
        workspace: Workspace | None = None, log_level: str = "info") -> None:
    """Serve in the foreground until interrupted (what ``nbtrack serve`` runs)."""
    import uvicorn

    check_bind(host, opts.token)
    ws = workspace or get_workspace()
    _log_to_stderr()
    if workers > 1:
        for ref in opts.refs:  # fail here, once, rather than in every worker
            load_served(ref, opts.trust, ws)
        cfg = {k: v for k, v in opts.__dict__.items() if k != "token"}
        os.environ[CONFIG_ENV] = json.dumps(cfg)
        if opts.token:
            os.environ[TOKEN_ENV] = opts.token
        uvicorn.run("nbtrack.serve.server:app_from_env", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level, access_log=False, server_header=False)
        return
    app = Parts(opts, ws).app()
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, server_header=False)


@dataclass
class Server:
    """A server running in a background thread (see :func:`serve`); ``stop()`` ends it."""

    url: str
    parts: Parts = field(repr=False)
    _server: Any = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def models(self) -> dict[str, int]:
        """Served route names and the version each one serves now."""
        return {k: s.version for k, s in self.parts.table.items()}

    @property
    def log(self) -> PredictionLog | None:
        return self.parts.log

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 30) -> None:
        """Stop serving; buffered prediction-log rows are written first."""
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _repr_html_(self) -> str:
        state = "running" if self.running else "stopped"
        rows = "".join(f"<li><code>{self.url}/v1/models/{k}/predict</code> (version {v})</li>"
                       for k, v in self.models.items())
        return f"<b>nbtrack server</b> at <code>{self.url}</code> ({state})<ul>{rows}</ul>"


def serve(*refs: str, host: str = "127.0.0.1", port: int | None = None, token: str | None = None,
          trust: bool | list[str] | None = None, sample: float = 1.0, poll: float = 2.0, flush_every: float = 5.0,
          max_body: int = MAX_BODY, log_predictions: bool = True, workspace: Workspace | None = None,
          cors_origins: list[str] | None = None, max_auth_failures: int = 10) -> Server:
    """Serve model versions over HTTP from a background thread (a quick try-out in a notebook).

    Parameters
    ----------
    *refs : str
        ``"churn@production"``, ``"clf@3"``...; each is served at ``/v1/models/NAME/predict``.
    host, port : str, int
        Where to listen; port None picks a free one (see ``.url``).
    token : str, optional
        Bearer token required on every route but ``/health`` (needed to bind beyond loopback).
    trust : bool or list of str, optional
        As for :func:`nbtrack.load_model`: needed for models with untrusted types or pickle.
    sample : float
        Share of requests written to the prediction log ``NAME.predictions`` (0 to 1).
    poll : float
        Seconds between alias checks (a promotion or rollback is served within that time).
    flush_every : float
        Seconds between prediction-log writes.
    cors_origins : list of str, optional
        Browser origins allowed to call the server (``Access-Control-Allow-Origin``); none by default.
    max_auth_failures : int
        Failed bearer attempts per client address per minute before 429 (0: no limit).

    Returns
    -------
    Server
        ``.url``, ``.models``, ``.stop()``; also a context manager. The server
        stops when the kernel exits.
    """
    import uvicorn

    if not refs:
        raise InvalidInput("serve needs at least one model reference, e.g. nbtrack.serve('churn@production')")
    check_bind(host, token)
    opts = Options(list(refs), token, trust, sample, poll, flush_every, max_body, log_predictions,
                   list(cors_origins or []), max_auth_failures)
    parts = Parts(opts, workspace or get_workspace())
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port or 0))
    except OSError as e:
        sock.close()
        raise InvalidInput(f"cannot listen on {host}:{port}: {e.strerror}") from None
    bound = sock.getsockname()[1]
    config = uvicorn.Config(parts.app(), log_level="warning", access_log=False, lifespan="on", server_header=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="nbtrack-serve", daemon=True)
    thread.start()
    url = f"http://{host if ':' not in host else f'[{host}]'}:{bound}"
    deadline = time.monotonic() + 60
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        server.should_exit = True
        raise InvalidInput(f"the server at {url} did not start; see the log above")
    handle = Server(url, parts, server, thread)
    atexit.register(handle.stop)
    return handle
