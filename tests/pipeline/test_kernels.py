"""Warm kernels in sweeps: every run still gets its own new kernel, clean folder and parent run."""

from __future__ import annotations

import json
import os
import tempfile

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

import nbtrack
from nbtrack.pipeline import kernels as kernels_mod
from nbtrack.pipeline.workers import with_warm_kernels

PROBE = """\
%%track probe
import json, os
seen = sorted(os.listdir("."))
open("scratch.txt", "w").write("left behind by this run")
nbtrack.log_metric("pid", os.getpid())
nbtrack.log_metric("files_at_start", len(seen))
nbtrack.log_metric("x", x)
print(json.dumps({"seen": seen, "parent": os.environ["NBTRACK_PARENT_RUN"], "cwd": os.getcwd()}))
"""


@pytest.fixture
def probe(workspace, tmp_path):
    params = new_code_cell("x = 0")
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell("import nbtrack\n%load_ext nbtrack"), new_code_cell(PROBE)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "probe.ipynb"
    nbformat.write(nb, path)
    nbtrack.approve(str(path), name="probe", reason="test")
    return "probe"


@pytest.fixture
def own_tmp(tmp_path, monkeypatch):
    """Temporary folders of this test only, to check that none is left behind."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def own_template(monkeypatch):
    """A kernel template of this test only (fork-server kernels): what it forks is ours to count."""
    import shutil

    from nbtrack.pipeline import forkserver

    folder = tempfile.mkdtemp(prefix="nbk-", dir="/tmp")
    monkeypatch.setenv("XDG_RUNTIME_DIR", folder)
    sock = forkserver.ensure_template()
    yield forkserver.template_pid(sock) if sock else None
    forkserver.stop_templates()
    shutil.rmtree(folder, ignore_errors=True)


def _kernel_processes(template: int | None = None) -> set[int]:
    """Pids of kernels started from this process (or forked for it by ``template``) still running."""
    found = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                state, ppid = f.read().rsplit(")", 1)[1].split()[:2]
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if state == "Z":
            continue  # exited, not yet reaped
        if int(ppid) == os.getpid() and b"launch_new_instance" in cmd and b"(" not in cmd[:1]:
            found.add(int(pid))
        elif template is not None and int(ppid) == template:
            found.add(int(pid))
    return found


def test_executor_tag_says_whether_kernels_were_warmed():
    from nbtrack.pipeline import sweep as sweep_mod

    assert sweep_mod._executor(4, None, True, 3) == "processes:3,warm"
    assert sweep_mod._executor(1, None, False, 3) == "processes:1"
    assert sweep_mod._executor(2, "tcp://x:8786", True, 3) == "dask"


def test_which_runs_warm_a_kernel_for_a_next_one():
    specs = [{"index": i} for i in range(5)]
    assert [s["warm"] for s in with_warm_kernels(specs, 1)] == [True, True, True, True, False]
    assert [s["warm"] for s in with_warm_kernels(specs, 2)] == [True, True, True, False, False]
    assert [s["warm"] for s in with_warm_kernels(specs[:1], 2)] == [False]


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_sequential_sweep_on_warm_kernels_gives_each_run_a_new_kernel_and_clean_folder(probe, own_tmp, own_template):
    assert own_template is None or _kernel_processes(own_template) == set()
    res = nbtrack.sweep(probe, {"x": [1, 2, 3, 4]}, progress=False)  # warm by default
    assert res.exit_code == 0 and not res.failed, res.outcomes
    pipes = nbtrack.runs(parent=res.sweep_id, order_by="params.x")
    assert list(pipes["params.x"]) == [1, 2, 3, 4]
    pids = set()
    for rid, x in zip(pipes.id, pipes["params.x"]):
        cells = nbtrack.runs(parent=rid)  # the %%track cell became a child of *its* pipeline run
        assert len(cells) == 1 and cells["metrics.x"].iloc[0] == x
        assert cells["metrics.files_at_start"].iloc[0] == 2  # a clean folder: the notebook and papermill's output
        nb = nbformat.reads(nbtrack.get_run(rid).artifact("executed.ipynb").decode(), as_version=4)
        seen = json.loads(nb.cells[-1].outputs[-1]["text"].strip().splitlines()[-1])
        assert seen["parent"] == rid and seen["seen"] == ["executed-probe.ipynb", "probe.ipynb"]
        pids.add(cells["metrics.pid"].iloc[0])
    assert len(pids) == 4  # a new kernel process per run
    assert _kernel_processes(own_template) == set()  # the kernel warmed last was not left running
    assert os.listdir(own_tmp) == []  # no run folder or socket folder left behind


def test_cold_sweep_and_warm_sweep_record_the_same_results(probe, own_tmp):
    warm = nbtrack.sweep(probe, {"x": [5, 6]}, progress=False, warm=True)
    cold = nbtrack.sweep(probe, {"x": [5, 6]}, progress=False, warm=False)
    assert nbtrack.get_run(warm.sweep_id).tags["nbtrack.executor"] == "processes:1,warm"
    assert nbtrack.get_run(cold.sweep_id).tags["nbtrack.executor"] == "processes:1"
    for res in (warm, cold):
        assert sorted(o["metrics"]["x"] for o in res.outcomes) == [5, 6]
    assert os.listdir(own_tmp) == []


def test_parallel_sweep_on_warm_kernels(probe, own_tmp):
    res = nbtrack.sweep(probe, {"x": [1, 2, 3, 4, 5, 6]}, parallel=2, progress=False, warm=True)
    assert nbtrack.get_run(res.sweep_id).tags["nbtrack.executor"] == "processes:2,warm"
    assert res.exit_code == 0 and not res.failed, res.outcomes
    pipes = nbtrack.runs(parent=res.sweep_id)
    assert sorted(pipes["params.x"]) == [1, 2, 3, 4, 5, 6]
    for rid in pipes.id:
        cells = nbtrack.runs(parent=rid)
        assert len(cells) == 1 and cells["metrics.files_at_start"].iloc[0] == 2
    pids = {nbtrack.runs(parent=rid)["metrics.pid"].iloc[0] for rid in pipes.id}
    assert len(pids) == 6
    assert os.listdir(own_tmp) == []  # the workers shut their last warm kernels down on exit


def test_a_warm_kernel_for_another_notebook_or_environment_is_not_used(own_tmp):
    warm = kernels_mod.WarmKernels()
    env = {"NBTRACK_URI": "/somewhere", "NBTRACK_PINS": "{}"}
    warm.prepare("python3", env)
    try:
        assert warm.take("python3", {**env, "NBTRACK_PINS": '{"customers": 2}'}) is None  # shut down instead
        warm.prepare("python3", env)
        kernel = warm.take("python3", {**env, "NBTRACK_PARENT_RUN": "ignored"})
        assert kernel is not None and len(kernel.run_id) == 16 and os.path.isdir(kernel.cwd)
        kernels_mod.discard(kernel)
        assert not os.path.exists(kernel.cwd)
    finally:
        warm.close()
    assert os.listdir(own_tmp) == []



def test_an_idle_kernel_is_shut_down_without_an_interrupt(workspace, tmp_path, monkeypatch):
    """After a notebook completed (or a cell raised), the kernel is idle: no SIGINT before its
    shutdown request (an idle ipykernel prints "KeyboardInterrupt caught in kernel"); a kernel
    stopped by a timeout still gets one."""
    from jupyter_client.manager import KernelManager

    interrupts = []
    original = KernelManager._async_interrupt_kernel

    async def spy(self):
        interrupts.append(self.kernel_id)
        return await original(self)

    monkeypatch.setattr(KernelManager, "_async_interrupt_kernel", spy)
    params = new_code_cell("fail = False\nseconds = 0")
    params.metadata["tags"] = ["parameters"]
    body = "import time\ntime.sleep(seconds)\nif fail:\n    raise ValueError('as asked')"
    nb = new_notebook(cells=[params, new_code_cell(body)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "idle.ipynb")
    nbtrack.approve(str(tmp_path / "idle.ipynb"), name="idle", reason="test")
    nbtrack.run_pipeline("idle")
    with pytest.raises(nbtrack.errors.NotebookExecutionError, match="as asked"):
        nbtrack.run_pipeline("idle", params={"fail": True})
    assert interrupts == []
    with pytest.raises(nbtrack.errors.NotebookExecutionError, match="timed out"):
        nbtrack.run_pipeline("idle", params={"seconds": 30}, timeout=1)
    assert len(interrupts) >= 1


def test_each_sweep_run_gets_a_kernel_launched_by_nbtrack(workspace, tmp_path, monkeypatch):
    """A sweep's first run (nothing warmed for it yet) gets its kernel launched by nbtrack as soon
    as the run is checked, like ``nbtrack run``, not by papermill: every run is on the warm path
    (no interrupt before its shutdown) and each still has a kernel of its own."""
    from jupyter_client.manager import KernelManager

    from nbtrack.pipeline import execute as execute_mod

    interrupts, kernels = [], []
    original = KernelManager._async_interrupt_kernel

    async def spy(self):
        interrupts.append(self.kernel_id)
        return await original(self)

    real_execute = execute_mod.execute

    def recording(*args, kernel=None, **kw):
        kernels.append(kernel.km.kernel_id if kernel is not None else None)
        return real_execute(*args, kernel=kernel, **kw)

    monkeypatch.setattr(KernelManager, "_async_interrupt_kernel", spy)
    monkeypatch.setattr("nbtrack.pipeline.run.execute", recording)
    params = new_code_cell("x = 1")
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell("import os\npid = os.getpid()")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "first.ipynb")
    nbtrack.approve(str(tmp_path / "first.ipynb"), name="first", reason="test")
    res = nbtrack.sweep("first", {"x": [1, 2, 3]}, parallel=1, progress=False)
    assert [o["status"] for o in res.outcomes] == ["finished"] * 3
    assert None not in kernels and len(set(kernels)) == 3
    assert interrupts == []


@pytest.mark.parametrize("parallel", [1, 2])
def test_each_worker_launches_its_first_kernel_before_the_sweep_is_recorded(probe, own_tmp, tmp_path, monkeypatch,
                                                                           parallel):
    """The workers exist, and each one's first kernel is on its way, before the sweep run is
    written: that kernel boots meanwhile. No kernel is wasted (one launched per run), every run
    still gets its own, and the sweep's store is used by the runs."""
    import multiprocessing

    from nbtrack.capture.run import ActiveRun
    from nbtrack.pipeline import workers

    seen = []
    real_start = ActiveRun.start

    def start(self, *a, **kw):
        if self.kind == "sweep":
            warm = workers._kernels
            seen.append((len(multiprocessing.active_children()),
                         warm is not None and (warm._launching is not None or warm._waiting is not None)))
        return real_start(self, *a, **kw)

    monkeypatch.setattr(ActiveRun, "start", start)
    timeline = tmp_path / "timeline"
    monkeypatch.setenv("NBTRACK_TIMELINE", str(timeline))
    res = nbtrack.sweep(probe, {"x": [1, 2, 3, 4]}, parallel=parallel, progress=False)
    assert res.exit_code == 0 and not res.failed, res.outcomes
    assert seen == ([(0, True)] if parallel == 1 else [(2, False)])
    lines = [line.split() for line in timeline.read_text().splitlines()]
    first = [(pid, ev) for _, pid, thread, ev, *_ in lines if thread == "nbtrack-first-kernel"]
    assert [ev for _, ev in first].count("kernel.launched") == parallel
    assert len({pid for pid, _ in first}) == parallel  # one first kernel per worker
    assert sum(line[3] == "kernel.launched" for line in lines) == 4  # one per run
    pids = {nbtrack.runs(parent=o["run_id"])["metrics.pid"].iloc[0] for o in res.outcomes}
    assert len(pids) == 4
    assert os.listdir(own_tmp) == []


@pytest.mark.parametrize("parallel", [1, 2])
def test_first_kernels_are_stopped_when_the_sweep_cannot_be_recorded(probe, own_tmp, monkeypatch, parallel):
    from nbtrack.capture.run import ActiveRun
    from nbtrack.errors import StoreUnavailable

    real_start = ActiveRun.start

    def start(self, *a, **kw):
        if self.kind == "sweep":
            raise StoreUnavailable("the store went away")
        return real_start(self, *a, **kw)

    monkeypatch.setattr(ActiveRun, "start", start)
    with pytest.raises(StoreUnavailable, match="went away"):
        nbtrack.sweep(probe, {"x": [1, 2, 3]}, parallel=parallel, progress=False)
    assert os.listdir(own_tmp) == []  # each first kernel was shut down and its folders removed
    assert len(nbtrack.runs()) == 0
