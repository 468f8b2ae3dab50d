"""Re-executing one tracked cell in a fresh kernel, with its recorded inputs restored."""

from __future__ import annotations

import os
import shutil
import tempfile
import time

from sqlalchemy import select

from ..errors import InvalidInput, NotebookExecutionError
from ..store.schema import runs as runs_t, tags
from ..workspace import Workspace
from .execute import execute

TAG = "nbtrack.reproduces"


def recorded_inputs(ws: Workspace, run_id: str) -> dict[str, str]:
    """``{variable: "dataset@version"}`` for each input dataset version the run read (its lineage)."""
    from ..query.lineage import run_lineage

    items = run_lineage(run_id, workspace=ws)["inputs"]
    return {i["variable"]: i["ref"] for i in items
            if i["kind"] == "dataset" and i["variable"] and i["variable"].isidentifier()}


def cell_notebook(source: str, inputs: dict[str, str], run_id: str):
    """A notebook that restores ``inputs`` then runs ``source`` as a tracked cell."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    restore = "\n".join(f"{var} = _nbtrack.load({ref!r})" for var, ref in sorted(inputs.items()))
    cells = [new_code_cell("%load_ext nbtrack\nimport nbtrack as _nbtrack\n" + restore),
             new_code_cell(f"%%track --tag {TAG}={run_id}\n{source}")]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(nb)


def _new_run(ws: Workspace, old_id: str, since: float) -> str | None:
    q = (select(runs_t.c.id).join(tags, tags.c.run_id == runs_t.c.id)
         .where(tags.c.key == TAG, tags.c.value == old_id, runs_t.c.started >= since)
         .order_by(runs_t.c.started.desc()).limit(1))
    with ws.meta.read() as conn:
        return conn.execute(q).scalar()


def rerun_cell(ws: Workspace, old, timeout: float | None) -> str:
    """Execute cell run ``old`` again; return the new run's id."""
    from .run import kernel_env

    if not old.source:
        raise InvalidInput(f"run {old.id} has no recorded source to execute")
    inputs = recorded_inputs(ws, old.id)
    tmp = tempfile.mkdtemp(prefix="nbtrack-reproduce-")
    src, out = os.path.join(tmp, "cell.ipynb"), os.path.join(tmp, "executed.ipynb")
    since = time.time() - 1
    try:
        with open(src, "w") as f:
            f.write(cell_notebook(old.source, inputs, old.id))
        env = kernel_env(ws, "", old.notebook or src, {})
        try:
            execute(src, out, {}, cwd=tmp, env=env, timeout=timeout)
        except NotebookExecutionError as e:
            missing = sorted(set(old.reads) - set(inputs))
            hint = (f"; the cell reads {', '.join(missing)}, which were not recorded as dataset inputs "
                    "(re-run the notebook, or approve it as a pipeline)") if missing else ""
            raise NotebookExecutionError(str(e) + hint, **e.fields) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    new_id = _new_run(ws, old.id, since)
    if new_id is None:
        raise NotebookExecutionError(f"the cell of run {old.id} ran but recorded no run")
    return new_id
