"""Fork-server kernels: a fresh kernel process per run, forked from a template in ~20 ms.

Booting an IPython kernel costs ~0.7 s of CPU, almost all of it importing ipykernel,
IPython, zmq, tornado and debugpy. A *template* process (``_forktemplate.py``, run by the
kernelspec's own Python) imports them once and then forks one child per kernel launch; the
child takes the launch's environment, working directory and connection file, reseeds
``random`` (and numpy's global generator if the template preloaded numpy) and runs
``ipykernel_launcher`` as usual. Every run still gets its own new process: nothing a
notebook does in one kernel can reach the next one, which starts from the template's
untouched state.

The template is shared by every process of this user that launches the same kernel
(same Python, same ``PYTHON*`` variables, same preloads): it listens on a Unix socket in a
private folder (``$XDG_RUNTIME_DIR`` or the temp folder, ``nbtrack-fork-UID``, mode 0700),
exits after ``NBTRACK_FORK_IDLE`` seconds (default 600) without launches or kernels, and is
started again when it is missing or dead (a crashed template is replaced on the next launch).

Used by :class:`ForkServerProvisioner`, a jupyter_client kernel provisioner (entry point
``nbtrack-forkserver``; nbtrack's pipelines install it on their own kernel managers). It
falls back to the normal launch where forking is unsafe or impossible: not Linux, a
kernelspec that is not ``python -m ipykernel_launcher``, ``NBTRACK_FORK_KERNELS=0``, a
template that cannot start. ``NBTRACK_FORK_PRELOAD=numpy,pandas`` makes the template import
more (their import-time settings, e.g. ``OMP_NUM_THREADS``, are then the template's).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import pathlib
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Bool

from ..context import pid_alive

TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_forktemplate.py")
ENV_ENABLE, ENV_IDLE, ENV_PRELOAD = "NBTRACK_FORK_KERNELS", "NBTRACK_FORK_IDLE", "NBTRACK_FORK_PRELOAD"
START_TIMEOUT_S = 30.0
_spawned: list[subprocess.Popen] = []  # templates this process started (reaped when they exit)


def enabled(env: dict[str, str] | None = None) -> bool:
    """Fork-server kernels are possible here and not switched off."""
    value = (env if env is not None else os.environ).get(ENV_ENABLE, "1").strip().lower()
    return (value not in ("0", "false", "no", "off") and sys.platform.startswith("linux")
            and hasattr(os, "pidfd_open") and hasattr(socket, "send_fds") and hasattr(signal, "pidfd_send_signal"))


def kernel_args(cmd: list[str]) -> list[str] | None:
    """The arguments after ``python -m ipykernel_launcher`` in a kernel command, or None when
    the command is anything else (another kernel, extra interpreter options)."""
    if len(cmd) >= 3 and cmd[1:3] == ["-m", "ipykernel_launcher"] and "-f" in cmd[3:]:
        return list(cmd[3:])
    return None


def _python(cmd0: str, env: dict[str, str]) -> str | None:
    found = cmd0 if os.path.isabs(cmd0) else shutil.which(cmd0, path=env.get("PATH"))
    return os.path.abspath(found) if found and os.access(found, os.X_OK) else None


def runtime_dir() -> str | None:
    """This user's private folder for template sockets, or None if it is not safe."""
    uid = os.getuid()
    base = os.environ.get("XDG_RUNTIME_DIR")
    if not base or not os.path.isdir(base):
        base = os.environ.get("TMPDIR") or "/tmp"  # not tempfile.gettempdir(): one folder per user
    folder = os.path.join(base, f"nbtrack-fork-{uid}")
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder, 0o700)
    st = os.lstat(folder)
    if st.st_uid != uid or st.st_mode & 0o077 or not os.path.isdir(folder) or os.path.islink(folder):
        return None  # someone else's, or readable by others: never connect or listen there
    if len(os.path.join(folder, "k" * 20 + ".sock.4194304.tmp")) > 100:  # AF_UNIX paths: ~104 bytes
        return None
    return folder


