"""The fork-server template: a Python process with ipykernel already imported that forks one
fresh kernel process per request. Run as a script (``python _forktemplate.py SOCKET IDLE``) by
:mod:`nbtrack.pipeline.forkserver`, never imported by nbtrack itself: it imports only the
standard library and what ``python -m ipykernel_launcher`` would import anyway, so a forked
kernel holds the same modules as a kernel launched the usual way (nbtrack is not among them).

Protocol (one request per connection on a Unix socket in a private 0700 folder):

* ``{"op": "launch", "args": [...], "env": {...}, "cwd": ..., "watch": PID, "umask": N}`` with the caller's
  stdout and stderr descriptors attached (SCM_RIGHTS) -> ``{"pid": N}`` with a pidfd of the
  kernel attached. The child starts a new session, takes ``env`` as its whole environment,
  ``cwd`` as its working directory (and ``sys.path[0]``, like ``-m``), reseeds ``random`` (and
  numpy's global generator when it is loaded), stops when process ``watch`` (its kernel
  manager) is gone, and runs ``IPKernelApp`` with ``args``.
* ``{"op": "status", "pid": N}`` -> ``{"returncode": code or null}`` (null: still running or
  not a child of this template).
* ``{"op": "ping"}`` -> ``{"pid": template pid, "threads": n}``.

The template stays single-threaded (forking a threaded process is unsafe): a request is refused
if a thread ever appears. It exits after ``IDLE`` seconds without requests and without kernels.
"""

import gc
import json
import os
import select
import signal
import socket
import sys
import threading
import time

# Script run: sys.path[0] is this file's folder (nbtrack/pipeline); a kernel must not see it.
if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

# What a kernel imports while it starts (measured: a fresh kernel's sys.modules).
PRELOAD = ("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel.debugger",
           "ipykernel.comm", "IPython.core.interactiveshell", "IPython.core.completer", "IPython.core.completerlib",
           "IPython.core.debugger", "IPython.core.logger", "IPython.core.oinspect", "IPython.extensions.storemagic",
           "IPython.utils.wildcard", "jupyter_client.session", "tornado.ioloop", "tornado.platform.asyncio",
           "zmq.eventloop.zmqstream", "sqlite3", "pdb", "faulthandler", "runpy",
           # imported by a kernel's shutdown handler (ipykernel's _get_psutil, to stop the kernel's
           # own child processes): ~12 ms of CPU on the control thread, on the shutdown's path
           "psutil")
MAX_STATUSES = 4096
CHILDREN: set[int] = set()  # kernels forked by this template and not yet reaped


def preload(extra: list[str]) -> None:
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:  # another IPython/ipykernel version: it imports this later, or never
            pass
    for name in extra:
        try:
            importlib.import_module(name)
        except Exception:  # an optional preload that is not installed
            pass
    warm_caches()


def warm_caches() -> None:
    """Compile here, once, what every kernel compiles for its first cell: the forks inherit it.

    IPython tokenizes each cell (``tokenize`` compiles its token regex, ~12 ms, at the first
    use in a process), then runs its input transformers. Only caches of compiled patterns are
    filled (``tokenize._compile``, ``re``'s cache): no state a kernel could observe.
    """
    import io
    import tokenize

    try:
        list(tokenize.generate_tokens(io.StringIO("x = 1\n").readline))
    except Exception:
        pass
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        TransformerManager().transform_cell("x = 1\n")
    except Exception:
        pass


# IPKernelApp's command line, parsed once per shape: argv with the connection file's path (the
# only part that changes from kernel to kernel) replaced by PLACEHOLDER -> (config, extra args).
PLACEHOLDER = "\x00nbtrack-connection-file\x00"
PARSED: dict[tuple[str, ...], tuple | None] = {}
MAX_PARSED = 64


def argv_shape(args: list[str]) -> tuple[tuple[str, ...], str] | None:
    """(argv with the connection file's path replaced by PLACEHOLDER, that path) for a kernel
    command line of the one form parsed ahead: ``-f ABSOLUTE_PATH`` once, and otherwise only
    ``--Class.trait=value`` options (no subcommand, help, version, ``--`` or positional
    argument, whose parse could differ); None for anything else."""
    if not isinstance(args, list) or args.count("-f") != 1 or PLACEHOLDER in args:
        return None
    i = args.index("-f")
    if i + 1 >= len(args) or not isinstance(args[i + 1], str) or not os.path.isabs(args[i + 1]):
        return None
    rest = args[:i] + args[i + 2:]
    if not all(isinstance(a, str) and a.startswith("--") and "=" in a and "." in a.split("=", 1)[0]
               for a in rest):
        return None
    return (*args[:i + 1], PLACEHOLDER, *args[i + 2:]), args[i + 1]


