"""The pre-imported driver (nbtrack.cli.driver): `nbtrack run|sweep|reproduce` served by a forked child.

Each test gets a private driver folder (so a private server), runs the real ``nbtrack``
console script, and checks that the command was served by the driver (its log) and behaved
exactly as in process: output, exit codes, workspace, environment, Ctrl-C.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import nbtrack
from nbtrack.cli import driver

BIN = Path(sys.executable).parent / "nbtrack"
NOTEBOOKS = Path(__file__).parent.parent / "notebooks"

pytestmark = pytest.mark.skipif(not driver.wanted(["nbtrack", "run"], {}) or not BIN.exists(),
                                reason="the driver needs Linux (pidfd, SCM_RIGHTS) and the nbtrack script")


class Driver:
    def __init__(self, folder: str, env: dict[str, str]) -> None:
        self.folder, self.env = folder, env

    def run(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN), *args], cwd=cwd, env=env or self.env, capture_output=True, text=True,
                              timeout=timeout)

    def log(self) -> str:
        return "".join(Path(p).read_text() for p in glob.glob(os.path.join(self.folder, "*.log")))

    def served(self) -> int:
        return self.log().count("served ")

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.time() + timeout
        while not glob.glob(os.path.join(self.folder, "*.sock")):
            if time.time() > deadline:
                pytest.fail(f"no driver server started:\n{self.log()}")
            time.sleep(0.1)

    def server_pids(self) -> list[int]:
        return [int(line.split()[2]) for line in self.log().splitlines() if line.startswith("driver server ")]


@pytest.fixture
def drv(workspace):
    folder = tempfile.mkdtemp(prefix="nbd-", dir="/tmp")  # mode 0700, and short: AF_UNIX paths
    env = {**os.environ, driver.ENV_DIR: folder, driver.ENV_IDLE: "120"}
    env.pop(driver.ENV_SWITCH, None)
    d = Driver(folder, env)
    yield d
    for sock in glob.glob(os.path.join(folder, "*.sock")):
        os.unlink(sock)  # a server whose socket is gone exits
    for pid in d.server_pids():
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(folder, ignore_errors=True)


def approve(tmp_path: Path, fixture: str, name: str) -> None:
    shutil.copy(NOTEBOOKS / fixture, tmp_path / fixture)
    nbtrack.approve(str(tmp_path / fixture), name=name, reason="test")


def started(drv: Driver, *args: str) -> None:
    """The first command runs in process and starts the server."""
    first = drv.run(*args)
    assert first.returncode == 0, first.stderr
    assert drv.served() == 0
    drv.wait_ready()


def test_served_commands_keep_output_and_exit_codes(drv, workspace, tmp_path):
    approve(tmp_path, "train.ipynb", "churn-train")
    started(drv, "run", "churn-train")
    ok = drv.run("run", "churn-train", "-p", "C", "2", "--gate", "metrics.auc>=0.7")
    assert ok.returncode == 0, ok.stderr
    assert "finished" in ok.stdout and "PASS metrics.auc>=0.7" in ok.stdout
    bad = drv.run("run", "churn-train", "--gate", "metrics.auc>=0.99")
    assert bad.returncode == 1
    assert "FAIL metrics.auc>=0.99: auc = 0.75, needs >= 0.99" in bad.stdout
    assert "failed its gates" in bad.stderr
    unknown = drv.run("run", "churn-train", "-p", "nope", "1")
    assert unknown.returncode == 2 and "unknown parameter 'nope'" in unknown.stderr
    usage = drv.run("run", "churn-train", "--promote-to", "production")
    assert usage.returncode == 2 and "--promote-to needs --register" in usage.stderr
    failing = drv.run("run", "churn-train", "-p", "C", "0")
    assert failing.returncode == 1 and "C must be positive" in failing.stderr
    sweep = drv.run("sweep", "churn-train", "-p", "C", "1,2", "--parallel", "2", "--select", "metrics.auc")
    assert sweep.returncode == 0, sweep.stderr
    assert "best: run" in sweep.stdout and "{'C': 2.0}" in sweep.stdout
    assert drv.served() == 6, drv.log()
    assert len({line.split()[3] for line in drv.log().splitlines() if line.startswith("served ")}) == 6
    runs = nbtrack.runs(kind="pipeline")  # first, ok, gate failed (a finished run), C=0 failed, 2 in the sweep
    assert sorted(runs.status) == ["failed"] + ["finished"] * 5


def test_each_command_starts_from_fresh_state(drv, workspace, tmp_path):
    """Workspace, environment and cwd are the client's, never a previous command's."""
    approve(tmp_path, "train.ipynb", "churn-train")
    started(drv, "run", "churn-train")
    other = tmp_path / "other"
    other.mkdir()
    assert drv.run("init", str(other)).returncode == 0
    shutil.copy(NOTEBOOKS / "train.ipynb", other / "train.ipynb")
    env = {k: v for k, v in drv.env.items() if k != "NBTRACK_URI"}
    approved = drv.run("approve", "train.ipynb", "--name", "other-train", "--reason", "test", cwd=other, env=env)
    assert approved.returncode == 0, approved.stderr
    here = drv.run("run", "churn-train", env={**drv.env, "NBTRACK_EXPERIMENT": "leaky"})
    assert here.returncode == 0, here.stderr
    there = drv.run("run", "other-train", cwd=other, env=env)  # found from the cwd, not the last command's
    assert there.returncode == 0, there.stderr
    missing = drv.run("run", "churn-train", cwd=other, env=env)
    assert missing.returncode == 2, missing.stdout + missing.stderr
    assert drv.served() == 3
    mine = nbtrack.runs(kind="pipeline")
    assert list(mine.name) == ["churn-train", "churn-train"]
    assert sorted(mine.experiment) == ["default", "leaky"]
    listing = drv.run("runs", "--format", "json", cwd=other, env=env)
    theirs = [r for r in json.loads(listing.stdout) if r["kind"] == "pipeline"]
    assert [(r["name"], r["experiment"]) for r in theirs] == [("other-train", "default")]


def test_ctrl_c_reaches_the_command(drv, workspace, tmp_path):
    approve(tmp_path, "slow.ipynb", "slow")
    approve(tmp_path, "train.ipynb", "churn-train")
    started(drv, "run", "churn-train")
    pidfile = tmp_path / "kernel.pid"
    proc = subprocess.Popen([str(BIN), "run", "slow", "-p", "pidfile", str(pidfile)], env=drv.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    while not (pidfile.exists() and pidfile.read_text()) and time.time() < deadline:
        time.sleep(0.1)
    kernel_pid = int(pidfile.read_text())
    time.sleep(0.5)  # inside time.sleep(seconds)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "interrupted: the kernel was stopped" in out
    assert drv.served() == 1
    run = nbtrack.get_run(nbtrack.runs(kind="pipeline", name="slow").id[0])
    assert run.status == "interrupted"
    for _ in range(50):
        try:
            os.kill(kernel_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"kernel {kernel_pid} still alive after Ctrl-C")


def test_a_killed_client_stops_its_command(drv, workspace, tmp_path):
    approve(tmp_path, "slow.ipynb", "slow")
    approve(tmp_path, "train.ipynb", "churn-train")
    started(drv, "run", "churn-train")
    pidfile = tmp_path / "kernel.pid"
    proc = subprocess.Popen([str(BIN), "run", "slow", "-p", "pidfile", str(pidfile)], env=drv.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not (pidfile.exists() and pidfile.read_text()) and time.time() < deadline:
        time.sleep(0.1)
    kernel_pid = int(pidfile.read_text())
    proc.kill()
    proc.wait()
    for _ in range(150):
        try:
            os.kill(kernel_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"kernel {kernel_pid} still alive after its client was killed")
    done = drv.log().split("served 1:")[1].split("done ")[1]
    # SIGHUP (1) ended the command, or, on a loaded machine, the 5 s grace ran out and SIGKILL (9) did
    status, seconds = int(done.split("status ")[1].split()[0]), float(done.split(" in ")[1].split()[0])
    assert status == 1 or (status == 9 and seconds >= 5), done


def test_switched_off_and_other_commands_run_in_process(drv, workspace, tmp_path):
    approve(tmp_path, "train.ipynb", "churn-train")
    started(drv, "run", "churn-train")
    off = drv.run("run", "churn-train", env={**drv.env, driver.ENV_SWITCH: "0"})
    assert off.returncode == 0, off.stderr
    listing = drv.run("runs", "--format", "json")
    assert listing.returncode == 0 and "churn-train" in listing.stdout
    assert drv.served() == 0


def test_which_processes_use_the_driver():
    assert driver.wanted(["/venv/bin/nbtrack", "run", "x"], {})
    assert driver.wanted(["nbtrack", "sweep"], {}) and driver.wanted(["nbtrack", "reproduce"], {})
    assert not driver.wanted(["nbtrack", "run"], {driver.ENV_SWITCH: "0"})
    assert not driver.wanted(["nbtrack", "runs"], {})
    assert not driver.wanted(["nbtrack"], {})
    assert not driver.wanted(["/usr/bin/pytest", "run"], {})


def test_the_key_follows_code_and_interpreter_settings(tmp_path):
    base = driver.key({"LANG": "C.UTF-8"})
    assert driver.key({"LANG": "C.UTF-8", "NBTRACK_URI": "/x", "HOME": "/y"}) == base  # per-command values
    assert driver.key({"LANG": "C.UTF-8", "PYTHONHASHSEED": "1"}) != base
    assert driver.key({"LANG": "en_US.UTF-8"}) != base
    module = Path(driver.__file__)
    st = module.stat()
    try:
        os.utime(module, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        assert driver.key({"LANG": "C.UTF-8"}) != base  # an edited module: a new server
    finally:
        os.utime(module, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert driver.key({"LANG": "C.UTF-8"}) == base


EXIT_PROBE = """
import atexit, sys, threading, time
from nbtrack.cli.driver_server import exit_now
marks = sys.argv[1]
def later():
    time.sleep(0.2)
    open(marks + "/thread", "w").write("joined")
threading.Thread(target=later).start()  # non-daemon: joined before the exit
atexit.register(lambda: open(marks + "/atexit", "w").write("ran"))
unflushed = open(marks + "/file", "w")
unflushed.write("flushed")  # never closed: flushed at the exit
sys.stdout.write("buffered output")
exit_now(sys.argv[2] if sys.argv[2] != "int" else 3)
"""


@pytest.mark.parametrize("code, status, err", [("int", 3, ""), ("stopped: bad input", 1, "stopped: bad input\n")])
def test_a_command_exits_like_an_interpreter_without_teardown(tmp_path, code, status, err):
    """A served command ends with ``os._exit`` (no module teardown of the server's inherited heap),
    and still does what an exit does: threads joined, atexit handlers, files and streams flushed,
    ``sys.exit``'s code or message."""
    done = subprocess.run([sys.executable, "-c", EXIT_PROBE, str(tmp_path), code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == status
    assert done.stdout == "buffered output"
    assert done.stderr == err
    assert (tmp_path / "thread").read_text() == "joined"
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "file").read_text() == "flushed"