def _preloads(env: dict[str, str]) -> str:
    return ",".join(sorted({m.strip() for m in env.get(ENV_PRELOAD, "").split(",") if m.strip()}))


def template_key(python: str, env: dict[str, str]) -> str:
    """Which template may fork this kernel: same interpreter and template code, the same
    variables that shape the interpreter at its start (``PYTHON*``, the locale's) and the same
    preloads."""
    parts: list[Any] = [python, _stat(python), _stat(TEMPLATE), _preloads(env),
                        sorted((k, v) for k, v in env.items() if k.startswith(("PYTHON", "LC_")) or k == "LANG")]
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        # a reinstalled ipykernel must not be served by a template holding the old one
        import importlib.util

        spec = importlib.util.find_spec("ipykernel")
        parts.append(_stat(spec.origin) if spec and spec.origin else None)
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:20]


def _stat(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _request(path: str, req: dict, fds: list[int] = (), timeout: float = 10.0) -> tuple[dict, list[int]]:  # type: ignore[assignment]  # a tuple default is never mutated
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        data = json.dumps(req).encode() + b"\n"
        if fds:
            socket.send_fds(sock, [data], list(fds))
        else:
            sock.sendall(data)
        msg, got, _, _ = socket.recv_fds(sock, 1 << 16, 2)
        while msg and not msg.endswith(b"\n"):
            more = sock.recv(1 << 16)
            if not more:
                break
            msg += more
        if not msg:
            raise ConnectionError("the kernel template closed the connection")
        return json.loads(msg), got
    finally:
        sock.close()


class ForkedKernel:
    """A kernel process forked by a template: the slice of ``subprocess.Popen`` that
    jupyter_client's local provisioner uses (it is not our child: a pidfd watches it)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, pidfd: int, template: str) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._pidfd: int | None = pidfd
        self._template = template

    def poll(self) -> int | None:
        if self.returncode is None and self._pidfd is not None:
            ready, _, _ = select.select([self._pidfd], [], [], 0)
            if ready:
                self._finish()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None and self._pidfd is not None:
            ready, _, _ = select.select([self._pidfd], [], [], timeout)
            if not ready:
                raise subprocess.TimeoutExpired(["forked kernel"], timeout or 0)
            self._finish()
        return self.returncode if self.returncode is not None else -1

    def _finish(self) -> None:
        code = None
        for _ in range(50):  # the template reaps it when asked; a moment after the pidfd fires
            try:
                code = _request(self._template, {"op": "status", "pid": self.pid}, timeout=2)[0].get("returncode")
            except (OSError, ValueError):
                break  # the template is gone: the exit status went with it
            if code is not None:
                break
            time.sleep(0.01)
        self.returncode = code if code is not None else -1
        self.close()

    def send_signal(self, signum: int) -> None:
        if self.returncode is None and self._pidfd is not None:
            signal.pidfd_send_signal(self._pidfd, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def close(self) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)
            self._pidfd = None

    def __del__(self) -> None:
        self.close()


def launch(cmd: list[str], env: dict[str, str], cwd: str | None, wait: bool = True) -> ForkedKernel | None:
    """Fork a kernel for ``cmd`` from its template; None when it must be launched normally
    (not forkable, fork kernels off, or with ``wait=False`` a template still starting: it is
    started for the next launch)."""
    args = kernel_args(cmd)
    if args is None or not enabled(env):
        return None
    python = _python(cmd[0], env)
    folder = runtime_dir()
    if python is None or folder is None:
        return None
    key = template_key(python, env)
    path = os.path.join(folder, f"{key}.sock")
    umask = os.umask(0o022)
    os.umask(umask)
    req = {"op": "launch", "args": args, "env": env, "cwd": os.path.abspath(cwd or os.getcwd()), "watch": os.getpid(),
           "umask": umask}
    _reap()
    for attempt in range(2):
        try:
            reply, fds = _request(path, req, [sys.stdout.fileno(), sys.stderr.fileno()] if _std_ok() else [])
        except (FileNotFoundError, ConnectionRefusedError):
            if attempt or not _start(python, env, folder, key, wait):
                return None
            continue
        if "pid" not in reply or not fds:
            for fd in fds:
                os.close(fd)
            return None  # the template refused (e.g. it has threads): a normal launch
        return ForkedKernel(int(reply["pid"]), fds[0], path)
    return None


def _std_ok() -> bool:
    try:
        sys.stdout.fileno(), sys.stderr.fileno()
        return True
    except (AttributeError, OSError, ValueError):  # replaced streams (e.g. inside a kernel)
        return False


def _start(python: str, env: dict[str, str], folder: str, key: str, wait: bool) -> bool:
    """Start the template for ``key`` unless one is running or starting; with ``wait``, wait
    until it listens. True when a launch can be tried now."""
    import fcntl

    path = os.path.join(folder, f"{key}.sock")
    with open(os.path.join(folder, f"{key}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _listening(path):
            return True
        pidfile = os.path.join(folder, f"{key}.pid")
        starting = _read_pid(pidfile)
        if starting is None or not _alive(starting):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # a dead template's socket
            idle = env.get(ENV_IDLE, "600")
            tenv = {k: v for k, v in env.items() if not k.startswith(("NBTRACK_", "JPY_"))}
            log = open(os.path.join(folder, f"{key}.log"), "ab")
            try:
                proc = subprocess.Popen([python, TEMPLATE, path, idle, _preloads(env)], env=tenv, cwd="/",
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                        close_fds=True)
            finally:
                log.close()
            _spawned.append(proc)
            with open(pidfile, "w") as f:
                f.write(str(proc.pid))
            starting = proc.pid
    if not wait:
        return False
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if _listening(path):
            return True
        if not _alive(starting):
            return _listening(path)
        time.sleep(0.01)
    return False


def ensure_template(python: str | None = None, env: dict[str, str] | None = None) -> str | None:
    """Start (or find) the template for ``python -m ipykernel_launcher`` in ``env`` and wait
    until it listens; its socket path, or None where fork kernels are not used."""
    env = dict(os.environ if env is None else env)
    python = python or sys.executable
    folder = runtime_dir()
    if not enabled(env) or folder is None:
        return None
    key = template_key(python, env)
    path = os.path.join(folder, f"{key}.sock")
    if _listening(path) or _start(python, env, folder, key, wait=True):
        return path
    return None


def stop_templates() -> list[int]:
    """Stop this user's templates (kernels forked from them keep running); their pids."""
    folder = runtime_dir()
    stopped: list[int] = []
    if folder is None:
        return stopped
    for name in sorted(os.listdir(folder)):
        if name.endswith(".sock"):
            pid = template_pid(os.path.join(folder, name))
            if pid is not None:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGTERM)
                    stopped.append(pid)
    return stopped