def parsed_argv(args: list[str]) -> tuple | None:
    """The parse of this argv's shape by IPKernelApp's own loader (aliases, flags, classes), done
    here in the template on a throwaway app (not the singleton; no thread, socket or file):
    (config with PLACEHOLDER, path of PLACEHOLDER in it, extra args), or None when this shape is
    parsed the normal way in the kernel."""
    shape = argv_shape(args)
    if shape is None:
        return None
    key = shape[0]
    if key not in PARSED:
        if len(PARSED) >= MAX_PARSED:
            return None
        PARSED[key] = None
        try:
            import logging

            from ipykernel.kernelapp import IPKernelApp
            from traitlets.config.application import Application
            from traitlets.config.loader import KVArgParseConfigLoader

            if IPKernelApp._create_loader is Application._create_loader:  # what it would build
                app = IPKernelApp()
                flags, aliases = app.flatten_flags()
                # the loader Application._create_loader builds, with a logger of our own (app.log
                # would configure the "IPKernelApp" logger here, in every kernel's ancestor)
                loader = KVArgParseConfigLoader(list(key), aliases, flags,
                                                classes=list(app._classes_with_config_traits()),
                                                log=logging.getLogger("nbtrack.forktemplate"),
                                                subcommands=app.subcommands)
                config = loader.load_config()
                where = [(section, name) for section, traits in config.items() if isinstance(traits, dict)
                         for name, value in traits.items() if value == PLACEHOLDER]
                if (len(where) == 1 and _occurrences(config) == 1
                        and not _occurrences(loader.extra_args)):
                    PARSED[key] = (config, where[0], list(loader.extra_args))
        except Exception:  # another ipykernel/traitlets: the kernel parses its argv itself
            pass
    return PARSED[key]


