"""``%%track``: every execution of a cell becomes a run.

The cell is *not* re-run by the magic. An input transformer blanks the
``%%track`` line (keeping line numbers), IPython runs the body exactly as it
would without the magic (display, ``_``, history, exceptions, execution count),
and the ``pre_run_cell`` / ``post_execute`` / ``post_run_cell`` events record
the run around it. Every step is guarded: a failure in tracking prints one
warning line and never changes what the cell does.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

_MAGIC_LINE = re.compile(r"^%%track(\s|$)")


def warn(what: str, e: BaseException | str) -> None:
    detail = e if isinstance(e, str) else f"{type(e).__name__}: {e}"
    detail = str(detail).splitlines()[0] if str(detail) else ""
    print(f"nbtrack: {what} failed ({detail}); the cell ran without tracking it", file=sys.stderr)


def blank_magic_line(lines: list[str]) -> list[str]:
    """Input transformer: `%%track ...` on the first line becomes an empty line."""
    if lines and _MAGIC_LINE.match(lines[0]):
        return ["\n", *lines[1:]]
    return lines


def _is_metric(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    mod = type(value).__module__
    if mod == "numpy" and getattr(value, "ndim", None) == 0 and getattr(value, "dtype", None) is not None:
        return value.dtype.kind in "iuf" and bool(math.isfinite(float(value)))
    return False


def notebook_path(user_ns: dict) -> str | None:
    for var in ("NBTRACK_NOTEBOOK", "JPY_SESSION_NAME"):
        p = os.environ.get(var)
        if p:
            return p
    p = user_ns.get("__vsc_ipynb_file__")
    return str(p) if p else None


def _title(source: str) -> str | None:
    for line in source.splitlines():
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            return s.lstrip("#").strip()[:120] or None
        return None
    return None


class _Cell:
    """State of one tracked cell between pre_run_cell and post_run_cell."""

    def __init__(self, args, body: str, source: str, info, run, hooks_ctx) -> None:
        self.args, self.body, self.source, self.info, self.run, self.ctx = args, body, source, info, run, hooks_ctx
        self.figs_before: set[int] = set()
        self.stdout = None
        self.figures_done = False


@magics_class
class TrackMagics(Magics):
    def __init__(self, shell) -> None:
        super().__init__(shell)
        self.cell: _Cell | None = None

    # -- the magics ---------------------------------------------------------------
    @magic_arguments()
    @argument("name", nargs="?", default=None, help="run name; also names the cell's history")
    @argument("--tag", action="append", default=[], metavar="K=V", help="tag the run (repeatable)")
    @argument("--no-params", action="store_true", help="do not log literal assignments as params")
    @argument("--no-data", action="store_true", help="do not snapshot DataFrames the cell reads or writes")
    @argument("--no-models", action="store_true", help="do not store fitted scikit-learn models as model versions")
    @argument("--summary", action="store_true", help="show a one-line summary of the run")
    @cell_magic
    def track(self, line: str, cell: str) -> None:
        """Record this cell's execution as a run: code, params, metrics, figures, stdout.

        Literal top-level assignments (``lr = 0.1``) are params, numbers the cell
        computes are metrics, new matplotlib figures are PNG artifacts. Use
        ``nbtrack.log_metric`` etc. inside the cell for anything else.
        """
        # Reached only when called programmatically (run_cell_magic): normally the
        # input transformer removes the magic line and the events do the work.
        self.shell.run_cell(f"%%track {line}\n{cell}", store_history=False)

    # -- data: %track_restore (snapshot stage; logic in capture/data_hook.py) --------------
    @line_magic
    def track_restore(self, line: str) -> None:
        """%track_restore RUN_ID: load the run's input DataFrames back under their variable
        names and put its cell source into the next input cell, ready to run again."""
        from IPython.core.error import UsageError

        from ..errors import NbtrackError
        from .data_hook import restore

        try:
            restored = restore(line, self.shell)
        except NbtrackError as e:
            raise UsageError(str(e)) from None
        done = ", ".join(f"{var} = {ref}" for var, ref in restored.items()) or "no input datasets"
        print(f"nbtrack: restored {done}; the run's code is in the next cell")

    @line_magic
    def track_runs(self, line: str):
        """Show the runs table (same arguments as nbtrack.runs: a filter expression)."""
        from ..query import runs

        return runs(filter=line.strip() or None)

    # -- ui: the version browser and quick views (logic in nbtrack/ui) -----------------------
    @line_magic
    def track_browser(self, line: str):
        """%track_browser [NOTEBOOK | *]: the version browser widget (this notebook's runs; * for all)."""
        from ..ui import browser
        from .data_hook import restore

        nb = line.strip() or notebook_path(self.shell.user_ns) or ""
        return browser(notebook="" if nb == "*" else nb, restore=lambda run_id: restore(run_id, self.shell))

    @magic_arguments()
    @argument("cell", nargs="?", default=None, help="cell (%%track NAME) or run name; default: the last tracked cell")
    @argument("-a", type=int, default=None, help="diff from this version (default: the one before -b)")
    @argument("-b", type=int, default=None, help="diff to this version (default: the latest)")
    @line_magic
    def track_history(self, line: str):
        """Versions of a tracked cell with their metrics and a code diff (HTML, or text outside notebooks)."""
        from IPython.core.error import UsageError

        from ..errors import NbtrackError
        from ..ui import history

        args = parse_argstring(self.track_history, line)
        try:
            return history(args.cell, notebook_path(self.shell.user_ns), a=args.a, b=args.b)
        except NbtrackError as e:
            raise UsageError(str(e)) from None

    @line_magic
    def track_compare(self, line: str):
        """%track_compare RUN RUN ...: params and metrics side by side, differences highlighted, with plots."""
        from IPython.core.error import UsageError

        from ..errors import NbtrackError
        from ..ui import compare

        try:
            return compare(*line.split())
        except NbtrackError as e:
            raise UsageError(str(e)) from None

    # -- events ---------------------------------------------------------------------
    def pre_run_cell(self, info) -> None:
        raw = getattr(info, "raw_cell", "") or ""
        if not _MAGIC_LINE.match(raw.lstrip("\n")):
            return
        if self.cell is not None:  # a tracked cell that runs a tracked cell: track the outer one only
            return
        try:
            self._begin(raw.lstrip("\n"), getattr(info, "cell_id", None), getattr(info, "transformed_cell", None))
        except Exception as e:
            self._abort()
            warn("starting the run", e)

    def post_execute(self) -> None:
        cell = self.cell
        if cell is None or cell.figures_done:
            return
        cell.figures_done = True
        try:
            self._save_figures(cell)
        except Exception as e:
            cell.ctx.warnings.append(f"saving figures ({type(e).__name__}: {e})")

    def post_run_cell(self, result) -> None:
        cell = self.cell
        if cell is None:
            return
        self.post_execute()
        try:
            self._finish(cell, result)
        except Exception as e:
            self._capture_failed(cell, e)
        finally:
            self._abort()

    # -- steps ----------------------------------------------------------------------
    def _begin(self, raw: str, cell_id: str | None, transformed: str | None = None) -> None:
        from . import hooks as hooks_mod
        from .cell import analyze, mask_secrets
        from .run import ActiveRun, default_parent, push
        from .stdout import capture_stdout

        first, _, body = raw.partition("\n")
        try:
            args = parse_argstring(self.track, first[len("%%track"):])
        except Exception as e:
            raise ValueError(f"bad %%track arguments: {e}") from None
        # IPython already transformed the cell (magic line blanked): reuse it when it says so
        source = transformed if transformed is not None else self.shell.transform_cell(body)
        info = analyze(source)
        ns = self.shell.user_ns
        notebook = notebook_path(ns)
        label = args.name or cell_id or (body.strip().splitlines() or [""])[0][:200]
        ws_run = ActiveRun(
            args.name or _title(body),
            "cell",
            parent_id=default_parent(),
            notebook=notebook,
            cell_id=cell_id,
            cell_key=f"{notebook or ''}::{label}",
        )
        # the transformed cell is usually the body under a blank line: reuse its parse tree
        tree = info.tree if source == "\n" + body else None
        ws_run.fields["source_oid"] = ws_run.put_object(mask_secrets(body, tree, line_offset=1).encode())
        ws_run.fields["reads"] = json.dumps(sorted(info.reads))
        ws_run.fields["writes"] = json.dumps(sorted(info.writes))
        for tag in args.tag:
            k, sep, v = tag.partition("=")
            if not sep:
                raise ValueError(f"--tag expects KEY=VALUE, got {tag!r}")
            ws_run.set_tag(k.strip(), v.strip())
        ctx = hooks_mod.CellContext(ws_run, ns, source, info.reads, info.writes, args)
        cell = _Cell(args, body, source, info, ws_run, ctx)
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            cell.figs_before = set(plt.get_fignums())
        for hook in hooks_mod.hooks():
            try:
                hook.before(ctx)
            except Exception as e:
                ctx.warnings.append(f"{hook.name} ({type(e).__name__}: {e})")
        ws_run.start()
        push(ws_run)
        self.cell = cell
        self._put_first("post_execute", self.post_execute)
        cell.stdout = capture_stdout()
        cell.stdout.start()

    def _put_first(self, event: str, fn) -> None:
        # matplotlib-inline shows and closes figures in its own post_execute
        # callback: ours must run before it to save them.
        cbs = self.shell.events.callbacks[event]
        if cbs and cbs[0] != fn:
            try:
                cbs.remove(fn)
            except ValueError:
                pass
            cbs.insert(0, fn)

    def _save_figures(self, cell: _Cell) -> None:
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is None:
            return
        new = [n for n in plt.get_fignums() if n not in cell.figs_before]
        for n in new:
            fig = plt.figure(n) if n in plt.get_fignums() else None
            if fig is not None:
                cell.run.log_artifact(fig, name=f"figure-{n}.png")

    def _finish(self, cell: _Cell, result) -> None:
        from . import hooks as hooks_mod

        run, ns, ctx = cell.run, self.shell.user_ns, cell.ctx
        text = cell.stdout.stop() if cell.stdout else ""
        error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
        ctx.error = error
        if not cell.args.no_params:
            run.log_params(cell.info.params)
        for name in sorted(cell.info.assigned - set(cell.info.params)):
            if name.startswith("_"):
                continue
            value = ns.get(name)
            if _is_metric(value):
                run.log_metric(name, value, step=0)
        for hook in hooks_mod.hooks():
            try:
                hook.after(ctx)
            except Exception as e:
                ctx.warnings.append(f"{hook.name} ({type(e).__name__}: {e})")
        fields: dict[str, Any] = {}
        if text:
            fields["stdout_oid"] = run.put_object(text.encode())
        count = getattr(result, "execution_count", None)
        if count is not None:
            run.set_tag("execution_count", count)
        if ctx.warnings:
            run.set_tag("capture_warnings", "; ".join(ctx.warnings)[:2000])
        from .run import pop

        pop(run)
        if error is None:
            run.end("finished", **fields)
        elif isinstance(error, KeyboardInterrupt):
            run.end("interrupted", error, **fields)
        else:
            run.end("failed", error, **fields)
        for w in ctx.warnings:
            print(f"nbtrack: capturing {w} failed; the run was recorded without it", file=sys.stderr)
        if cell.args.summary or os.environ.get("NBTRACK_SUMMARY") == "1":
            self._summary(run)

    def _summary(self, run) -> None:
        try:
            from ..ui.summary import show_summary
        except ImportError:
            print(f"nbtrack: run {run.id} {run.status}")
            return
        show_summary(run.id)

    def _capture_failed(self, cell: _Cell, e: BaseException) -> None:
        from .run import pop
        from ..store.runs import update_run

        pop(cell.run)
        try:
            with cell.run.ws.meta.write() as conn:
                update_run(
                    conn, cell.run.id, status="capture_failed", ended=time.time(),
                    error_type=type(e).__name__, error_message=f"capture failed: {e}"[:4000],
                )
            cell.run.ended = True
        except Exception:
            pass
        warn("recording the run", e)

    def _abort(self) -> None:
        cell, self.cell = self.cell, None
        if cell is not None and cell.stdout is not None:
            cell.stdout.stop()
        if cell is not None and not cell.run.ended:
            from .run import pop

            pop(cell.run)


def load(shell) -> TrackMagics:
    """Register the magics, the input transformer and the events (idempotent)."""
    existing = getattr(shell, "_nbtrack_magics", None)
    if existing is not None:
        return existing
    magics = TrackMagics(shell)
    shell.register_magics(magics)
    transforms = shell.input_transformer_manager.line_transforms
    if blank_magic_line not in transforms:
        transforms.insert(0, blank_magic_line)
    shell.events.register("pre_run_cell", magics.pre_run_cell)
    shell.events.register("post_execute", magics.post_execute)
    shell.events.register("post_run_cell", magics.post_run_cell)
    shell._nbtrack_magics = magics
    from . import env

    env.start_background()
    from . import data_hook, hooks, model_hook  # model hook last: it reads the data hook's ctx.state["datasets"]

    hooks.register(data_hook.HOOK)
    hooks.register(model_hook.HOOK)
    return magics


def unload(shell) -> None:
    magics = getattr(shell, "_nbtrack_magics", None)
    if magics is None:
        return
    for event, fn in (("pre_run_cell", magics.pre_run_cell), ("post_execute", magics.post_execute),
                      ("post_run_cell", magics.post_run_cell)):
        try:
            shell.events.unregister(event, fn)
        except ValueError:
            pass
    transforms = shell.input_transformer_manager.line_transforms
    if blank_magic_line in transforms:
        transforms.remove(blank_magic_line)
    del shell._nbtrack_magics