def template_pid(path: str) -> int | None:
    try:
        return int(_request(path, {"op": "ping"}, timeout=2)[0]["pid"])
    except (OSError, ValueError, KeyError):
        return None


def _listening(path: str) -> bool:
    return template_pid(path) is not None


def _read_pid(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    for proc in _spawned:
        if proc.pid == pid:
            return proc.poll() is None
    return pid_alive(pid)


def _reap() -> None:
    _spawned[:] = [p for p in _spawned if p.poll() is None]


class ForkServerProvisioner(LocalProvisioner):
    """A local provisioner that forks ipykernel kernels from a pre-imported template.

    Select it in a kernelspec (``"metadata": {"kernel_provisioner": {"provisioner_name":
    "nbtrack-forkserver"}}``); anything it cannot fork is launched like
    :class:`~jupyter_client.provisioning.LocalProvisioner` does.
    """

    wait_for_template = Bool(True, config=True, help="wait for a template that is starting "
                             "(else launch this kernel normally and fork the next ones)")

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        env = kwargs.get("env")
        proc = None
        try:  # in this thread: a helper thread would outlive the call (unsafe if this process forks)
            proc = launch(cmd, dict(os.environ if env is None else env), kwargs.get("cwd"), self.wait_for_template)
        except Exception as e:  # never worse than a normal launch
            self.log.debug("fork-server launch failed, launching normally: %s", e)
        if proc is None:
            return await super().launch_kernel(cmd, **kwargs)
        self.process = proc  # type: ignore[assignment]  # the slice of Popen the provisioner uses
        self.pid = self.pgid = proc.pid  # the child called setsid(): its own process group
        self.cwd = kwargs.get("cwd", pathlib.Path.cwd())
        return self.connection_info

    async def wait(self) -> int | None:
        proc = self.process
        if not isinstance(proc, ForkedKernel):
            return await super().wait()
        while proc.poll() is None:
            await asyncio.sleep(0.01)
        self.process = None
        return proc.returncode


class WelcomeKernelClient(AsyncKernelClient):
    """A client that knows when a forked kernel is ready without jupyter_client's fixed waits.

    jupyter_client's ``wait_for_ready`` ends by draining IOPub until it has been silent for
    0.2 s, and asks again after 0.2 s when the status messages of its ``kernel_info`` request
    were published before its IOPub subscription reached the kernel; a forked kernel answers
    at once, so each run paid ~0.2 s there. For a forked kernel this waits for ipykernel's
    ``iopub_welcome`` (sent to every new subscriber: nothing published afterwards is lost),
    then for the ``idle`` status that closes its ``kernel_info`` request, and drains only what
    is already queued. Any other kernel gets jupyter_client's own method.
    """

    async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
        from .timeline import mark

        provisioner = getattr(self.parent, "provisioner", None)
        mark("kc.wait_for_ready", forked=isinstance(getattr(provisioner, "process", None), ForkedKernel))
        if not isinstance(getattr(provisioner, "process", None), ForkedKernel):
            return await super()._async_wait_for_ready(timeout)
        from queue import Empty

        deadline = time.monotonic() + (60.0 if timeout is None else timeout)
        welcomed = time.monotonic() + 0.5
        while (left := welcomed - time.monotonic()) > 0:
            try:
                if (await self.iopub_channel.get_msg(timeout=left)).get("msg_type") == "iopub_welcome":
                    break
            except Empty:
                break
        while True:
            msg_id = self.kernel_info()
            if await self._reply_and_idle(msg_id, Empty):
                break
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")
        while True:  # drain what is already queued (e.g. the welcome of a later subscription)
            try:
                await self.iopub_channel.get_msg(timeout=0)
            except Empty:
                break

    async def _reply_and_idle(self, msg_id: str, empty: type[Exception]) -> bool:
        """The ``kernel_info_reply`` to ``msg_id`` and the ``idle`` status of that request arrived."""
        reply = None
        end = time.monotonic() + 1.0
        while reply is None and (left := end - time.monotonic()) > 0:
            try:
                msg = await self.shell_channel.get_msg(timeout=left)
            except empty:
                return False
            if msg.get("msg_type") == "kernel_info_reply" and msg.get("parent_header", {}).get("msg_id") == msg_id:
                reply = msg
        if reply is None:
            return False
        end = time.monotonic() + 0.2
        while (left := end - time.monotonic()) > 0:
            try:
                msg = await self.iopub_channel.get_msg(timeout=left)
            except empty:
                return False  # IOPub not connected yet: ask again
            if (msg.get("msg_type") == "status" and msg.get("parent_header", {}).get("msg_id") == msg_id
                    and msg.get("content", {}).get("execution_state") == "idle"):
                self._handle_kernel_info_reply(reply)
                return True
        return False

    wait_for_ready = _async_wait_for_ready  # AsyncKernelClient's name for it
