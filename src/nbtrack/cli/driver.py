"""A pre-imported driver for pipeline commands: ``nbtrack run|sweep|reproduce`` without import cost.

Importing what a pipeline command needs (click, papermill, nbclient, jupyter_client,
nbformat, SQLAlchemy, nbtrack's own modules) costs ~0.6 s of CPU in every ``nbtrack run``,
more than running a trivial notebook on a forked kernel. So the first such command starts a
*driver server* (:mod:`.driver_server`, detached, one per interpreter + code + import
environment) and runs in process as usual; the next ones connect to it. This module is the
client: stdlib only, run at the top of :mod:`nbtrack.cli` before click is imported.

The client sends its argv, cwd, umask and whole environment, and its stdin/stdout/stderr
file descriptors (``SCM_RIGHTS``) over the server's Unix socket. The server forks a child
from its pristine, pre-imported state (nothing a previous command did is visible); the child
takes the client's fds as its own 0/1/2, its cwd, umask and environment, becomes a session
leader and runs the command; the server sends the child's exit status back. The client
forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT to the child's process group (as a terminal would to a
foreground job) and exits with the child's code (or dies of the child's signal). If the
client dies, the server stops the child (SIGHUP, then SIGKILL).

Anything unusual runs in process: another OS, a closed std stream, no server yet for this
key, a server that does not answer. ``NBTRACK_DRIVER=0`` turns the driver off;
``NBTRACK_DRIVER_IDLE`` (seconds, default 600) is how long an unused server stays.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import sys

COMMANDS = ("run", "sweep", "reproduce")
ENV_SWITCH = "NBTRACK_DRIVER"
ENV_IDLE = "NBTRACK_DRIVER_IDLE"
ENV_DIR = "NBTRACK_DRIVER_DIR"  # tests: a private folder (and so a private server)
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../nbtrack


def wanted(argv: list[str] | None = None, env: dict[str, str] | None = None) -> bool:
    """Is this process the ``nbtrack`` command running a pipeline command, with the driver on?"""
    argv = sys.argv if argv is None else argv
    env = dict(os.environ) if env is None else env
    return (env.get(ENV_SWITCH, "1") != "0" and sys.platform.startswith("linux")
            and hasattr(socket, "send_fds") and hasattr(os, "pidfd_open")
            and len(argv) > 1 and os.path.basename(argv[0]) == "nbtrack" and argv[1] in COMMANDS)


def folder() -> str | None:
    """This user's private folder for driver sockets (mode 0700, owned), or None."""
    uid = os.getuid()
    path = os.environ.get(ENV_DIR)
    if not path:
        base = os.environ.get("XDG_RUNTIME_DIR")
        if not base or not os.path.isdir(base):
            base = os.environ.get("TMPDIR") or "/tmp"
        path = os.path.join(base, f"nbtrack-driver-{uid}")
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if st.st_uid != uid or st.st_mode & 0o077 or os.path.islink(path) or not os.path.isdir(path):
        return None  # someone else's, or open to others: never connect or listen there
    if len(os.path.join(path, "k" * 25 + ".sock.4194304.tmp")) > 100:  # AF_UNIX paths: ~104 bytes
        return None
    return path


def _code_signature() -> list:
    """Changes whenever nbtrack's code or an installed package changes: the mtimes of every
    nbtrack module and of every folder on ``sys.path`` (installing or removing a package
    changes its site-packages folder)."""
    sig: list = []
    for root, dirs, files in os.walk(PACKAGE):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for f in files:
            if f.endswith(".py"):
                with contextlib.suppress(OSError):
                    sig.append(os.stat(os.path.join(root, f)).st_mtime_ns)
    for p in sys.path:
        with contextlib.suppress(OSError):
            sig.append(os.stat(p or ".").st_mtime_ns)
    return sig


def key(env: dict[str, str] | None = None) -> str:
    """Which server may run this command: ``FAMILY-CODE``. The family is the interpreter,
    ``sys.path`` and the variables that shape imports and the standard streams (``PYTHON*``,
    the locale's); the code part changes with any module (see :func:`_code_signature`)."""
    env = dict(os.environ if env is None else env)
    family = [sys.executable, sys.path,
              sorted((k, v) for k, v in env.items() if k.startswith(("PYTHON", "LC_")) or k == "LANG")]
    return (hashlib.sha256(json.dumps(family).encode()).hexdigest()[:12] + "-"
            + hashlib.sha256(json.dumps(_code_signature()).encode()).hexdigest()[:12])


