"""Drawing a :class:`~nbtrack.lineage.LineageGraph` with matplotlib (layered, left to right)."""

from __future__ import annotations

from typing import Any

KIND_COLORS = {"run": "#4C72B0", "dataset": "#55A868", "model": "#C44E52"}


def layers(nodes: list[str], edges: set[tuple[str, str, str]]) -> dict[str, int]:
    """Column of each node: the longest path from a source (cycles are cut)."""
    col = dict.fromkeys(nodes, 0)
    for _ in range(len(nodes)):  # Bellman-Ford style relaxation, at most |V| rounds
        changed = False
        for s, t, _rel in edges:
            if col[t] < col[s] + 1 <= len(nodes):
                col[t] = col[s] + 1
                changed = True
        if not changed:
            break
    return col


def plot_graph(graph: Any, ax: Any = None):
    """Draw ``graph``; return the Figure (``ax`` to draw into an existing Axes)."""
    import matplotlib

    if ax is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(8, 4))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    names = sorted(graph.nodes)
    col = layers(names, graph.edges)
    rows: dict[int, int] = {}
    pos: dict[str, tuple[float, float]] = {}
    for n in sorted(names, key=lambda n: (col[n], graph.nodes[n]["label"])):
        r = rows.get(col[n], 0)
        rows[col[n]] = r + 1
        pos[n] = (float(col[n]), -float(r))
    for s, t, rel in sorted(graph.edges):
        (x0, y0), (x1, y1) = pos[s], pos[t]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops={"arrowstyle": "->", "color": "0.5", "shrinkA": 18, "shrinkB": 18})
        ax.text((x0 + x1) / 2, (y0 + y1) / 2, rel, fontsize=7, color="0.4", ha="center", va="bottom")
    for n, (x, y) in pos.items():
        kind = graph.nodes[n]["kind"]
        edge = "black" if n == graph.root else "none"
        ax.text(x, y, graph.nodes[n]["label"], ha="center", va="center", fontsize=8, color="white",
                bbox={"boxstyle": "round,pad=0.4", "fc": KIND_COLORS.get(kind, "0.5"), "ec": edge, "lw": 1.5})
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    ax.set_xlim(min(xs) - 0.7, max(xs) + 0.7)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
    ax.set_axis_off()
    handles = [matplotlib.patches.Patch(color=c, label=k) for k, c in KIND_COLORS.items()]
    ax.legend(handles=handles, loc="upper right", fontsize=7, frameon=False)
    ax.set_title(f"lineage of {graph.nodes[graph.root]['label']}", fontsize=9)
    return fig
