"""The cell recorder: what happens around one tracked cell's execution.

The IPython shell (``nbtrack.ipython``) recognises ``%%track``, parses its
options and calls :meth:`CellRecorder.begin` from ``pre_run_cell`` and
:meth:`CellRecorder.finish` from ``post_run_cell`` (figures come from the
display path, see :mod:`.figures`: nothing of ours runs in ``post_execute``); IPython itself runs the cell
body exactly as it would without the magic. Every step is guarded by the
caller: a failure in tracking prints one warning line and never changes what
the cell does.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..context import default_parent, pop, push
from . import hooks as hooks_mod
from .._secrets import PY_BODY_MAGICS, env_secrets, mask_source, namespace_secrets, scrub_text
from .cell import analyze, derive_name
from .figures import FigureCapture
from .stdout import capture_stdout

if TYPE_CHECKING:
    from .run import ActiveRun


def _short_wait() -> float:
    """How long a tracked cell waits for a locked database (the writer's setting)."""
    from .writer import SHORT_WAIT_S  # SQLAlchemy: on the first tracked cell, not at %load_ext

    return SHORT_WAIT_S


@dataclass
class TrackOptions:
    """The options of one tracked cell (``%%track [name] --tag K=V --no-params ...``)."""

    name: str | None = None
    tag: list[str] = field(default_factory=list)
    no_params: bool = False
    no_data: bool = False
    no_models: bool = False
    summary: bool = False
    params: str | None = None  # "a,b": exactly these variables are params
    metrics: str | None = None  # "acc,f1": exactly these variables are metrics
    no_metrics: bool = False


def warn(what: str, e: BaseException | str) -> None:
    detail = e if isinstance(e, str) else f"{type(e).__name__}: {e}"
    detail = str(detail).splitlines()[0] if str(detail) else ""
    print(f"nbtrack: {what} failed ({detail}); the cell ran without tracking it", file=sys.stderr)


def _is_metric(value: Any) -> bool:
    """A finite number a cell computed. Raises for a number that cannot be one (2**1279)."""
    t = type(value)  # never value.__class__: user objects may make it raise
    if issubclass(t, bool):
        return False
    if issubclass(t, (int, float)):
        return math.isfinite(value)
    if t.__module__ == "numpy" and getattr(value, "ndim", None) == 0 and getattr(value, "dtype", None) is not None:
        return value.dtype.kind in "iuf" and bool(math.isfinite(float(value)))
    return False


def _python_body(body: str, shell) -> str | None:
    """The Python under stacked cell magics that run it in the user's namespace
    (``%%time``, ``%%capture x``): what the cell's params and metrics come from,
    on the same line numbers. None when the body starts with no cell magic."""
    lines = body.split("\n")
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i == len(lines) or not lines[i].startswith("%%"):
        return None
    while i < len(lines) and lines[i].startswith("%%"):
        if lines[i][2:].split(None, 1)[:1] not in ([m] for m in PY_BODY_MAGICS - {"timeit"}):
            return "\n"  # %%bash, %%html, %%timeit …: no Python that binds names here
        lines[i] = ""
        i += 1
    return shell.transform_cell("\n" + "\n".join(lines))


def notebook_path(user_ns: dict) -> str | None:
    for var in ("NBTRACK_NOTEBOOK", "JPY_SESSION_NAME"):
        p = os.environ.get(var)
        if p:
            return p
    p = user_ns.get("__vsc_ipynb_file__")
    return str(p) if p else None


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _param_value(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "ndim", None) == 0:
        return item()
    return repr(value)[:200]


MAX_SCORE_ARRAY = 1000


def _log_metric_value(run, name: str, value: Any) -> None:
    """A number is one metric; a 1-d array of scores (``cross_val_score``) is its mean and std."""
    if _is_metric(value):
        run.log_metric(name, value, step=0)
        return
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 1 \
            and 0 < len(value) <= MAX_SCORE_ARRAY and value.dtype.kind in "iuf":
        import numpy as np

        if np.isfinite(value).all():
            run.log_metric(f"{name}.mean", float(value.mean()), step=0)
            run.log_metric(f"{name}.std", float(value.std()), step=0)


def _fallback_name(ctx, body: str) -> str | None:
    """No comment or title: the model variables the cell stored, else its first code line."""
    models = ctx.state.get("models_logged") or []
    if models:
        return ", ".join(models)[:60]
    for line in body.splitlines():
        s = line.strip()
        if s and not s.startswith(("#", "%", "!")):  # code, not a comment or a magic/shell line
            return s if len(s) <= 40 else s[:39] + "\u2026"
    return None


class _Cell:
    """State of one tracked cell between pre_run_cell and post_run_cell."""

    def __init__(self, args, body: str, source: str, info, run, hooks_ctx) -> None:
        self.args, self.body, self.source, self.info, self.run, self.ctx = args, body, source, info, run, hooks_ctx
        self.masked = body  # the body with secrets masked (set by begin)
        self.figures: Any = None  # FigureCapture, set by begin
        self.stdout: Any = None


class CellRecorder:
    """Records the tracked cell that is running in ``shell`` (one at a time)."""

    def __init__(self, shell) -> None:
        self.shell = shell
        self.cell: _Cell | None = None
        self._starting: ActiveRun | None = None  # the run begin() is creating (for Ctrl-C)

    @property
    def active(self) -> bool:
        return self.cell is not None

    def begin(self, args: Any, body: str, cell_id: str | None, transformed: str | None = None) -> None:
        """Start the run of a cell whose ``%%track`` line was parsed into ``args``."""
        from .run import ActiveRun  # SQLAlchemy: on the first tracked cell, not at %load_ext

        # IPython already transformed the cell (magic line blanked): reuse it when it says so
        source = transformed if transformed is not None else self.shell.transform_cell(body)
        info = analyze(_python_body(body, self.shell) or source)
        ns = self.shell.user_ns
        notebook = notebook_path(ns)
        # the transformed cell is usually the body under a blank line: reuse its parse tree
        tree = info.tree if source == "\n" + body else None
        masked, secrets = mask_source(body, tree, line_offset=1)
        # a derived name comes from the masked source: it never holds a secret
        derived = scrub_text(derive_name(masked, info.tree), secrets) if not args.name else None
        ws_run = ActiveRun(args.name or derived, "cell", parent_id=default_parent(), notebook=notebook,
                           cell_id=cell_id)
        from .cell_key import cell_key  # SQLAlchemy: on the first tracked cell, not at %load_ext

        ws_run.fields["cell_key"] = cell_key(ws_run.ws, notebook, args.name, cell_id, masked,
                                             getattr(self.shell, "execution_count", None))
        self._starting = ws_run
        ws_run.secrets = secrets
        ws_run.fields["source_oid"] = ws_run.put_object(masked.encode("utf-8", "replace"))
        ws_run.fields["reads"] = json.dumps(sorted(info.reads))
        ws_run.fields["writes"] = json.dumps(sorted(info.writes))
        for tag in args.tag:
            k, sep, v = tag.partition("=")
            if not sep:
                raise ValueError(f"--tag expects KEY=VALUE, got {tag!r}")
            ws_run.set_tag(k.strip(), v.strip())
        # loop variables are neither datasets nor models of the cell
        loop = info.loop_vars | info.loop_only
        ctx = hooks_mod.CellContext(ws_run, ns, source, info.reads, info.writes - loop, args)
        ctx.state["loop_vars"] = loop
        cell = _Cell(args, body, source, info, ws_run, ctx)
        cell.masked = masked
        with ws_run.ws.meta.busy_timeout(_short_wait()):  # a locked database never freezes the cell
            for hook in hooks_mod.hooks():
                try:
                    hook.before(ctx)
                except Exception as e:
                    ctx.warnings.append(f"{hook.name} ({type(e).__name__}: {e})")
            ws_run.start()
        push(ws_run)
        self.cell = cell
        self._starting = None
        cell.figures = FigureCapture(ws_run)
        cell.figures.start()
        cell.stdout = capture_stdout()
        cell.stdout.start()

    def finish(self, result) -> ActiveRun | None:
        """Record what the cell did and end its run; the run, or None when there was none or
        recording it failed (the run is then marked ``capture_failed``)."""
        cell = self.cell
        if cell is None:
            return None
        try:
            if cell.figures is not None:
                cell.ctx.warnings.extend(f"saving {w}" for w in cell.figures.finish())
        except Exception as e:
            cell.ctx.warnings.append(f"saving figures ({type(e).__name__}: {e})")
        try:
            try:
                with cell.run.ws.meta.busy_timeout(_short_wait()):  # a locked database never freezes the cell
                    self._finish(cell, result)
            except Exception as e:
                self._capture_failed(cell, e)
                return None
            finally:
                self.abort()
                job = cell.ctx.state.get("background")
                if job is not None and not job.submitted:  # recording failed: its frames are not stored
                    from .background import abandon

                    abandon(job, "the run was not recorded")
        except KeyboardInterrupt as e:  # Ctrl-C while recording: close the run, one line, no traceback
            self._interrupted(cell, e)
            return None
        return cell.run

    def _finish(self, cell: _Cell, result) -> None:
        run, ns, ctx = cell.run, self.shell.user_ns, cell.ctx
        text = cell.stdout.stop() if cell.stdout else ""
        error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
        ctx.error = error
        notes: list[str] = []  # values skipped: noted on the run, the rest is recorded
        self._params_and_metrics(cell, result, notes)
        for hook in hooks_mod.hooks():
            try:
                hook.after(ctx)
            except Exception as e:
                ctx.warnings.append(f"{hook.name} ({type(e).__name__}: {e})")
        fields: dict[str, Any] = {}
        if run.name is None:
            fields["name"] = run.name = scrub_text(_fallback_name(ctx, cell.masked), run.secrets)
        if text:
            run.secrets += namespace_secrets(ns) + env_secrets()
            fields["stdout_oid"] = run.put_object(scrub_text(text, run.secrets).encode("utf-8", "replace"))
        count = getattr(result, "execution_count", None)
        if count is not None:
            run.set_tag("execution_count", count)
        if ctx.warnings:
            run.set_tag("capture_warnings", "; ".join(ctx.warnings)[:2000])
        if notes:
            run.set_tag("capture_notes", "; ".join(notes)[:2000])
        pop(run)
        status = "finished" if error is None else "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
        job = ctx.state.get("background")
        if job is not None and job.waits():  # snapshots still being stored: see capture/background.py
            from ..store.runs import PENDING_SNAPSHOTS_TAG
            from .background import submit

            run.set_tag(PENDING_SNAPSHOTS_TAG, job.lost())
            job.status = status
            run.end("snapshotting", error, **fields)
            submit(job)
        else:
            run.end(status, error, **fields)
        lines = []  # at most one line for the user, whatever happened
        if ctx.warnings:
            lines.append(f"capturing {'; '.join(ctx.warnings)} failed; the run was recorded without it")
        if run.deferred:
            lines.append("the metadata database is locked: the run is kept and written as soon as it is free")
        if lines:
            print("nbtrack: " + "; ".join(lines), file=sys.stderr)

    def _params_and_metrics(self, cell: _Cell, result, notes: list[str]) -> None:
        """Params and metrics of the cell (docs/track.md says the rules and the overrides)."""
        run, ns, info, args = cell.run, self.shell.user_ns, cell.info, cell.args
        params: dict[str, Any] = {}
        if getattr(args, "params", None) is not None:
            params = {n: _param_value(ns[n]) for n in _names(args.params) if n in ns}
        elif not args.no_params:
            params = info.params
        for k, v in params.items():
            try:
                run.log_param(k, v)
            except Exception as e:
                notes.append(f"param {k[:60]!r} skipped ({type(e).__name__})")
        if getattr(args, "metrics", None) is not None:
            names = _names(args.metrics)
        elif getattr(args, "no_metrics", False):
            return
        else:
            names = sorted(info.metric_names - set(info.params))
        shown = getattr(result, "result", None)
        values = [(n, ns.get(n)) for n in names]
        if getattr(args, "metrics", None) is None and info.display and info.display not in names and _is_metric(shown):
            values.append((info.display, shown))
        for name, value in values:
            try:
                _log_metric_value(run, name, value)
            except Exception as e:
                notes.append(f"metric {name[:60]!r} skipped ({type(e).__name__})")

    def _capture_failed(self, cell: _Cell, e: BaseException) -> None:
        from ..store.runs import update_run  # SQLAlchemy: see begin()

        run = cell.run
        pop(run)
        message = scrub_text(f"capture failed: {e}", run.secrets)[:4000]

        def mark() -> None:
            with run.ws.meta.write() as conn:
                update_run(conn, run.id, status="capture_failed", ended=time.time(),
                           error_type=type(e).__name__, error_message=message)

        try:
            if run.row_written:
                with run.ws.meta.busy_timeout(_short_wait()):
                    run._write(mark, "capture_failed")
            run.ended = True
        except Exception:
            pass
        warn("recording the run", e)

    def _interrupted(self, cell: _Cell, e: KeyboardInterrupt) -> None:
        run = cell.run
        pop(run)
        try:
            if run.row_written and not run.ended:
                with run.ws.meta.busy_timeout(_short_wait()):
                    run.end("interrupted", e)
        except BaseException:
            pass
        print("nbtrack: interrupted while recording the run; it was closed as interrupted", file=sys.stderr)

    def abort(self) -> None:
        """Forget the current cell (its run is left as it is); idempotent."""
        cell, self.cell = self.cell, None
        if cell is not None and cell.stdout is not None:
            cell.stdout.stop()
        if cell is not None and cell.figures is not None:
            cell.figures.abort()
        if cell is not None and not cell.run.ended:
            pop(cell.run)

    def interrupted_at_start(self) -> None:
        """Ctrl-C while the run was starting: close it if its row exists, forget the cell."""
        run = self.cell.run if self.cell is not None else self._starting
        self._starting = None
        self.abort()
        if run is not None and run.row_written and not run.ended:
            try:
                with run.ws.meta.busy_timeout(_short_wait()):
                    run.end("interrupted")
            except BaseException:
                pass
