"""Fork-server kernels: every pipeline run gets a fresh process forked from a pre-imported
template, with its own random streams and nothing left over from earlier runs; anything that
cannot be forked is launched as before."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

import nbtrack
from nbtrack.pipeline import forkserver

pytestmark = pytest.mark.skipif(not forkserver.enabled({}), reason="fork-server kernels need Linux with pidfd")

PROBE = """\
%%track probe
import json, os, random, sys
import numpy as np
leaked = int(hasattr(json, "_nbtrack_leak")) + int("NBTRACK_LEAK" in os.environ) + int("leak_me" in globals())
json._nbtrack_leak = True
os.environ["NBTRACK_LEAK"] = "1"
leak_me = 1
nbtrack.log_metrics({"pid": os.getpid(), "ppid": os.getppid(), "random": random.random(),
                     "numpy": float(np.random.random()), "leaked": leaked, "x": x})
umask = os.umask(0o022); os.umask(umask)
print(json.dumps({"cwd": os.getcwd(), "path": sys.path, "parent": os.environ["NBTRACK_PARENT_RUN"], "umask": umask}))
"""


def _notebook(path, kernelspec: dict) -> None:
    params = new_code_cell("x = 0")
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell("import nbtrack\n%load_ext nbtrack"), new_code_cell(PROBE)])
    nb.metadata["kernelspec"] = kernelspec
    nbformat.write(nb, path)


@pytest.fixture
def private_templates(monkeypatch):
    """Templates of this test only (their own runtime folder, short enough for a socket path),
    stopped afterwards; numpy preloaded so that its generator's reseeding after the fork is
    what is tested."""
    import shutil
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp(prefix="nbf-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    monkeypatch.setenv(forkserver.ENV_PRELOAD, "numpy")
    monkeypatch.delenv(forkserver.ENV_ENABLE, raising=False)
    yield folder
    forkserver.stop_templates()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def probe(workspace, tmp_path):
    path = tmp_path / "probe.ipynb"
    _notebook(path, {"name": "python3", "display_name": "Python 3", "language": "python"})
    nbtrack.approve(str(path), name="probe", reason="test")
    return "probe"


def _cell_metrics(run_id: str) -> dict:
    cells = nbtrack.runs(parent=run_id)
    assert len(cells) == 1
    row = cells.iloc[0]
    return {k[len("metrics."):]: row[k] for k in cells.columns if k.startswith("metrics.")}


def _printed(run_id: str) -> dict:
    nb = nbformat.reads(nbtrack.get_run(run_id).artifact("executed.ipynb").decode(), as_version=4)
    return json.loads(nb.cells[-1].outputs[-1]["text"].strip().splitlines()[-1])


@pytest.fixture
def template_then_umask027(private_templates):
    """A template started first, then this process's umask changed (the kernels must get ours)."""
    sock = forkserver.ensure_template()
    old = os.umask(0o027)
    yield sock
    os.umask(old)


def test_each_run_is_a_fresh_forked_process_with_its_own_random_streams(probe, private_templates,
                                                                        template_then_umask027):
    sock = template_then_umask027
    assert sock is not None and sock.startswith(str(private_templates))
    template = forkserver.template_pid(sock)
    seen = []
    for x in (1, 2, 3):
        res = nbtrack.run_pipeline(probe, params={"x": x})
        m = _cell_metrics(res.run_id)
        assert m["x"] == x
        assert m["ppid"] == template  # forked by the template, not launched by us
        assert m["leaked"] == 0  # nothing one run did is visible in the next
        printed = _printed(res.run_id)
        assert printed["parent"] == res.run_id
        assert os.path.basename(printed["cwd"]).startswith("nbtrack-run-")  # the run's clean folder
        assert not [p for p in printed["path"] if p.rstrip("/").endswith("nbtrack/pipeline")]  # not the template's
        assert printed["umask"] == 0o027  # the launching process's
        seen.append(m)
    assert len({m["pid"] for m in seen}) == 3  # a new process per run
    assert len({m["random"] for m in seen}) == 3  # random reseeded after every fork
    assert len({m["numpy"] for m in seen}) == 3  # and numpy's global generator (preloaded here)
    assert forkserver.template_pid(sock) == template  # the template itself ran nothing


