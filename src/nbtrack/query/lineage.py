"""Lineage: which runs used and produced which dataset and model versions.

Edges come from the ``lineage`` table (a run's inputs and outputs), from the
producing run of a version (``dataset_versions.run_id``, ``model_versions.run_id``)
and from a model version's training data (``model_versions.dataset_version_id``).
``lineage(x)`` walks them in both directions from a run or a version and returns
the graph as data; :meth:`LineageGraph.plot` draws it with matplotlib.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ..errors import InvalidInput, NotFound
from ..store.schema import dataset_versions, datasets, lineage as lineage_t, model_versions, models, runs
from ..workspace import Workspace, get_workspace
from .ids import resolve_run_id
from .lineage_plot import plot_graph


def _edge_rows(conn: Connection, where: Any) -> list[dict[str, Any]]:
    q = (select(lineage_t.c.run_id, lineage_t.c.direction, lineage_t.c.variable,
                lineage_t.c.dataset_version_id, lineage_t.c.model_version_id,
                datasets.c.name.label("dname"), dataset_versions.c.version.label("dver"),
                models.c.name.label("mname"), model_versions.c.version.label("mver"))
         .select_from(lineage_t
                      .outerjoin(dataset_versions, dataset_versions.c.id == lineage_t.c.dataset_version_id)
                      .outerjoin(datasets, datasets.c.id == dataset_versions.c.dataset_id)
                      .outerjoin(model_versions, model_versions.c.id == lineage_t.c.model_version_id)
                      .outerjoin(models, models.c.id == model_versions.c.model_id))
         .where(where).order_by(lineage_t.c.id))
    return [dict(r._mapping) for r in conn.execute(q)]


def _item(r: dict[str, Any]) -> dict[str, Any]:
    if r["dataset_version_id"] is not None:
        return {"kind": "dataset", "ref": f"{r['dname']}@{r['dver']}", "id": r["dataset_version_id"],
                "variable": r["variable"]}
    return {"kind": "model", "ref": f"{r['mname']}@{r['mver']}", "id": r["model_version_id"],
            "variable": r["variable"]}


def run_items(conn: Connection, run_id: str) -> dict[str, list[dict[str, Any]]]:
    """A run's inputs and outputs read with ``conn`` (``run_id`` must be a full id)."""
    out: dict[str, list[dict[str, Any]]] = {"inputs": [], "outputs": []}
    for r in _edge_rows(conn, lineage_t.c.run_id == run_id):
        out["inputs" if r["direction"] == "input" else "outputs"].append(_item(r))
    return out


def refs(items: list[dict[str, Any]]) -> list[str]:
    """Lineage items as refs: ``"raw@2"`` for datasets, ``"model:clf@1"`` for models."""
    return [i["ref"] if i["kind"] == "dataset" else f"model:{i['ref']}" for i in items]


def run_lineage(run_id: str, workspace: Workspace | None = None) -> dict[str, list[dict[str, Any]]]:
    """A run's inputs and outputs.

    Returns
    -------
    dict
        ``{"inputs": [...], "outputs": [...]}``; each item has ``kind`` (dataset or
        model), ``ref`` (``name@N``), ``id`` (version id) and ``variable``.
    """
    ws = workspace or get_workspace(create=False)
    with ws.meta.read() as conn:
        return run_items(conn, resolve_run_id(conn, run_id))


# -- the graph -----------------------------------------------------------------------
@dataclass
class LineageGraph:
    """Runs, dataset versions and model versions (nodes) and how they connect (edges).

    Node ids are ``"run:<id>"``, ``"dataset:<version id>"``, ``"model:<version id>"``;
    an edge ``(source, target, relation)`` points downstream: data -> run (``input``),
    run -> data or model (``output``), dataset -> model (``trained_on``).
    """

    root: str
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: set[tuple[str, str, str]] = field(default_factory=set)

    def to_frame(self):
        """Edges as a DataFrame: source, target, relation and both labels and kinds."""
        import pandas as pd

        rows = [{"source": s, "target": t, "relation": rel, "source_label": self.nodes[s]["label"],
                 "target_label": self.nodes[t]["label"], "source_kind": self.nodes[s]["kind"],
                 "target_kind": self.nodes[t]["kind"]} for s, t, rel in sorted(self.edges)]
        return pd.DataFrame(rows, columns=["source", "target", "relation", "source_label", "target_label",
                                           "source_kind", "target_kind"])

    def nodes_frame(self):
        """Nodes as a DataFrame: id, kind, label."""
        import pandas as pd

        return pd.DataFrame([{"id": k, **v} for k, v in sorted(self.nodes.items())], columns=["id", "kind", "label"])

    def edge_lines(self) -> list[str]:
        """``SOURCE --relation--> TARGET`` for each edge, by labels."""
        return [f"{self.nodes[s]['label']} --{rel}--> {self.nodes[t]['label']}" for s, t, rel in
                sorted(self.edges, key=lambda e: (self.nodes[e[0]]["label"], self.nodes[e[1]]["label"]))]

    def text(self) -> str:
        """The graph for people (what ``nbtrack lineage`` prints)."""
        n, e = len(self.nodes), len(self.edges)
        head = f"lineage of {self.nodes[self.root]['label']}: {n} node{'s' * (n != 1)}, {e} edge{'s' * (e != 1)}"
        return "\n".join([head] + ["  " + ln for ln in self.edge_lines()])

    def __repr__(self) -> str:
        lines = [f"<LineageGraph from {self.nodes[self.root]['label']}: {len(self.nodes)} nodes, "
                 f"{len(self.edges)} edges>"]
        lines += ["  " + ln for ln in self.edge_lines()]
        return "\n".join(lines)

    def plot(self, ax: Any = None):
        """Draw the graph left to right (upstream to downstream); return the matplotlib Figure."""
        return plot_graph(self, ax)


