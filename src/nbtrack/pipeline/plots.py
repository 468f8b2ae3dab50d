"""The sweep comparison plot: the selected metric against each swept parameter."""

from __future__ import annotations

import json

from ..errors import InvalidInput
from ..workspace import Workspace


def _swept(workspace: Workspace | None, sweep_id: str) -> list[str]:
    from ..query.runs import get_run

    sweep = get_run(sweep_id, workspace=workspace)
    if sweep.kind != "sweep":
        raise InvalidInput(f"run {sweep.id} is a {sweep.kind} run, not a sweep")
    names = []
    for k, v in sweep.params.items():
        if isinstance(v, list) or (isinstance(v, str) and v.startswith("[")):
            names.append(k)
    return names


def _numeric(values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def plot_sweep(sweep_id: str, metric: str, workspace: Workspace | None = None):
    """One panel per swept parameter: ``metric`` of each run against the parameter's value.

    Numeric parameters spanning two decades or more get a log axis; others are
    categories. Failed runs (no metric) are left out.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    from ..query.runs import get_run, runs

    sweep_id = get_run(sweep_id, workspace=workspace).id
    df = runs(parent=sweep_id, workspace=workspace)
    col = f"metrics.{metric}"
    if col not in df.columns:
        raise InvalidInput(f"no run of sweep {sweep_id} logged metric {metric!r}")
    names = [n for n in _swept(workspace, sweep_id) if f"params.{n}" in df.columns]
    df = df[df[col].notna()]
    fig = Figure(figsize=(4 * max(1, len(names)), 3.2), layout="constrained")
    axes = fig.subplots(1, max(1, len(names)), squeeze=False)[0]
    for ax, name in zip(axes, names):
        xs, ys = list(df[f"params.{name}"]), [float(v) for v in df[col]]
        if _numeric(xs):
            ax.scatter(xs, ys)
            pos = [x for x in xs if x > 0]
            if len(pos) == len(xs) and pos and max(pos) / min(pos) >= 100:
                ax.set_xscale("log")
        else:
            labels = sorted({json.dumps(x) if not isinstance(x, str) else x for x in xs})
            at = {lab: i for i, lab in enumerate(labels)}
            ax.scatter([at[x if isinstance(x, str) else json.dumps(x)] for x in xs], ys)
            ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel(name)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    fig.suptitle(f"sweep {sweep_id}: {metric}")
    return fig
