"""Turn the public API's DataFrames and Runs into plain JSON values."""

from __future__ import annotations

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
    import pandas as pd  # not at server start-up: only once a route answers

    if value is pd.NA or value is pd.NaT:
        return None
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
         if not k.endswith("_oid") and k not in ("input_versions", "output_versions")}
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


def comparison(c) -> dict[str, Any]:
    """A two-run :class:`~nbtrack.query.compare.RunComparison` as JSON: source diff, metric and param changes."""
    a, b = c.runs[0], c.runs[-1]
    metrics = [{k: scalar(v) for k, v in m.items()} for m in c.metric_deltas()]
    return {"a": a.id, "b": b.id, "diff": c.source_diff(), "same_source": c.same_source, "metrics": metrics,
            "params": c.param_changes()}


def run_io(run) -> dict[str, list[dict[str, Any]]]:
    """A run's direct inputs and outputs (dataset and model versions) from ``Run.input_versions/output_versions``."""
    def item(i: dict[str, Any], relation: str) -> dict[str, Any]:
        label = i["ref"] if i["kind"] == "dataset" else f"model {i['ref']}"
        return {"kind": i["kind"], "ref": i["ref"], "label": label, "relation": relation, "id": i["id"],
                "variable": i["variable"]}

    return {"inputs": [item(i, "input") for i in run.input_versions],
            "outputs": [item(i, "output") for i in run.output_versions]}


def jsonable(value: Any) -> Any:
    """DataFrames, dataclasses, objects with to_dict(), lists and dicts -> JSON values."""
    if hasattr(value, "itertuples") and hasattr(value, "columns"):
        return records(value)
    if hasattr(value, "to_dict") and callable(value.to_dict) and not isinstance(value, dict):
        return jsonable(value.to_dict())
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: jsonable(getattr(value, k)) for k in value.__dataclass_fields__ if not k.startswith("_")}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return scalar(value)
    s = scalar(value)
    return s if isinstance(s, (str, int, float, bool)) or s is None else str(s)