def test_sweep_workers_fork_their_kernels_too(probe, private_templates):
    template = forkserver.template_pid(forkserver.ensure_template())
    res = nbtrack.sweep(probe, {"x": [1, 2, 3, 4]}, parallel=2, progress=False)
    assert res.exit_code == 0 and not res.failed, res.outcomes
    metrics = [_cell_metrics(o["run_id"]) for o in res.outcomes]
    assert sorted(m["x"] for m in metrics) == [1, 2, 3, 4]
    assert {m["ppid"] for m in metrics} == {template}
    assert len({m["pid"] for m in metrics}) == 4 and len({m["random"] for m in metrics}) == 4
    assert all(m["leaked"] == 0 for m in metrics)


def test_a_kernelspec_that_is_not_ipykernel_launcher_runs_unchanged(workspace, tmp_path, private_templates,
                                                                     monkeypatch):
    # A kernel with a command of its own (a wrapper that leaves a mark, then runs ipykernel).
    marks = tmp_path / "marks"
    marks.mkdir()
    wrapper = tmp_path / "wrapper.py"
    wrapper.write_text(f"import os, sys\nopen(os.path.join({str(marks)!r}, str(os.getpid())), 'w').close()\n"
                       "from ipykernel import kernelapp\nkernelapp.launch_new_instance()\n")
    spec_dir = tmp_path / "jupyter" / "kernels" / "wrapped"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, str(wrapper), "-f", "{connection_file}"],
        "display_name": "wrapped", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    path = tmp_path / "wrapped.ipynb"
    _notebook(path, {"name": "wrapped", "display_name": "wrapped", "language": "python"})
    nbtrack.approve(str(path), name="wrapped", reason="test")
    pids = set()
    for x in (1, 2):
        m = _cell_metrics(nbtrack.run_pipeline("wrapped", params={"x": x}).run_id)
        assert m["x"] == x and m["ppid"] == os.getpid() and m["leaked"] == 0  # launched by us, as before
        pids.add(int(m["pid"]))
    assert {int(p) for p in os.listdir(marks)} == pids  # our command ran, once per run
    folder = private_templates / f"nbtrack-fork-{os.getuid()}"
    assert not folder.exists() or not [n for n in os.listdir(folder) if n.endswith(".sock")]  # no template


def test_switched_off_by_the_environment(probe, private_templates, monkeypatch):
    monkeypatch.setenv(forkserver.ENV_ENABLE, "0")
    m = _cell_metrics(nbtrack.run_pipeline(probe, params={"x": 1}).run_id)
    assert m["ppid"] == os.getpid()


def test_a_crashed_template_is_replaced_and_its_running_kernels_carry_on(probe, private_templates):
    sock = forkserver.ensure_template()
    old = forkserver.template_pid(sock)
    os.kill(old, signal.SIGKILL)
    _wait_gone(old)
    assert forkserver.template_pid(sock) is None
    # the next run starts a new template (launching this one kernel normally meanwhile) ...
    first = _cell_metrics(nbtrack.run_pipeline(probe, params={"x": 1}).run_id)
    assert first["x"] == 1
    new = forkserver.template_pid(forkserver.ensure_template())
    assert new is not None and new != old
    # ... and forks from it afterwards
    assert _cell_metrics(nbtrack.run_pipeline(probe, params={"x": 2}).run_id)["ppid"] == new
    # a kernel whose template dies under it finishes its run
    path = private_templates / "slow.ipynb"
    _notebook(path, {"name": "python3", "display_name": "Python 3", "language": "python"})
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(2, new_code_cell(f"import os, signal, time\nos.kill({new}, signal.SIGKILL)\ntime.sleep(0.3)"))
    nbformat.write(nb, path)
    nbtrack.approve(str(path), name="slow", reason="test")
    m = _cell_metrics(nbtrack.run_pipeline("slow", params={"x": 3}).run_id)
    assert m["x"] == 3 and m["ppid"] != os.getpid()


