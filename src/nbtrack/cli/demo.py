"""``nbtrack demo``: run the quickstart notebook in a fresh workspace and show its runs."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path

import click

from . import cli


def quickstart_path() -> Path:
    here = Path(__file__).resolve().parent.parent
    for p in (here / "examples" / "quickstart.ipynb", here.parent.parent / "notebooks" / "quickstart.ipynb"):
        if p.is_file():
            return p
    raise click.ClickException("the quickstart notebook is missing from this installation")


@cli.command()
@click.option("--keep", type=click.Path(file_okay=False),
              help="run in this folder and keep it (default: a temp folder)")
@click.option("--timeout", type=click.FloatRange(min=1), default=600.0, show_default=True, help="seconds per cell")
def demo(keep: str | None, timeout: float) -> None:
    """Execute the quickstart notebook (a real scikit-learn experiment) in a new
    workspace with a real kernel, then print the runs it recorded."""
    import nbformat
    from nbclient import NotebookClient

    from ..pipeline.kernels import kernel_manager_class, socket_folder
    from ..query import runs
    from ..workspace import use_workspace
    from .output import echo, print_frame
    from .runs import compact

    folder = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="nbtrack-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    nb_path = folder / "quickstart.ipynb"
    shutil.copy(quickstart_path(), nb_path)
    nb = nbformat.read(nb_path, as_version=4)
    env_before = dict(os.environ)
    os.environ["NBTRACK_URI"] = str(folder / ".nbtrack")
    os.environ["NBTRACK_NOTEBOOK"] = str(nb_path)
    sockets = socket_folder()  # the kernel talks over private Unix sockets, as pipeline kernels do
    try:
        echo(f"executing {nb_path} ...", err=True)
        NotebookClient(nb, timeout=int(math.ceil(timeout)), kernel_name="python3",
                       resources={"metadata": {"path": str(folder)}},
                       kernel_manager_class=kernel_manager_class({}, sockets)).execute()
        nbformat.write(nb, nb_path)
        use_workspace(folder / ".nbtrack")
        df = runs(order_by="started")
        cols = [c for c in ("id", "name", "kind", "status", "cell_version", "duration") if c in df]
        # the notebook's own params and metrics; estimator hyper-parameters (params.clf.*) stay in `nbtrack runs show`
        cols += [c for c in df.columns if c.startswith(("params.", "metrics.")) and "." not in c.split(".", 1)[1]
                 and df[c].notna().any()]
        print_frame(compact(df[cols]), title=f"{len(df)} runs recorded in {folder}/.nbtrack")
        if keep:
            echo(f"\nexecuted notebook: {nb_path}\nexplore: cd {folder} && nbtrack runs && nbtrack runs show <id>")
        else:
            echo("\n(a temporary workspace, now removed: nbtrack demo --keep FOLDER keeps it to explore)")
    finally:
        if sockets:
            shutil.rmtree(sockets, ignore_errors=True)
        os.environ.clear()
        os.environ.update(env_before)
        use_workspace(None)
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
