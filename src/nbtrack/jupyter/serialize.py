"""Turn the public API's DataFrames and Runs into plain JSON values."""

from __future__ import annotations

import difflib
import math
from typing import Any


def scalar(value: Any) -> Any:
    """A JSON-safe scalar: NaN/NA -> None, Timestamps -> epoch seconds, numpy -> Python."""
    if value is None:
        return None
    if hasattr(value, "timestamp") and callable(value.timestamp):
        try:
            return value.timestamp()
        except (ValueError, TypeError):  # NaT
            return None
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return None
    except ImportError:  # pragma: no cover
        pass
    return value


def records(df) -> list[dict[str, Any]]:
    """A DataFrame as a list of dicts with JSON-safe values."""
    cols = list(df.columns)
    return [{c: scalar(v) for c, v in zip(cols, row)} for row in df.itertuples(index=False, name=None)]


def run_rows(df) -> list[dict[str, Any]]:
    """``nbtrack.runs()`` rows with ``params.*``/``metrics.*`` folded into dicts."""
    out = []
    for rec in records(df):
        row: dict[str, Any] = {"params": {}, "metrics": {}}
        for key, value in rec.items():
            group, dot, name = key.partition(".")
            if dot and group in ("params", "metrics"):
                if value is not None:
                    row[group][name] = value
            else:
                row[key] = value
        out.append(row)
    return out


def run_detail(run, history, artifact_url) -> dict[str, Any]:
    """``get_run()`` as JSON: everything but object ids, plus source, stdout, metric history."""
    d = {k: scalar(v) if not isinstance(v, (list, dict)) else v for k, v in run.to_dict().items()
         if not k.endswith("_oid")}
    d["source"] = run.source
    stdout = run.stdout
    d["stdout"] = stdout[-20000:]
    series: dict[str, list[list[Any]]] = {}
    for key, step, value, _ts in history.itertuples(index=False, name=None):
        series.setdefault(key, []).append([scalar(step), scalar(value)])
    d["metric_history"] = series
    d["artifacts"] = [{**{k: scalar(v) for k, v in a.items() if k != "oid"}, "url": artifact_url(a["name"])}
                      for a in run.artifacts]
    return d


def diff(a, b) -> dict[str, Any]:
    """Unified source diff plus metric and param differences of two runs."""
    def label(r) -> str:
        v = f" v{r.cell_version}" if r.cell_version else ""
        return f"{r.id}{v}"

    src_a, src_b = a.source or "", b.source or ""
    text = "".join(difflib.unified_diff(
        src_a.splitlines(keepends=True), src_b.splitlines(keepends=True), fromfile=label(a), tofile=label(b)))
    metrics = []
    for key in sorted(set(a.metrics) | set(b.metrics)):
        va, vb = scalar(a.metrics.get(key)), scalar(b.metrics.get(key))
        delta = vb - va if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else None
        metrics.append({"key": key, "a": va, "b": vb, "delta": delta})
    params = [{"key": k, "a": a.params.get(k), "b": b.params.get(k)}
              for k in sorted(set(a.params) | set(b.params)) if a.params.get(k) != b.params.get(k)]
    return {"a": a.id, "b": b.id, "diff": text, "same_source": src_a == src_b, "metrics": metrics,
            "params": params}


def run_io(graph) -> dict[str, list[dict[str, Any]]]:
    """A run's direct inputs and outputs (datasets, model versions) from its lineage graph."""
    out: dict[str, list[dict[str, Any]]] = {"inputs": [], "outputs": []}
    for source, target, relation in sorted(graph.edges):
        if target == graph.root:
            out["inputs"].append({"relation": relation, **graph.nodes[source]})
        elif source == graph.root:
            out["outputs"].append({"relation": relation, **graph.nodes[target]})
    for items in out.values():
        for item in items:
            for k, v in list(item.items()):
                item[k] = scalar(v) if not isinstance(v, (dict, list)) else v
    return out