class _Walker:
    """Breadth-first walk over lineage edges in both directions."""

    def __init__(self, conn: Connection, graph: LineageGraph) -> None:
        self.conn, self.g = conn, graph

    def node(self, kind: str, key: Any) -> str:
        nid = f"{kind}:{key}"
        if nid not in self.g.nodes:
            self.g.nodes[nid] = {"kind": kind, "label": self._label(kind, key)}
        return nid

    def _label(self, kind: str, key: Any) -> str:
        c = self.conn
        if kind == "run":
            name = c.execute(select(runs.c.name).where(runs.c.id == key)).scalar()
            return f"run {key[:8]}" + (f" {name}" if name else "")
        if kind == "dataset":
            r = c.execute(select(datasets.c.name, dataset_versions.c.version)
                          .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
                          .where(dataset_versions.c.id == key)).first()
            return f"{r.name}@{r.version}" if r else f"dataset #{key}"
        r = c.execute(select(models.c.name, model_versions.c.version)
                      .join(models, models.c.id == model_versions.c.model_id)
                      .where(model_versions.c.id == key)).first()
        return f"model {r.name}@{r.version}" if r else f"model #{key}"

    def expand(self, nid: str) -> None:
        """Add every edge that touches ``nid``."""
        kind, key = nid.split(":", 1)
        if kind == "run":
            rows = _edge_rows(self.conn, lineage_t.c.run_id == key)
        elif kind == "dataset":
            rows = _edge_rows(self.conn, lineage_t.c.dataset_version_id == int(key))
            r = self.conn.execute(select(dataset_versions.c.run_id).where(dataset_versions.c.id == int(key))).scalar()
            if r:
                self.edge(self.node("run", r), nid, "output")
            for mv in self.conn.execute(select(model_versions.c.id)
                                        .where(model_versions.c.dataset_version_id == int(key))).scalars():
                self.edge(nid, self.node("model", mv), "trained_on")
        else:
            rows = _edge_rows(self.conn, lineage_t.c.model_version_id == int(key))
            r = self.conn.execute(select(model_versions.c.run_id, model_versions.c.dataset_version_id)
                                  .where(model_versions.c.id == int(key))).first()
            if r and r.run_id:
                self.edge(self.node("run", r.run_id), nid, "output")
            if r and r.dataset_version_id:
                self.edge(self.node("dataset", r.dataset_version_id), nid, "trained_on")
        for row in rows:
            item = _item(row)
            other = self.node(item["kind"], item["id"])
            run = self.node("run", row["run_id"])
            if row["direction"] == "input":
                self.edge(other, run, "input")
            else:
                self.edge(run, other, "output")

    def edge(self, source: str, target: str, relation: str) -> None:
        self.g.edges.add((source, target, relation))


def _resolve(conn: Connection, target: Any) -> tuple[str, Any]:
    if hasattr(target, "fingerprint") and hasattr(target, "manifest_oid"):  # DatasetVersion
        return "dataset", target.id
    if hasattr(target, "format") and hasattr(target, "oid"):  # ModelVersion
        return "model", target.id
    if hasattr(target, "source_oid"):  # Run
        return "run", target.id
    text = str(target).strip()
    kind, sep, rest = text.partition(":")
    if sep and kind in ("dataset", "model", "run"):
        text = rest
    else:
        kind = ""
    if kind in ("", "run") and "@" not in text:
        try:
            return "run", resolve_run_id(conn, text)
        except (NotFound, InvalidInput):
            if kind == "run":
                raise
    name, _, spec = text.partition("@")
    for k, tbl, vt, col in (("dataset", datasets, dataset_versions, dataset_versions.c.dataset_id),
                            ("model", models, model_versions, model_versions.c.model_id)):
        if kind and kind != k:
            continue
        q = select(vt.c.id).join(tbl, tbl.c.id == col).where(tbl.c.name == name)
        if spec and spec != "latest":
            if not spec.isdigit():
                raise InvalidInput(f"{target!r}: give a version number after '@'")
            q = q.where(vt.c.version == int(spec))
        found = conn.execute(q.order_by(vt.c.version.desc()).limit(1)).scalar()
        if found is not None:
            return k, found
    raise NotFound(f"{target!r} is neither a run id nor a dataset or model version "
                   "(use 'name@N', 'dataset:name@N', 'model:name@N' or a run id)")


def lineage(target: Any, depth: int = 10, workspace: Workspace | None = None) -> LineageGraph:
    """The lineage graph around a run or a dataset/model version.

    Parameters
    ----------
    target : str, Run, DatasetVersion or ModelVersion
        A run id (or unique prefix), ``"name@N"`` (a dataset version, else a model
        version), or ``"dataset:name@N"`` / ``"model:name@N"`` to say which.
    depth : int
        How many edges to follow from ``target``, upstream and downstream.

    Returns
    -------
    LineageGraph
        ``.nodes``, ``.edges``, ``.to_frame()`` and ``.plot()``.
    """
    ws = workspace or get_workspace(create=False)
    with ws.meta.read() as conn:
        kind, key = _resolve(conn, target)
        g = LineageGraph(root=f"{kind}:{key}")
        walker = _Walker(conn, g)
        walker.node(kind, key)
        seen, todo = {g.root}, deque([(g.root, 0)])
        while todo:
            nid, d = todo.popleft()
            if d >= depth:
                continue
            walker.expand(nid)
            for s, t, _ in list(g.edges):
                for other in (s, t):
                    if nid in (s, t) and other not in seen:
                        seen.add(other)
                        todo.append((other, d + 1))
    return g
