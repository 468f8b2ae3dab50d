"""Cell hook: DataFrames a tracked cell reads and writes become dataset versions.

* inputs: names the cell reads that hold a DataFrame/Series *before* it runs,
  snapshotted before the cell runs (so in-place changes do not leak into them);
* outputs: names the cell binds that hold a DataFrame/Series afterwards, and
  inputs the cell changed in place.

Each becomes a version of the dataset named after the variable (``raw`` ->
``raw@1``, ``raw@2``...), linked to the run by lineage rows. Unchanged frames
cost a fingerprint of their buffers and one query (see
:mod:`nbtrack.snapshot.datasets`). ``--no-data`` and ``NBTRACK_MAX_SNAPSHOT_BYTES``
(default 2 GB of frame memory) switch it off. Nothing here imports pandas:
the hook does nothing until pandas has been imported by the user.

Also here: :func:`restore`, behind ``%track_restore RUN_ID``.
"""

from __future__ import annotations

import os
import shlex
import sys
from typing import Any

from ..errors import InvalidInput
from .hooks import CellContext

DEFAULT_MAX_BYTES = 2 << 30


def max_bytes() -> int:
    try:
        return int(os.environ.get("NBTRACK_MAX_SNAPSHOT_BYTES", DEFAULT_MAX_BYTES))
    except ValueError:
        return DEFAULT_MAX_BYTES


def _frames(ctx: CellContext, names: set[str]) -> dict[str, Any]:
    pd = sys.modules.get("pandas")
    if pd is None:
        return {}
    out = {}
    for var in sorted(names):
        obj = ctx.user_ns.get(var)
        if not var.startswith("_") and issubclass(type(obj), (pd.DataFrame, pd.Series)):  # not obj.__class__
            out[var] = obj
    return out


# Frames that could not be snapshotted: the warning is shown once per object, later cells that
# read the same unchanged object only tag their run (id -> (weakref, shape and dtypes, reason)).
_refused: dict[int, tuple[Any, Any, str]] = {}


def _refusal_key(obj: Any) -> Any:
    try:
        return (obj.shape, tuple(map(str, getattr(obj, "dtypes", [obj.dtype]))))
    except Exception:
        return None


def _remember_refusal(obj: Any, key: Any, reason: str) -> None:
    import weakref

    try:
        obj_id = id(obj)  # taken now: obj is gone when the callback runs
        ref = weakref.ref(obj, lambda _r: _refused.pop(obj_id, None))
    except TypeError:
        return
    _refused[id(obj)] = (ref, key, reason)


def _size(obj: Any) -> int:
    """Bytes of the frame's buffers (``memory_usage(deep=False)``, without building its Series)."""
    try:  # pandas' block arrays: 1-2 ms less per 100 MB frame on the cell's path
        arrays = obj._mgr.arrays if hasattr(obj, "columns") else [obj.array]
        return int(sum(a.nbytes for a in arrays) + obj.index.memory_usage())
    except Exception:
        mem = obj.memory_usage(index=True, deep=False)
        return int(mem.sum() if hasattr(mem, "sum") else mem)


