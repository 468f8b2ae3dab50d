"""A real Dask cluster for tests and benchmarks: `dask scheduler` + `dask worker` processes.

Each worker runs in its own working directory (also its HOME and TMPDIR) with none of the
client's ``NBTRACK_*`` variables. As root (CI, these machines) each worker also gets its own
mount, PID and UTS namespaces (``unshare``): the folders in ``hide`` (the client's
workspace and notebooks) are covered by an empty read-only tmpfs, the hostname is the
worker's name, and killing the worker's ``unshare`` process with SIGKILL takes down every
process of that "machine" at once (worker, nanny, kernels), like a host that dies.

    with DaskCluster(2, hide=[tmp_dir], env=aws_env) as cluster:
        nbtrack.sweep(..., dask=cluster.address)
        cluster.kill(0)
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from nbtrack import workspace as ws_mod

BIN = Path(sys.executable).parent
NOTEBOOKS = str(Path(__file__).parent / "notebooks")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, seconds: float = 60, proc: subprocess.Popen | None = None) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


def can_unshare() -> bool:
    """Namespaces need root and util-linux's unshare."""
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("unshare") is not None


def _clean_env(extra: dict[str, str] | None, home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBTRACK_") and k != "JPY_SESSION_NAME"}
    env.update({"HOME": home, "TMPDIR": home, "DASK_DISTRIBUTED__WORKER__DAEMON": "False",
                "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


class DaskCluster:
    """``n`` workers (``threads`` threads each) and a scheduler on 127.0.0.1; see the module docstring."""

    def __init__(self, n: int = 2, threads: int = 1, hide: Iterable[str | os.PathLike] = (),
                 env: dict[str, str] | None = None, isolate: bool | None = None) -> None:
        self.n, self.threads, self.env = n, threads, dict(env or {})
        self.hide = [str(Path(h).resolve()) for h in hide]
        self.isolated = can_unshare() if isolate is None else isolate
        self.base = tempfile.mkdtemp(prefix="nbtrack-dask-")
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.dirs: list[str] = []

    # -- life cycle --------------------------------------------------------------------------
    def start(self) -> DaskCluster:
        sdir = os.path.join(self.base, "scheduler")
        os.makedirs(sdir)
        self.scheduler = subprocess.Popen(
            [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard"],
            cwd=sdir, env=_clean_env(self.env, sdir), stdout=self._log("scheduler"), stderr=subprocess.STDOUT,
            start_new_session=True)
        wait_port(self.port, proc=self.scheduler)
        for i in range(self.n):
            self.workers.append(self._worker(i))
        self.wait_for_workers(self.n)
        return self

    def _log(self, name: str):
        return open(os.path.join(self.base, f"{name}.log"), "ab")

    def _worker(self, i: int) -> subprocess.Popen:
        wdir = os.path.join(self.base, f"w{i}")
        os.makedirs(wdir)
        self.dirs.append(wdir)
        cmd = [str(BIN / "dask"), "worker", self.address, "--name", f"w{i}", "--nthreads", str(self.threads),
               "--local-directory", wdir, "--no-dashboard", "--memory-limit", "0", "--death-timeout", "60"]
        if self.isolated:
            mounts = "".join(f"mount -t tmpfs -o ro,size=4k nbtrack-hidden {shlex.quote(h)}; " for h in self.hide)
            script = f"set -e; hostname w{i}; {mounts}cd {shlex.quote(wdir)}; exec {shlex.join(cmd)}"
            cmd = ["unshare", "--mount", "--uts", "--pid", "--fork", "--mount-proc", "--kill-child",
                   "sh", "-c", script]
        return subprocess.Popen(cmd, cwd=wdir, env=_clean_env(self.env, wdir), stdout=self._log(f"w{i}"),
                                stderr=subprocess.STDOUT, start_new_session=True)

    def wait_for_workers(self, n: int, seconds: float = 120) -> None:
        from distributed import Client

        with Client(self.address, timeout="30s") as client:
            try:
                client.wait_for_workers(n, timeout=seconds)
            except Exception as e:
                raise RuntimeError(f"{n} Dask workers did not join: {e}\n{self.logs()}") from e

    def kill(self, i: int) -> None:
        """SIGKILL worker ``i``: with namespaces its whole "machine" (nanny, worker, kernels)."""
        proc = self.workers[i]
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # its session: unshare (and, without it, nanny + worker)
        except ProcessLookupError:
            pass
        proc.wait(30)

    def logs(self) -> str:
        out = []
        for name in sorted(os.listdir(self.base)):
            if name.endswith(".log"):
                text = Path(self.base, name).read_text(errors="replace")
                out.append(f"--- {name}\n{text[-4000:]}")
        return "\n".join(out)

    def close(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc is not None and proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in [*self.workers, self.scheduler]:
            if proc is None:
                continue
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(15)
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> DaskCluster:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc) -> None:
        self.close()


# -- the shared store: PostgreSQL + S3 (moto) ----------------------------------------------------
AWS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
       "AWS_EC2_METADATA_DISABLED": "true"}


@contextmanager
def moto_server() -> Iterator[str]:
    """For scripts (benchmarks/bench_dask.py): ``NBTRACK_TEST_S3_ENDPOINT`` or a moto server of our own
    (tests use tests/conftest.py's ``s3_server``)."""
    given = os.environ.get("NBTRACK_TEST_S3_ENDPOINT")
    if given:
        yield given
        return
    pytest.importorskip("moto.server")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, 60, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def aws_env(endpoint: str) -> dict[str, str]:
    return {**AWS, "AWS_ENDPOINT_URL": endpoint}


@contextmanager
def pg_database(pg_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the test server; dropped afterwards."""
    import sqlalchemy as sa

    name = f"nbtrack_dask_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield pg_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def team_config(folder: str | os.PathLike, meta: str, objects: str) -> Path:
    """``folder/.nbtrack/config.toml`` pointing at the shared store (what `nbtrack init --meta --objects` writes)."""
    ws = Path(folder) / ".nbtrack"
    ws.mkdir(parents=True, exist_ok=True)
    (ws / "config.toml").write_text(f'[store]\nmeta = "{meta}"\nobjects = "{objects}"\n')
    return ws


# -- fixtures (a conftest imports them: ``from daskcluster import cluster, team_ws``) --------------
@pytest.fixture(scope="module")
def cluster(s3_server, tmp_path_factory):
    """Two workers (tests/conftest.py's S3 server in their environment) that see neither the
    tests' folders nor the fixture notebooks."""
    hide = [tmp_path_factory.getbasetemp(), NOTEBOOKS]
    with DaskCluster(2, hide=hide, env=aws_env(s3_server)) as c:
        yield c


@pytest.fixture
def team_ws(pg_url, s3_bucket, tmp_path, monkeypatch):
    """The client's workspace: ``.nbtrack/config.toml`` -> a fresh PostgreSQL database + an S3 prefix."""
    with pg_database(pg_url) as meta:
        folder = team_config(tmp_path, meta, f"{s3_bucket}/team")
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("NBTRACK_URI", str(folder))
        monkeypatch.delenv("NBTRACK_PARENT_RUN", raising=False)
        ws_mod.reset_cache()
        yield ws_mod.init(tmp_path)
        ws_mod.reset_cache()