def test_a_forked_kernel_stops_when_its_manager_dies(private_templates, tmp_path):
    import subprocess

    sock = forkserver.ensure_template()
    template = forkserver.template_pid(sock)
    script = tmp_path / "manager.py"
    script.write_text(
        "import sys, time\n"
        "from jupyter_client.manager import start_new_kernel\n"
        "from nbtrack.pipeline.kernels import kernel_manager_class\n"
        "km = kernel_manager_class({})(kernel_name='python3')\n"
        "from jupyter_core.utils import run_sync\n"
        "run_sync(km.start_kernel)()\n"
        "print(km.provisioner.pid, flush=True)\n"
        "time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        kernel = int(proc.stdout.readline())
        assert _ppid(kernel) == template
        proc.kill()
        proc.wait()
        _wait_gone(kernel)
    finally:
        proc.kill()


def test_only_python_m_ipykernel_launcher_commands_are_forked():
    assert forkserver.kernel_args(["python", "-m", "ipykernel_launcher", "-f", "c.json", "--x=1"]) == [
        "-f", "c.json", "--x=1"]
    assert forkserver.kernel_args(["python", "-X", "dev", "-m", "ipykernel_launcher", "-f", "c.json"]) is None
    assert forkserver.kernel_args(["python", "-m", "ipykernel", "-f", "c.json"]) is None
    assert forkserver.kernel_args(["R", "--slave", "-e", "IRkernel::main()", "--args", "c.json"]) is None
    assert not forkserver.enabled({forkserver.ENV_ENABLE: "0"})


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return  # exited, not yet reaped by its parent
        except FileNotFoundError:
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} is still running")


EXIT_PROBE = """\
import atexit, os, sys, threading, time, types
open(os.path.join(marks, "ppid"), "w").write(str(os.getppid()))
def late():
    time.sleep(0.3)
    open(os.path.join(marks, "thread"), "w").write("joined")
threading.Thread(target=late).start()  # not a daemon: an interpreter waits for it at exit
holder = types.ModuleType("holder")  # a file only module teardown would have flushed
sys.modules["holder"] = holder
holder.f = open(os.path.join(marks, "module_file"), "w")
holder.f.write("flushed")
mine = open(os.path.join(marks, "user_file"), "w")
mine.write("flushed")
atexit.register(lambda: open(os.path.join(marks, "atexit"), "w").write("ran"))
"""


def test_a_forked_kernel_exits_like_an_interpreter(workspace, tmp_path, private_templates):
    """Forked kernels skip the interpreter's module teardown (~0.1 s of copy-on-write), not what
    anyone can see of an exit: non-daemon threads joined, atexit handlers, open files flushed."""
    marks = tmp_path / "marks"
    marks.mkdir()
    params = new_code_cell(f"marks = {str(marks)!r}")
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell(EXIT_PROBE)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "exits.ipynb")
    nbtrack.approve(str(tmp_path / "exits.ipynb"), name="exits", reason="test")
    template = forkserver.template_pid(forkserver.ensure_template())
    nbtrack.run_pipeline("exits")
    assert int((marks / "ppid").read_text()) == template  # a forked kernel
    assert (marks / "thread").read_text() == "joined"
    assert (marks / "atexit").read_text() == "ran"
    assert (marks / "module_file").read_text() == "flushed"
    assert (marks / "user_file").read_text() == "flushed"



# Records, when ipykernel's exit (IPKernelApp.close, an atexit handler) stops the IOPub thread,
# whether the control thread has finished handling the shutdown request.
EXIT_ORDER = """
import time
from ipykernel.kernelapp import IPKernelApp
app = IPKernelApp.instance()
kernel, pub = app.kernel, app.iopub_thread
original = kernel.control_handlers["shutdown_request"]
state = {"handled": False}

async def shutdown_request(stream, ident, parent):
    await original(stream, ident, parent)  # stops the main loop: the kernel's exit starts now
    time.sleep(0.3)  # ... and this thread still has a flush through IOPub to do
    state["handled"] = True

kernel.control_handlers["shutdown_request"] = shutdown_request
stop = pub.stop

def recording_stop(mark=mark, state=state, stop=stop):  # IPython clears the namespace at exit
    with open(mark, "w") as f:
        f.write("handled" if state["handled"] else "still handling")
    stop()

pub.stop = recording_stop
"""


def test_a_forked_kernel_lets_its_control_thread_finish_before_exiting(workspace, tmp_path, private_templates,
                                                                      monkeypatch):
    """ipykernel's exit stops the IOPub thread while the control thread may still be handling the
    shutdown request; its last flush then waits for a thread that is gone (ipykernel's 10 s flush
    timeout) and the kernel only ended on the manager's SIGTERM 2.5 s later: the bimodal ~4 s
    sweeps of issue 18. A forked kernel waits for its control thread before exiting."""
    from nbtrack.pipeline import kernels

    ended = []
    original = kernels._shutdown_idle

    async def spy(km):
        proc = km.provisioner.process
        await original(km)
        ended.append((type(proc).__name__, km._shutdown_status.name, proc.returncode))

    monkeypatch.setattr(kernels, "_shutdown_idle", spy)
    mark = tmp_path / "mark"
    params = new_code_cell(f"mark = {str(mark)!r}")
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell(EXIT_ORDER)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "order.ipynb")
    nbtrack.approve(str(tmp_path / "order.ipynb"), name="order", reason="test")
    forkserver.ensure_template()
    nbtrack.run_pipeline("order")
    assert mark.read_text() == "handled"
    assert ended == [("ForkedKernel", "ShutdownRequest", 0)]