class DataHook:
    """Registered by ``%load_ext nbtrack`` before the model hook (which reads ``ctx.state["datasets"]``)."""

    name = "data"

    def _enabled(self, ctx: CellContext) -> bool:
        return not getattr(ctx.args, "no_data", False) and "pandas" in sys.modules

    def _snapshot(self, ctx: CellContext, var: str, obj: Any, run_id: str | None) -> Any:
        from ..snapshot.datasets import snapshot_frame

        key = _refusal_key(obj)
        known = _refused.get(id(obj))
        if known is not None and known[0]() is obj and known[1] == key:  # warned once for this object
            ctx.run.set_tag(f"data_skipped.{var}", known[2])
            return None
        try:
            size, limit = _size(obj), max_bytes()
            if size > limit:
                ctx.run.set_tag(f"data_skipped.{var}", f"{size:,} bytes > NBTRACK_MAX_SNAPSHOT_BYTES={limit:,}")
                return None
            if size >= _background_min(ctx) or _name_pending(ctx, var):
                found = _off_the_path(ctx, var, obj, run_id, size)
                if found is not None:
                    return found
            # inputs (run_id None) resolve to any version with the same content, e.g. a pinned one
            return snapshot_frame(obj, var, run_id=run_id, workspace=ctx.run.ws, reuse_any=run_id is None)
        except Exception as e:  # one frame failing never stops the others, nor the cell
            reason = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
            ctx.warnings.append(f"dataset {var!r} ({reason})")
            ctx.run.set_tag(f"data_skipped.{var}", reason)
            _remember_refusal(obj, key, reason)
            return None

    def before(self, ctx: CellContext) -> None:
        state: dict[str, dict[str, int]] = {"inputs": {}, "outputs": {}}
        ctx.state["datasets"] = state
        if not self._enabled(ctx):
            return
        for var, obj in _frames(ctx, ctx.reads).items():
            v = self._snapshot(ctx, var, obj, None)
            if v is not None:
                state["inputs"][var] = _ref(v)

    def after(self, ctx: CellContext) -> None:
        state = ctx.state.setdefault("datasets", {"inputs": {}, "outputs": {}})
        loaded = dict(getattr(ctx.run, "loaded", {}))  # frames nbtrack.load() returned in this cell
        if not self._enabled(ctx):
            self._link(ctx, state, loaded)
            return
        inputs = state["inputs"]
        # outputs: what the cell bound, plus inputs it changed in place (a new version, or the same one)
        names = set(ctx.writes) | (set(inputs) - set(ctx.writes))
        for var, obj in _frames(ctx, names).items():
            if var in ctx.writes and id(obj) in loaded and _unchanged(obj, loaded[id(obj)][1]):
                inputs[var] = loaded.pop(id(obj))[0]  # `df = nbtrack.load("customers")`: an input
                continue
            v = self._snapshot(ctx, var, obj, ctx.run.id)
            if v is not None and (var in ctx.writes or _vid(_ref(v)) != _vid(inputs.get(var))):
                state["outputs"][var] = _ref(v)
        self._link(ctx, state, loaded)

    def _link(self, ctx: CellContext, state: dict, loaded: dict) -> None:
        """Write the cell's lineage: inputs, outputs, and versions loaded but not kept in a variable."""
        other = list(dict.fromkeys(vid for vid, _fp in loaded.values()))
        if not (state["inputs"] or state["outputs"] or other):
            return
        refs = [*state["inputs"].values(), *state["outputs"].values()]
        if any(not isinstance(r, int) for r in refs):  # written with the pending frames' versions
            from .background import job_for  # (capture/background.py)

            job = job_for(ctx)
            for direction, key in (("input", "inputs"), ("output", "outputs")):
                job.links.extend((direction, ref, var) for var, ref in state[key].items())
            job.links.extend(("input", vid, None) for vid in other if vid not in state["inputs"].values())
            return
        from ..store.lineage import link

        with ctx.run.ws.meta.write() as conn:
            for direction, key in (("input", "inputs"), ("output", "outputs")):
                for var, vid in state[key].items():
                    link(conn, ctx.run.id, direction, vid, var)
            for vid in other:
                if vid not in state["inputs"].values():
                    link(conn, ctx.run.id, "input", vid, None)


def _ref(v: Any) -> Any:
    """What the cell's state keeps for a version: its id, or the PendingFrame that will have one."""
    return v if type(v).__name__ == "PendingFrame" else v.id


def _vid(ref: Any) -> Any:
    """A version id when known (a PendingFrame stored meanwhile has one), else the PendingFrame."""
    return ref if ref is None or isinstance(ref, int) or ref.id is None else ref.id


def _name_pending(ctx: CellContext, var: str) -> bool:
    """A version of ``var`` is still pending: this one queues behind it (whatever its size)."""
    background = sys.modules.get("nbtrack.capture.background")
    return background is not None and background.usable(ctx.run) and (
        background.has_pending(ctx.run.ws, "dataset", var)
        or any(f.name == var for f in getattr(ctx.state.get("background"), "frames", ())))


def _background_min(ctx: CellContext) -> float:
    from . import background

    return background.min_bytes() if background.usable(ctx.run) else float("inf")


