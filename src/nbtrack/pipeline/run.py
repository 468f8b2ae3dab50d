"""``run_pipeline``: one execution of an approved notebook, recorded as a pipeline run.

The order matters and is the contract of ``nbtrack run``:

1. resolve the approved version and check the parameters against its schema and
   the gates' syntax (a mistake exits 2 before any kernel starts);
2. start a run of kind ``pipeline`` (params = every effective parameter, tags =
   pipeline, version and pinned dataset versions);
3. execute the frozen notebook with papermill in a clean temporary folder; the
   kernel gets ``NBTRACK_PARENT_RUN`` (so ``%%track`` cells become child runs) and
   ``NBTRACK_PINS`` (so ``nbtrack.load("customers")`` resolves to the pinned version);
4. store the executed notebook (error banner included) as the run's artifact;
5. evaluate the gates on the children's metrics; register and promote when asked.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._secrets import mask_notebook, secret_values
from ..capture import env, pruning
from ..capture.run import ActiveRun, current_experiment
from ..context import default_parent
from ..errors import ContractViolation, GateFailed, NotebookExecutionError
from ..snapshot.contracts import check_pins
from ..store.schema import latest_metrics
from ..workspace import Workspace, get_workspace
from . import gates as gates_mod
from . import scraps
from .execute import check_timeout, execute, import_papermill
from .kernels import discard, kernel_name_of, launch
from .parameters import validate
from .registry_link import register_and_promote
from .timeline import mark
from .versions import PipelineVersion, get_version

ARTIFACT = "executed.ipynb"
TAG_PIPELINE, TAG_VERSION, TAG_PINS = "nbtrack.pipeline", "nbtrack.pipeline_version", "nbtrack.pins"


@dataclass
class PipelineResult:
    """What a pipeline run did; ``exit_code`` is what ``nbtrack run`` exits with."""

    run_id: str
    pipeline: str
    version: int
    params: dict[str, Any]
    pins: dict[str, Any]
    metrics: dict[str, float | None] = field(default_factory=dict)
    gates: list[gates_mod.Condition] = field(default_factory=list)  # every checked condition
    verdicts: list[gates_mod.Verdict] = field(default_factory=list)  # one per gate
    output: str | None = None
    model: str | None = None
    promoted: str | None = None

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1


def kernel_env(ws: Workspace, run_id: str, notebook: str, pins: dict[str, Any]) -> dict[str, str]:
    """Variables that connect the kernel to this run, workspace and pinned data."""
    env = {"NBTRACK_PARENT_RUN": run_id, "NBTRACK_NOTEBOOK": notebook, "NBTRACK_PINS": json.dumps(pins),
           "NBTRACK_EXPERIMENT": current_experiment()}
    if ws.root:
        env["NBTRACK_URI"] = ws.root
    else:
        env["NBTRACK_URI"], env["NBTRACK_OBJECTS"] = ws.meta_url, ws.objects_url
    env.update(pruning.kernel_vars())  # a tuned sweep's trial (this thread's): its pruning variables
    return env


def _prepare(ws: Workspace, pv: PipelineVersion, values: dict, pins: dict, parent: str | None,
             tags: dict | None, run_id: str | None = None) -> ActiveRun:
    run = ActiveRun(pv.name, "pipeline", parent_id=parent, workspace=ws, notebook=pv.notebook_path)
    if run_id:
        run.id = run_id  # chosen when its (warm) kernel was launched
    run.log_params(values)
    run.set_tag(TAG_PIPELINE, pv.name)
    run.set_tag(TAG_VERSION, pv.version)
    run.set_tag(TAG_PINS, json.dumps(pins, sort_keys=True))
    for k, v in (tags or {}).items():
        run.set_tag(k, v)
    return run


class _Starting:
    """``run.start()`` in a thread while the kernel starts (the main thread only waits then).

    Recording the start costs the environment fingerprint (hundreds of ms of package
    metadata) and a write; overlapping it with kernel start-up keeps ``nbtrack run``
    close to plain papermill. The kernel only needs the run's id, known already.
    """

    def __init__(self, run: ActiveRun) -> None:
        self.run = run
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._start, name="nbtrack-run-start", daemon=True)
        self.thread.start()

    def _start(self) -> None:
        try:
            self.run.start()
        except BaseException as e:  # re-raised by wait() in the caller's thread
            self.error = e

    @property
    def ok(self) -> bool:
        return not self.thread.is_alive() and self.error is None

    def wait(self) -> None:
        """Every write about the run happens after this (the row must exist)."""
        self.thread.join()
        if self.error is not None:
            raise self.error


def _warm_next(launch_next) -> threading.Thread | None:
    """Launch the next run's kernel in a thread: the launch (~60-100 ms of jupyter_client set-up
    and the template's fork) overlaps this run's execution, which mostly waits for its kernel.
    ``launch_next`` never raises (a failed launch only means the next run starts cold)."""
    if launch_next is None:
        return None
    thread = threading.Thread(target=launch_next, name="nbtrack-warm-next", daemon=True)
    thread.start()
    return thread


def _store_notebook(run: ActiveRun, path: str, output: str | None) -> str | None:
    if not os.path.exists(path):
        return None
    if output:  # the caller's own copy, as executed
        os.makedirs(os.path.dirname(os.path.abspath(output)) or ".", exist_ok=True)
        shutil.copyfile(path, output)
    with open(path, "rb") as f:  # the stored copy: secret params and what they printed masked
        data = mask_notebook(f.read(), run.secrets)
    with open(path, "wb") as f:
        f.write(data)
    run.log_artifact(path, name=ARTIFACT)
    if scraps.has_scraps(data) and scraps.record_scraps(run, data):
        run.flush()  # the gates and the sweep read the run's metrics from the store
    return output


def _execute(ws, run: ActiveRun, pv: PipelineVersion, given: dict, pins: dict, output: str | None,
             timeout: float | None, progress: bool, kernel=None, launch_next=None) -> None:
    """Run the notebook in a fresh temp folder; record a failure or interruption and re-raise.

    ``kernel``: a warm kernel launched for this run (its folder is the run's folder);
    ``launch_next``: called once this run's kernel is on its way, to warm the next one.
    """
    tmp = kernel.cwd if kernel is not None else tempfile.mkdtemp(prefix="nbtrack-run-")
    for k, v in given.items():
        run.secrets += secret_values(v, k)
    base = os.path.basename(pv.notebook_path or f"{pv.name}.ipynb")
    src, out = os.path.join(tmp, base), os.path.join(tmp, "executed-" + base)
    starting: _Starting | None = None
    handed = kernel is None  # from the call on, execute() shuts the warm kernel down
    try:
        with open(src, "wb") as f:
            f.write(pv.notebook_bytes(ws))
        env = kernel_env(ws, run.id, pv.notebook_path or base, pins)
        starting = _Starting(run)
        warming = _warm_next(launch_next)
        try:
            handed = True
            execute(src, out, given, cwd=tmp, env=env, timeout=timeout, progress=progress, kernel=kernel)
        finally:
            if warming is not None:
                mark("run.warm.join")
                warming.join()  # the next run's kernel is launched (or not) before this run ends
            mark("run.papermill.done")
            starting.wait()  # a failed start (store unavailable) wins: nothing could be recorded
        mark("run.started.joined")
        _store_notebook(run, out, output)
        mark("run.stored")
    except KeyboardInterrupt as e:
        if starting is None or not starting.ok:
            raise
        _store_notebook(run, out, output)
        run.end("interrupted", e)
        raise
    except NotebookExecutionError as e:
        e.fields["run_id"] = run.id
        _store_notebook(run, out, output)
        e.message += f" (run {run.id}; executed notebook: {output or 'artifact ' + ARTIFACT + ' of the run'})"
        e.args = (e.message,)
        run.set_tag("nbtrack.failed_cell", e.fields.get("cell_index"))
        run.end("failed", e)
        raise
    except BaseException as e:
        if starting is not None and starting.ok and not run.ended:
            run.end("failed", e)
        raise
    finally:
        if not handed:
            discard(kernel)
        shutil.rmtree(tmp, ignore_errors=True)


def run_pipeline(
    name: str,
    params: dict[str, Any] | None = None,
    version: int | None = None,
    gates: list[str] | str | None = None,
    gate_vs: str | None = None,
    register: str | None = None,
    promote_to: str | None = None,
    output: str | None = None,
    timeout: float | None = None,
    *,
    param_texts: dict[str, str] | None = None,
    parent: str | None = None,
    tags: dict[str, Any] | None = None,
    progress: bool = False,
    pins: dict[str, Any] | None = None,
    workspace: Workspace | None = None,
    kernels=None,
    warm_next: bool = False,
    run_id: str | None = None,
    started: Callable[[str], None] | None = None,
) -> PipelineResult:
    """Execute approved pipeline ``name`` with papermill and record it as a pipeline run.

    Parameters
    ----------
    name : str
        Pipeline name (``churn-train``), optionally with ``@VERSION``.
    params : dict, optional
        Parameter values, checked against the approved schema before anything runs.
    version : int, optional
        Approved version to run (default: the newest approved one).
    gates : list of str, optional
        Conditions such as ``"metrics.auc >= 0.9"`` on the run's metrics.
    gate_vs : str, optional
        ``"production:auc"``: at least as good as the version holding that alias.
    register, promote_to : str, optional
        Register the run's model under this name when the gates pass, then promote
        it to this alias through the registry's gated promotion.
    output : str, optional
        Also write the executed notebook here.
    timeout : float, optional
        Seconds any one cell may run.
    param_texts : dict, optional
        Raw ``-p`` texts (the CLI passes them so ``str`` parameters keep their text).
    parent : str, optional
        Parent run id (default: the active run, else ``NBTRACK_PARENT_RUN``; ``""``: none).
    tags : dict, optional
        Extra tags on the pipeline run.
    progress : bool
        Show papermill's per-cell progress bar.
    pins : dict, optional
        Dataset versions to use instead of the approved ones (``reproduce`` passes
        the recorded pins).
    kernels : nbtrack.pipeline.kernels.WarmKernels, optional
        A sweep worker's warm kernels: run on the kernel launched for this run if
        there is one, and with ``warm_next``, launch the next run's kernel now.
    run_id : str, optional
        The id the run gets (a Dask sweep chooses it on the client, so a rescheduled task
        finds its run; see :mod:`nbtrack.pipeline.dask_runs`). Not with ``kernels``.
    started : callable, optional
        Called with the run's id before its start is recorded (a sweep's worker notes which
        parameter set the run serves, so a worker that dies loses no run).

    Returns
    -------
    PipelineResult

    Raises
    ------
    InvalidInput
        Unknown, mistyped or missing parameters; unreadable gates (exit code 2).
    NotebookExecutionError
        A cell failed, timed out or the kernel died (exit code 1).
    GateFailed
        The run finished but a gate failed; ``error.fields["result"]`` is the result.
    """
    mark("run.begin")
    check_timeout(timeout)
    env.start_background()  # the run's environment fingerprint, computed while papermill imports
    ws = workspace or get_workspace(create=False)
    pv = get_version(name, version, workspace=ws)
    values = validate(pv.parameters, params, param_texts, pipeline=pv.label)
    given = {k: values[k] for k in (params or {})}
    parsed = [gates_mod.parse_gate(g) for g in ([gates] if isinstance(gates, str) else gates or [])]
    vs = gates_mod.parse_vs(gate_vs, register) if gate_vs else None
    pins = dict(pv.pins if pins is None else pins)
    _check_inputs(ws, pv, values, pins, parent, tags, run_id)
    mark("run.checked")
    kernel = launch_next = None
    if kernels is not None:
        kernel, launch_next = _warm(ws, pv, pins, kernels, warm_next)
    else:
        kernel = _early_kernel(ws, pv, pins, run_id)
    try:
        import_papermill()  # while the kernel boots and the fingerprint thread runs
        run = _prepare(ws, pv, values, pins, default_parent() if parent is None else (parent or None), tags,
                       run_id=kernel.run_id if kernel is not None else run_id)
        if started is not None:
            started(run.id)
    except BaseException:
        if kernel is not None:
            discard(kernel)
        raise
    mark("run.prepared", warm=kernel is not None)
    _execute(ws, run, pv, given, pins, output, timeout, progress, kernel, launch_next)
    mark("run.executed")
    metrics = gates_mod.gate_metrics(ws, run.id)
    own = run_metrics(ws, run.id)
    run.log_metrics({k: v for k, v in metrics.items() if k not in own and v is not None}, step=0)
    result = PipelineResult(run.id, pv.name, pv.version, values, pins, metrics, output=output)
    result.verdicts = gates_mod.evaluate(parsed, metrics)
    if vs is not None:
        result.verdicts.append(gates_mod.evaluate_vs(ws, vs, metrics, run.id))
    result.gates = [c for v in result.verdicts for c in v.conditions]
    if result.verdicts:
        run.set_tag("nbtrack.gates", ("passed: " if result.passed else "failed: ") + gates_mod.summary(result.gates))
    run.end("finished")
    mark("run.end")
    if not result.passed:
        raise GateFailed(f"{pv.label} run {run.id} failed its gates: "
                         + gates_mod.summary([g for g in result.gates if not g.passed]), result=result)
    if register:
        register_and_promote(ws, result, register, promote_to, vs)
    return result


def _check_inputs(ws: Workspace, pv: PipelineVersion, values: dict, pins: dict, parent: str | None,
                  tags: dict | None, run_id: str | None = None) -> None:
    """Pinned inputs with a data contract of their name must pass it, before any kernel starts;
    a failure is recorded as a failed pipeline run naming every failing check (exit code 1)."""
    messages = check_pins(pins, ws)
    if not messages:
        return
    run = _prepare(ws, pv, values, pins, default_parent() if parent is None else (parent or None), tags, run_id)
    run.start()
    run.set_tag("nbtrack.contract_failures", "; ".join(messages)[:4000])
    error = ContractViolation(f"{pv.label} run {run.id}: an input fails its data contract: " + "; ".join(messages),
                              run_id=run.id, failures=messages)
    run.end("failed", error)
    raise error


def _kernel_spec(ws: Workspace, pv: PipelineVersion, pins: dict) -> tuple[str, dict[str, str]] | None:
    """(kernel name, kernel environment without the run id) of this pipeline, or None."""
    try:
        name = kernel_name_of(pv.notebook_bytes(ws))
    except ValueError:
        return None  # papermill will say what is wrong with the notebook
    base = os.path.basename(pv.notebook_path or f"{pv.name}.ipynb")
    return name, kernel_env(ws, "", pv.notebook_path or base, pins)


def _warm(ws: Workspace, pv: PipelineVersion, pins: dict, kernels, warm_next: bool):
    """The warm kernel launched for this run (a worker's first run: launched now, like
    :func:`_early_kernel`), and how to launch the next one."""
    spec = _kernel_spec(ws, pv, pins)
    if spec is None:
        return None, None
    name, env = spec
    kernel = kernels.take(name, env)
    if kernel is None:
        try:
            kernel = launch(name, env)
        except Exception:
            kernel = None  # papermill starts the kernel itself (and says what is wrong)
    return kernel, ((lambda: kernels.prepare(name, env)) if warm_next else None)


def _early_kernel(ws: Workspace, pv: PipelineVersion, pins: dict, run_id: str | None = None):
    """Launch this run's kernel now, so that it boots while papermill is imported and the
    run is recorded (~0.7 s). Any failure: None, and papermill starts the kernel itself
    (and reports what is wrong, e.g. a kernel that is not installed)."""
    spec = _kernel_spec(ws, pv, pins)
    if spec is None:
        return None
    try:
        return launch(*spec, run_id=run_id)
    except Exception:
        return None


def run_metrics(ws: Workspace, run_id: str) -> dict[str, float | None]:
    """The metrics logged on ``run_id`` itself (latest values)."""
    from sqlalchemy import select


    with ws.meta.read() as conn:
        return dict(conn.execute(select(latest_metrics.c.key, latest_metrics.c.value)
                                 .where(latest_metrics.c.run_id == run_id)).all())