def _occurrences(obj: object) -> int:
    """How many strings inside ``obj`` (nested dicts, lists, tuples) contain PLACEHOLDER."""
    if isinstance(obj, str):
        return int(PLACEHOLDER in obj)
    if isinstance(obj, dict):
        return sum(_occurrences(k) + _occurrences(v) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return sum(_occurrences(v) for v in obj)
    return 0


def _parse_ahead() -> None:
    """This kernel's ``IPKernelApp.parse_command_line`` (its first call, on ``sys.argv``) takes
    the parse done in the template: what traitlets' method does for such an argv (``argv``,
    ``cli_config``, ``update_config``, ``extra_args``), without building an argparse parser
    (~8 ms of CPU per kernel). Any other call, or argv, is parsed as usual."""
    try:
        from copy import deepcopy

        from ipykernel.kernelapp import IPKernelApp
    except ImportError:
        return
    original = IPKernelApp.__dict__.get("parse_command_line")

    def parse_command_line(self, argv=None):
        if original is None:
            del IPKernelApp.parse_command_line
        else:
            IPKernelApp.parse_command_line = original
        args = sys.argv[1:] if argv is None else list(argv)
        shape = argv_shape(args) if not os.environ.get("_ARGCOMPLETE") else None
        done = PARSED.get(shape[0]) if shape is not None else None
        _mark(f"kernel.argv ahead={done is not None}")
        if done is None:
            return self.parse_command_line(argv)
        config, (section, name), extra = done
        config = deepcopy(config)
        config[section][name] = shape[1]
        self.argv = args
        self.cli_config = config
        self.update_config(config)
        self.extra_args = list(extra)

    IPKernelApp.parse_command_line = parse_command_line  # type: ignore[method-assign]  # this kernel's copy of the class


class Launch:
    """What a forked child runs once it has left the server loop."""

    def __init__(self, req: dict, fds: list[int]) -> None:
        self.req = req
        self.fds = fds


def serve(path: str, idle: float) -> Launch | None:
    """Accept requests until idle; in a forked child, return what it must run."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = f"{path}.{os.getpid()}.tmp"
    sock.bind(tmp)
    sock.listen(16)
    os.rename(tmp, path)  # atomically visible, only once we listen
    ino = os.stat(path).st_ino
    statuses: dict[int, int] = {}
    children = CHILDREN
    last = time.monotonic()

    def reap() -> None:
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                children.clear()
                return
            if pid == 0:
                return
            children.discard(pid)
            statuses[pid] = os.waitstatus_to_exitcode(status)
            while len(statuses) > MAX_STATUSES:
                statuses.pop(next(iter(statuses)))

    try:
        while True:
            ready, _, _ = select.select([sock], [], [], 1.0)
            reap()
            if not ready:
                if time.monotonic() - last > idle and not children:
                    return None
                if not _still_ours(path, ino):
                    return None  # replaced by a newer template (or removed): leave quietly
                continue
            conn, _ = sock.accept()
            last = time.monotonic()
            fds: list[int] = []
            try:
                conn.settimeout(10)
                msg, fds, _, _ = socket.recv_fds(conn, 1 << 20, 4)
                buf = msg
                while buf and not buf.endswith(b"\n"):
                    more = conn.recv(1 << 20)
                    if not more:
                        break
                    buf += more
                req = json.loads(buf)
                op = req.get("op")
                if op == "ping":
                    _reply(conn, {"pid": os.getpid(), "threads": threading.active_count()})
                elif op == "status":
                    reap()
                    _reply(conn, {"returncode": statuses.get(int(req["pid"]))})
                elif op == "launch":
                    if threading.active_count() != 1:
                        _reply(conn, {"error": "the template has threads: it cannot fork safely"})
                        continue
                    parsed_argv(req.get("args", []))  # parsed here once per shape: every fork inherits it
                    child = _fork(sock, conn, req, fds)
                    if child is not None:
                        return child  # in the child
            except Exception as e:  # a bad request never stops the template
                try:
                    _reply(conn, {"error": f"{type(e).__name__}: {e}"})
                except OSError:
                    pass
            finally:
                for fd in fds:
                    _close(fd)
                conn.close()
    finally:
        if os.getpid() == _server_pid:
            try:
                if _still_ours(path, ino):
                    os.unlink(path)
            except OSError:
                pass
            sock.close()


def _still_ours(path: str, ino: int) -> bool:
    try:
        return os.stat(path).st_ino == ino
    except OSError:
        return False


def _fork(sock: socket.socket, conn: socket.socket, req: dict, fds: list[int]) -> Launch | None:
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    try:
        pid = os.fork()
        if pid == 0:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
            sock.close()
            conn.close()
            return Launch(req, [os.dup(fd) for fd in fds])  # serve() closes the originals
        pidfd = os.pidfd_open(pid)
    finally:
        if os.getpid() == _server_pid:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
    CHILDREN.add(pid)
    try:
        socket.send_fds(conn, [json.dumps({"pid": pid}).encode() + b"\n"], [pidfd])
    finally:
        os.close(pidfd)
    return None


def _reply(conn: socket.socket, obj: dict) -> None:
    conn.sendall(json.dumps(obj).encode() + b"\n")


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def run_kernel(launch: Launch) -> None:
    """In the forked child: become a fresh kernel process for this run."""
    req = launch.req
    gc.enable()
    os.setsid()
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL if sig != signal.SIGINT else signal.default_int_handler)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    out = launch.fds + [-1, -1]
    for target, fd in ((1, out[0]), (2, out[1])):
        if fd >= 0:
            os.dup2(fd, target)
    for fd in launch.fds:
        _close(fd)
    env = {k: str(v) for k, v in req.get("env", {}).items()}
    env["JPY_PARENT_PID"] = "1"  # see main()
    os.environ.clear()
    os.environ.update(env)
    _mark("kernel.forked")
    if req.get("umask") is not None:
        os.umask(int(req["umask"]))  # the launching process's, not the template's
    cwd = req.get("cwd") or os.getcwd()
    os.chdir(cwd)
    sys.path[0:0] = [os.getcwd()]  # what ``python -m`` puts first
    _reseed()
    watch = req.get("watch")
    if watch:
        _watch(int(watch))
    import importlib.util

    spec = importlib.util.find_spec("ipykernel_launcher")
    sys.argv = [spec.origin if spec and spec.origin else "ipykernel_launcher", *req.get("args", [])]
    import runpy

    _parse_ahead()
    if os.environ.get("NBTRACK_TIMELINE"):
        _mark_phases()
    try:
        runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as e:
        code = _exit_code(e.code)
    _mark("kernel.stopped")
    settle_control()
    _mark("kernel.settled")
    exit_now(code)


def _mark_phases() -> None:
    """Timeline marks around ``IPKernelApp.initialize`` (this child's copy of the class only)."""
    try:
        from ipykernel.kernelapp import IPKernelApp
    except ImportError:
        return
    initialize = IPKernelApp.initialize

    def marked(self, argv=None):
        _mark("kernel.initialize")
        try:
            return initialize(self, argv)
        finally:
            _mark("kernel.initialized")

    IPKernelApp.initialize = marked  # type: ignore[method-assign]  # this kernel's copy of the class


def _mark(event: str) -> None:
    """A line in ``NBTRACK_TIMELINE`` when set (the format of :mod:`nbtrack.pipeline.timeline`)."""
    path = os.environ.get("NBTRACK_TIMELINE")
    if not path:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            cpu = time.process_time() * 1000  # this kernel's CPU so far (a forked child starts at 0)
            os.write(fd, f"{time.time():.6f} {os.getpid()} kernel {event} cpu={cpu:.1f}\n".encode())
        finally:
            os.close(fd)
    except OSError:
        pass


def settle_control(timeout: float = 2.0) -> None:
    """Let ipykernel's control thread finish the message it is handling before the exit.

    A ``shutdown_request`` is handled on the control thread: it stops the main loop (so
    ``IPKernelApp.start`` returns here), then flushes ``sys.stdout`` and ``sys.stderr``
    through the IOPub thread. ``IPKernelApp.close`` (an ``atexit`` handler) stops the IOPub
    thread and then joins the control thread: when it gets there first, the control
    thread's flush waits for a thread that is gone (ipykernel's 10 s flush timeout) and the
    kernel only ends when its manager sends SIGTERM, 2.5 s later (jupyter_client's
    ``shutdown_wait_time`` / 2). This race stalled one sweep run in three by ~2.5 s. Wait
    (bounded) until the control thread has ended (a shutdown request stops its loop) or is
    idle between messages.
    """
    app_mod = sys.modules.get("ipykernel.kernelapp")
    try:
        app = app_mod.IPKernelApp.instance() if app_mod and app_mod.IPKernelApp.initialized() else None
        thread = getattr(app, "control_thread", None)
        if thread is None or not thread.is_alive() or thread is threading.current_thread():
            return
        idle = threading.Event()
        thread.io_loop.add_callback(idle.set)  # runs once the current message is handled
    except Exception:  # another ipykernel layout: nothing to wait for
        return
    deadline = time.monotonic() + timeout
    while thread.is_alive() and not idle.is_set() and time.monotonic() < deadline:
        thread.join(0.005)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    try:
        sys.stderr.write(f"{code}\n")
    except Exception:
        pass
    return 1


def exit_now(code: int) -> None:
    """End the kernel as the interpreter would, less its module teardown.

    What anyone can observe of an interpreter's exit happens here, in its order: waiting for
    non-daemon threads, the ``atexit`` handlers (IPython clears the user's namespace there, so
    the notebook's objects are finalised; nbtrack flushes its pending writes), collecting the
    garbage, flushing files still open and the standard streams. Then ``os._exit``: tearing
    every module down would touch (and so copy, page by page) every object inherited from the
    template, ~0.1 s of CPU per kernel for nothing.
    """
    import atexit
    import io

    try:
        threading._shutdown()  # type: ignore[attr-defined]  # what Py_Finalize calls first
    except Exception:
        pass
    try:
        atexit._run_exitfuncs()
    except Exception:
        pass
    _mark("kernel.atexit.done")
    try:
        gc.collect()  # the template's objects are frozen: only this kernel's are scanned
        for obj in gc.get_objects():
            if isinstance(obj, io.IOBase) and not obj.closed:
                try:
                    obj.flush()
                except Exception:
                    pass
    except Exception:
        pass
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            pass
    _mark("kernel.exit")
    os._exit(code)


def _reseed() -> None:
    """Every forked kernel gets its own random streams (the template's state is shared)."""
    import random

    random.seed()
    np = sys.modules.get("numpy")
    if np is not None:
        try:
            np.random.seed()
        except Exception:
            pass


def _watch(pid: int) -> None:
    """Exit when the kernel manager's process is gone (what ipykernel's parent poller does for a
    kernel that is the manager's own child)."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        os._exit(1)  # already gone

    def wait() -> None:
        select.select([fd], [], [])
        os._exit(1)

    threading.Thread(target=wait, name="nbtrack-manager-watch", daemon=True).start()


_server_pid = os.getpid()


def main() -> None:
    path, idle = sys.argv[1], float(sys.argv[2])
    extra = [m for m in (sys.argv[3] if len(sys.argv) > 3 else "").split(",") if m]
    os.chdir("/")
    # ipykernel reads this when imported: 1 = no parent poller (a forked kernel's parent is
    # this template, whose end must not end the kernels; each child watches its manager
    # instead) and no "Ctrl-C will not work" note for a kernel run by hand.
    os.environ["JPY_PARENT_PID"] = "1"
    gc.disable()
    preload(extra)
    # What the template imported stays out of every collection in the kernels: a collection
    # would write to each object's header and copy every shared page (their exit got ~0.4 s slower)
    gc.freeze()
    launch = serve(path, idle)
    if launch is not None:
        run_kernel(launch)


if __name__ == "__main__":
    main()