def _off_the_path(ctx: CellContext, var: str, obj: Any, run_id: str | None, size: int) -> Any:
    """The version of a large frame with the cell paying only its fingerprint: a stored encoding
    is committed now, a new one is left to the background writer (a PendingFrame); None when
    it must be stored on the cell's path (an unusual column type, beyond the memory budget)."""
    from ..snapshot import cache, pending as pending_reads
    from ..snapshot.datasets import check_name, commit_frame
    from ..snapshot.fingerprint import fingerprint
    from . import background

    try:
        fp = fingerprint(obj)
    except Exception:
        return None
    ws, name = ctx.run.ws, check_name(var)
    job = background.job_for(ctx)
    found = job.find(ws, fp, name) or background.lookup(ws, fp, name)
    if found is not None:
        return found.version or found if found.error is None else None
    hit = cache.lookup(ws, fp)
    if hit is not None:
        pending_reads.wait_for("dataset", name)  # an earlier version of `name` still pending: after it
        with ws.meta.write() as conn:
            return commit_frame(conn, ws, name, hit, run_id=run_id, reuse_any=run_id is None)
    if not background.reserve(size, job.bytes) and not any(f.name == name for f in job.frames):
        return None  # stored on the cell's path (after any queued version of `name`, see snapshot_frame)
    pending = background.PendingFrame(ws, name, fp, obj.copy(deep=False), size, run_id, run_id is None,
                                      _on_refused(obj))
    job.frames.append(pending)
    return pending


def _on_refused(obj: Any) -> Any:
    """What the background writer calls when ``obj`` cannot be stored (holds no reference to it)."""
    import weakref

    key = _refusal_key(obj)
    try:
        ref = weakref.ref(obj)
    except TypeError:
        return None

    def refused(reason: str) -> None:
        target = ref()
        if target is not None and _refusal_key(target) == key:
            _remember_refusal(target, key, reason)

    return refused


def _unchanged(obj: Any, fp: str | None) -> bool:
    from ..snapshot.fingerprint import fingerprint

    try:
        return fp is not None and fingerprint(obj) == fp
    except Exception:
        return False


HOOK = DataHook()


# -- %track_restore ------------------------------------------------------------------------
def restore(run_id: str, shell: Any) -> dict[str, str]:
    """Load a run's input datasets into the namespace and its source into the next cell.

    Parameters
    ----------
    run_id : str
        A run id or unique prefix.
    shell : IPython InteractiveShell

    Returns
    -------
    dict
        ``{variable: "name@N"}`` of the frames put back.
    """
    from ..query.lineage import run_lineage
    from ..query.runs import get_run
    from ..snapshot.datasets import version_by_id

    if not run_id.strip():
        raise InvalidInput("usage: %track_restore RUN_ID")
    run = get_run(run_id.strip())
    restored: dict[str, str] = {}
    for item in run_lineage(run.id, workspace=run.workspace)["inputs"]:
        if item["kind"] != "dataset" or not item["variable"]:
            continue
        shell.user_ns[item["variable"]] = version_by_id(item["id"], run.workspace).load()
        restored[item["variable"]] = item["ref"]
    source = run.source
    if source is not None:
        shell.set_next_input(_tracked_source(run, source), replace=False)
    return restored


AUTO_TAGS = {"execution_count", "capture_warnings", "capture_notes"}  # set by the recorder (capture/recorder.py)


def _tracked_source(run: Any, source: str) -> str:
    """The run's cell source with its ``%%track`` line, ready to run again."""
    if run.kind != "cell":
        return source
    # a name the user wrote after %%track is also the cell's history key; derived names are not
    explicit = run.name and (run.cell_key or "").endswith(f"::{run.name}")
    name = run.name if explicit else None
    head = "%%track" + (f" {shlex.quote(name)}" if name else "")
    for k, v in (getattr(run, "tags", None) or {}).items():  # the user's --tag K=V, not nbtrack's own tags
        if k not in AUTO_TAGS and not k.startswith(("nbtrack.", "data_skipped.")):
            head += " --tag " + shlex.quote(f"{k}={v}")
    return f"{head}\n{source.lstrip(chr(10))}"