def _std_fds() -> list[int] | None:
    try:
        for fd in (0, 1, 2):
            os.fstat(fd)
    except OSError:
        return None
    return [0, 1, 2]


def _read_msg(sock: socket.socket, buf: bytearray) -> dict | None:
    while b"\n" not in buf:
        try:
            more = sock.recv(4096)
        except InterruptedError:
            continue
        if not more:
            return None
        buf += more
    line, _, rest = bytes(buf).partition(b"\n")
    buf[:] = rest
    return json.loads(line)


def start_server(path: str, env: dict[str, str]) -> None:
    """Start the server for ``path`` in the background (it exits at once if one is starting)."""
    import glob
    import subprocess

    family = os.path.basename(path).split("-")[0]
    for old in glob.glob(os.path.join(os.path.dirname(path), f"{family}-*.sock")):
        if old != path:  # a server of older code in the same environment: it exits once idle
            with contextlib.suppress(OSError):
                os.unlink(old)

    boot = ("import sys, json; sys.path[:] = json.loads(sys.argv[1]); "
            "from nbtrack.cli.driver_server import main; main(sys.argv[2], float(sys.argv[3]))")
    with open(path[:-len(".sock")] + ".log", "ab") as log:
        subprocess.Popen([sys.executable, "-c", boot, json.dumps(sys.path), path, env.get(ENV_IDLE, "600")],
                         env=env, cwd="/", stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         start_new_session=True, close_fds=True)


def forward() -> int | None:
    """Run this command on the driver server: its exit code, or None to run it in process."""
    fds = _std_fds()
    where = folder()
    if fds is None or where is None:
        return None
    env = dict(os.environ)
    path = os.path.join(where, key(env) + ".sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        with contextlib.suppress(Exception):
            start_server(path, env)
        return None
    with sock:
        umask = os.umask(0o022)
        os.umask(umask)
        ignored = [int(s) for s in FORWARDED if signal.getsignal(s) == signal.SIG_IGN]  # e.g. `cmd &` in a script
        req = {"argv": sys.argv, "cwd": os.getcwd(), "env": env, "umask": umask, "ignored": ignored}
        child: list[int] = []
        pending: list[int] = []

        def relay(signum, frame):  # a terminal sends these to the whole foreground job
            if not child:
                pending.append(signum)
                return
            with contextlib.suppress(OSError):
                os.killpg(child[0], signum)
        previous = {s: signal.signal(s, relay) for s in FORWARDED if s not in ignored}
        buf = bytearray()
        try:
            socket.send_fds(sock, [json.dumps(req).encode() + b"\n"], fds)
            started = _read_msg(sock, buf)
        except (OSError, ValueError):
            started = None
        if not started or "pid" not in started:  # nothing ran: in process, signals as they were
            for s, h in previous.items():
                signal.signal(s, h)
            for signum in pending:
                signal.raise_signal(signum)
            return None
        return _wait(sock, buf, started["pid"], child, pending)


def _wait(sock: socket.socket, buf: bytearray, pid: int, child: list[int], pending: list[int]) -> int:
    """The command runs as process group ``pid``: relay signals, return its exit code."""
    try:
        child.append(pid)
        for s in pending:
            with contextlib.suppress(OSError):
                os.killpg(pid, s)
        try:
            done = _read_msg(sock, buf)
        except (OSError, ValueError):
            done = None
        if done is None:
            sys.stderr.write("nbtrack: lost the driver server while the command ran\n")
            return 1
        if done.get("signal"):  # die of the same signal, as the command itself did
            sig = int(done["signal"])
            with contextlib.suppress(Exception):
                signal.signal(sig, signal.SIG_DFL)
                os.kill(os.getpid(), sig)
            return 128 + sig
        return int(done.get("code", 1))
    except BaseException:  # never run the command a second time in process
        return 1


def maybe_forward() -> None:
    """At the top of :mod:`nbtrack.cli`: serve this command from the driver and exit, or return."""
    if not wanted():
        return
    try:
        code = forward()
    except Exception:
        return
    if code is not None:
        sys.stdout.flush()
        os._exit(code)
