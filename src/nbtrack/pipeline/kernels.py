"""Warm kernels for sweeps: the next run's kernel boots while the current run executes.

A trivial pipeline run spends most of its time waiting for a fresh kernel to boot
(~0.7 s: importing ipykernel, IPython, zmq) and then to shut down (~0.3 s). In a
sweep, one worker runs many parameter sets one after the other, so each worker
launches the kernel of its *next* run as soon as the current run starts, in a
fresh working directory of its own, with the next run's id already in its
environment. Every run still gets a brand-new kernel process and a clean folder:
nothing is shared between runs but the time.

One :class:`WarmKernels` per worker (process or thread) holds at most one waiting
kernel; :meth:`WarmKernels.close` shuts it down when the worker is done.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from .timeline import mark

# nbclient starts IPython kernels with an in-memory history (its ``ipython_hist_file``
# default); a kernel launched here must behave the same.
IPYTHON_ARGS = ["--HistoryManager.hist_file=:memory:"]


def kernel_manager_class(env: dict[str, str], sockets: str | None = None, fork: bool = True):
    """An nbclient kernel manager that starts the kernel with ``env`` added.

    A class per call (not ``os.environ``) so concurrent executions in one process
    (threads of a Dask worker) never see each other's variables. With ``sockets``
    (a private folder), the kernel talks over Unix sockets there instead of TCP
    ports on localhost: nothing listens on the network, and the kernel has no
    "running over TCP without encryption" warning to print. With ``fork``, an ipykernel
    kernel is forked from a pre-imported template (:mod:`.forkserver`), else launched normally.
    """
    from jupyter_client.manager import AsyncKernelManager

    extra = dict(env)

    class NbtrackKernelManager(AsyncKernelManager):
        def __init__(self, **kw: Any) -> None:
            if sockets:
                kw.setdefault("transport", "ipc")
                kw.setdefault("ip", os.path.join(sockets, "kernel"))
            if fork:
                from .forkserver import WelcomeKernelClient

                kw.setdefault("client_factory", WelcomeKernelClient)
            super().__init__(**kw)

        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]  # jupyter_client types it via the sync base
            kw["env"] = {**os.environ, **(kw.get("env") or {}), **extra}
            mark("km.start_kernel")
            try:
                return await super().start_kernel(**kw)
            finally:
                mark("km.start_kernel.end", provisioner=type(self.provisioner).__name__,
                     forked=type(getattr(self.provisioner, "process", None)).__name__)

        async def _async_shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
            mark("km.shutdown_kernel", now=now)
            try:
                return await super()._async_shutdown_kernel(now=now, restart=restart)
            finally:
                mark("km.shutdown_kernel.end")

        shutdown_kernel = _async_shutdown_kernel

        async def _async_wait(self, pollinterval: float = 0.1) -> None:
            # jupyter_client checks every 0.1 s whether a shut-down kernel is gone; a forked
            # kernel exits within a few ms of its shutdown reply
            await super()._async_wait(pollinterval=min(pollinterval, 0.01))

        async def _async_pre_start_kernel(self, **kw: Any):
            if self.provisioner is None and fork:
                use_fork_server(self, kw)
            return await super()._async_pre_start_kernel(**kw)

    return NbtrackKernelManager


def use_fork_server(km: Any, kw: dict) -> None:
    """Give ``km`` the fork-server provisioner (before jupyter_client picks one from the
    kernelspec); kernelspecs that name a provisioner of their own keep it."""
    import uuid as _uuid

    from .forkserver import ForkServerProvisioner, enabled

    if not enabled() or km.kernel_spec.metadata.get("kernel_provisioner"):
        return
    km.kernel_id = km.kernel_id or kw.pop("kernel_id", str(_uuid.uuid4()))
    km.provisioner = ForkServerProvisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km,
                                           wait_for_template=False)


def socket_folder() -> str | None:
    """A private folder for the kernel's Unix sockets, or None (TCP) where they can't be used."""
    if os.name != "posix":
        return None
    folder = tempfile.mkdtemp(prefix="nbtrack-k-")  # mode 0700: only this user can connect
    if len(os.path.join(folder, "kernel-00000")) > 100:  # AF_UNIX paths are limited to ~104 bytes
        os.rmdir(folder)
        return None
    return folder


@dataclass
class Kernel:
    """A launched kernel and the run it was launched for."""

    km: Any  # the kernel manager (an AsyncKernelManager subclass)
    run_id: str
    cwd: str  # the run's clean working directory (the kernel's cwd)
    sockets: str | None  # private folder of its Unix sockets
    key: tuple  # what it was launched with: (kernel name, environment without the run id)


def env_key(kernel_name: str, env: dict[str, str]) -> tuple:
    return kernel_name, tuple(sorted((k, v) for k, v in env.items() if k != "NBTRACK_PARENT_RUN"))


def launch(kernel_name: str, env: dict[str, str], run_id: str | None = None) -> Kernel:
    """Start a kernel for a (future) run: a new run id (unless given), clean folder and private sockets."""
    from jupyter_core.utils import run_sync

    mark("kernel.launch")
    run_id = run_id or uuid.uuid4().hex[:16]
    cwd = tempfile.mkdtemp(prefix="nbtrack-run-")
    sockets = socket_folder()
    full = {**env, "NBTRACK_PARENT_RUN": run_id}
    km = kernel_manager_class(full, sockets)(kernel_name=kernel_name)
    try:
        args = IPYTHON_ARGS if getattr(km, "ipykernel", False) else []
        run_sync(km.start_kernel)(extra_arguments=list(args), cwd=cwd)
    except BaseException:
        remove_folders(cwd, sockets)
        raise
    mark("kernel.launched")
    return Kernel(km, run_id, cwd, sockets, env_key(kernel_name, env))


def shutdown(kernel: Kernel, interrupt: bool = True) -> None:
    """Shut the kernel down gracefully (the notebook's ``atexit`` handlers run), then kill if needed.

    ``interrupt=False`` for a kernel known to be idle: jupyter_client interrupts a kernel before
    asking it to shut down (for one still busy, e.g. after a timeout); an idle ipykernel then
    prints "KeyboardInterrupt caught in kernel" on the user's terminal.
    """
    from jupyter_core.utils import run_sync

    km = kernel.km
    try:
        if run_sync(km.is_alive)():
            if interrupt:
                run_sync(km.shutdown_kernel)(now=False)
            else:
                run_sync(_shutdown_idle)(km)
    except RuntimeError as e:  # "No kernel is running!"
        if "No kernel is running" not in str(e):
            raise
    finally:
        try:
            run_sync(km.cleanup_resources)()
        finally:
            remove_folders(None, kernel.sockets)


async def _shutdown_idle(km: Any) -> None:
    """jupyter_client's graceful shutdown without its interrupt: a shutdown request, then a
    wait for the kernel to exit (killed after ``shutdown_wait_time``)."""
    km.shutting_down = True
    km.stop_restarter()
    proc = getattr(km.provisioner, "process", None)
    await km.request_shutdown()
    mark("km.shutdown.requested")
    await km.finish_shutdown()
    mark("km.shutdown.finished", status=km._shutdown_status, code=getattr(proc, "returncode", None))


def remove_folders(cwd: str | None, sockets: str | None) -> None:
    for folder in (cwd, sockets):
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


class WarmKernels:
    """At most one kernel waiting for this worker's next run."""

    def __init__(self) -> None:
        self._waiting: Kernel | None = None
        self._lock = threading.Lock()
        self._launching: threading.Thread | None = None

    def start(self, kernel_name: str, env: dict[str, str]) -> None:
        """:meth:`prepare` in a thread: a worker's first kernel, launched while the sweep is still
        being recorded (:meth:`take` and :meth:`close` wait for it)."""
        thread = threading.Thread(target=self.prepare, args=(kernel_name, env), name="nbtrack-first-kernel",
                                  daemon=True)
        self._launching = thread
        thread.start()

    def _wait_launch(self) -> None:
        thread, self._launching = self._launching, None
        if thread is not None:
            thread.join()

    def take(self, kernel_name: str, env: dict[str, str]) -> Kernel | None:
        """The waiting kernel if it was launched for this notebook and environment (else shut down)."""
        self._wait_launch()
        with self._lock:
            kernel, self._waiting = self._waiting, None
        if kernel is None:
            return None
        if kernel.key == env_key(kernel_name, env) and _alive(kernel):
            return kernel
        discard(kernel)
        return None

    def prepare(self, kernel_name: str, env: dict[str, str]) -> None:
        """Launch the kernel of the next run now; a failure only means the next run starts cold."""
        try:
            kernel = launch(kernel_name, env)
        except Exception:
            return
        with self._lock:
            old, self._waiting = self._waiting, kernel
        if old is not None:
            discard(old)

    def close(self) -> None:
        self._wait_launch()
        with self._lock:
            kernel, self._waiting = self._waiting, None
        if kernel is not None:
            discard(kernel)


def discard(kernel: Kernel) -> None:
    """Stop a kernel that never ran a notebook (no user code, no ``atexit`` to honour) and
    remove its folders. Killed outright: the interrupt that precedes a graceful shutdown
    would make a kernel still booting print a fatal-error traceback."""
    from jupyter_core.utils import run_sync

    km = kernel.km
    try:
        if km.has_kernel:
            run_sync(km.provisioner.kill)()
            run_sync(km.provisioner.wait)()
        run_sync(km.cleanup_resources)()
    except Exception:
        pass
    finally:
        remove_folders(kernel.cwd, kernel.sockets)


def _alive(kernel: Kernel) -> bool:
    from jupyter_core.utils import run_sync

    try:
        return bool(run_sync(kernel.km.is_alive)())
    except Exception:
        return False


def kernel_name_of(notebook_bytes: bytes) -> str:
    """The kernel papermill would choose for this notebook (its kernelspec name)."""
    import json

    meta = json.loads(notebook_bytes).get("metadata", {})
    name = (meta.get("kernelspec") or {}).get("name")
    if not name:
        raise ValueError("the notebook names no kernel (metadata.kernelspec.name)")
    return name