# What a kernel's application took from its command line, as JSON on the cell's output.
APP_STATE = """
import json, logging
from ipykernel.kernelapp import IPKernelApp
from traitlets.config.application import Application
app = IPKernelApp.instance()
ip = get_ipython()
print(json.dumps({
    "argv": app.argv, "extra_args": app.extra_args, "connection_file": app.connection_file,
    "cli_config": {s: {k: str(v) for k, v in traits.items()} for s, traits in app.cli_config.items()},
    "hist_file": str(ip.history_manager.hist_file),
    "parse_is_traitlets": "parse_command_line" not in IPKernelApp.__dict__,
    "app_logger_handlers": len(logging.getLogger("IPKernelApp").handlers), "kernel_is_live": ip.kernel is app.kernel,
}))
"""


def _app_state(name: str) -> dict:
    res = nbtrack.run_pipeline(name)
    nb = nbformat.reads(nbtrack.get_run(res.run_id).artifact("executed.ipynb").decode(), as_version=4)
    return json.loads(nb.cells[-1].outputs[-1]["text"].strip().splitlines()[-1])


def test_a_forked_kernel_takes_its_command_line_as_a_launched_kernel_does(workspace, tmp_path, private_templates,
                                                                          monkeypatch):
    """The template parses a kernel command line's shape once (the connection file's path left
    out); a forked kernel's application ends up exactly as a kernel launched normally."""
    params = new_code_cell("x = 0")
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell(APP_STATE)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "app.ipynb")
    nbtrack.approve(str(tmp_path / "app.ipynb"), name="app", reason="test")
    timeline = tmp_path / "timeline"
    monkeypatch.setenv("NBTRACK_TIMELINE", str(timeline))
    forkserver.ensure_template()
    forked = [_app_state("app"), _app_state("app")]
    assert timeline.read_text().count("kernel.argv ahead=True") == 2  # the parse done ahead was used
    monkeypatch.setenv(forkserver.ENV_ENABLE, "0")
    launched = _app_state("app")
    for state in forked:
        path = state["connection_file"]
        assert path != launched["connection_file"] and os.path.isabs(path)
        assert state["argv"] == [path if a == launched["connection_file"] else a for a in launched["argv"]]
        assert state["cli_config"]["IPKernelApp"]["connection_file"] == path
        state["cli_config"]["IPKernelApp"]["connection_file"] = launched["connection_file"]
        assert {**state, "argv": None, "connection_file": None} == {**launched, "argv": None, "connection_file": None}
    assert forked[0]["connection_file"] != forked[1]["connection_file"]  # each kernel gets its own
    assert launched["hist_file"] == ":memory:" and launched["parse_is_traitlets"] and launched["kernel_is_live"]


def test_only_plain_kernel_command_lines_are_parsed_ahead():
    from nbtrack.pipeline import _forktemplate as ft

    path = "/run/user/1/jupyter/kernel-1.json"
    shape = ft.argv_shape(["-f", path, "--HistoryManager.hist_file=:memory:"])
    assert shape == (("-f", ft.PLACEHOLDER, "--HistoryManager.hist_file=:memory:"), path)
    assert ft.argv_shape(["--Session.key=b''", "-f", path]) is not None
    for args in (["-f", "kernel.json"], ["-f", "-x"], ["-f"], ["install"], ["-f", path, "--debug"],
                 ["-f", path, "--help"], ["-f", path, "--", "x"], ["-f", path, "-f", path], ["-f", path, "x.py"],
                 ["-f", path, "--matplotlib", "inline"], ["-f", ft.PLACEHOLDER]):
        assert ft.argv_shape(args) is None, args
    parsed = ft.parsed_argv(["-f", path, "--HistoryManager.hist_file=:memory:"])
    assert parsed is not None
    config, where, extra = parsed
    assert where == ("IPKernelApp", "connection_file") and extra == []
    assert config["IPKernelApp"]["connection_file"] == ft.PLACEHOLDER
    assert str(config["HistoryManager"]["hist_file"]) == ":memory:"
