"""Gates: conditions on a pipeline run's metrics that decide its exit code.

A gate is ``"metrics.auc >= 0.9"`` (``metrics.`` may be left out). A comparison
gate ``"production:auc"`` (or ``"churn@production:auc"``) passes when the run is at
least as good as the model version currently holding that alias (higher is
better, lower for loss-like names; or append ``:lower``/``:higher``). Gate metrics are the latest value of each
metric across the pipeline run's descendants (its ``%%track`` cells) plus the
metrics logged on the pipeline run itself, which win.
"""

from __future__ import annotations

import ast
import json
import math
import operator
from dataclasses import dataclass

from sqlalchemy import select

from ..errors import InvalidInput
from ..registry.gates import metric_name
from ..store.schema import latest_metrics, runs as runs_t
from ..workspace import Workspace

_OPS = {ast.GtE: (">=", operator.ge), ast.Gt: (">", operator.gt), ast.LtE: ("<=", operator.le),
        ast.Lt: ("<", operator.lt), ast.Eq: ("==", operator.eq), ast.NotEq: ("!=", operator.ne)}


@dataclass(frozen=True)
class Gate:
    """``metric op threshold``, e.g. ``auc >= 0.9``."""

    text: str
    metric: str
    op: str
    threshold: float


@dataclass(frozen=True)
class VsGate:
    """The run must be at least as good as ``model@alias`` on ``metric``."""

    text: str
    model: str | None
    alias: str
    metric: str
    higher_is_better: bool | None = None  # None: lower is better for loss/error/mse... names


@dataclass
class GateResult:
    """One gate's verdict, with the numbers."""

    gate: str
    metric: str
    value: float | None
    threshold: float | None
    passed: bool
    detail: str

    def __str__(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.gate}: {self.detail}"


def _metric_name(node: ast.AST, text: str) -> str:
    name = metric_name(node)  # the registry's gates read metric names the same way
    if name is None:
        raise InvalidInput(f"gate {text!r}: the left side must be a metric (metrics.auc or auc)")
    return name


def parse_gate(text: str) -> Gate:
    """``"metrics.auc>=0.9"`` into a :class:`Gate` (never evaluated as Python)."""
    try:
        node = ast.parse(str(text).strip(), mode="eval").body
    except SyntaxError:
        node = None
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _OPS):
        raise InvalidInput(f"cannot read gate {text!r}: write METRIC OP NUMBER, e.g. \"metrics.auc >= 0.9\"")
    metric = _metric_name(node.left, text)
    try:
        threshold = float(ast.literal_eval(node.comparators[0]))
    except (ValueError, TypeError):
        raise InvalidInput(f"gate {text!r}: the right side must be a number") from None
    return Gate(str(text).strip(), metric, _OPS[type(node.ops[0])][0], threshold)


def parse_vs(text: str, model: str | None = None) -> VsGate:
    """``"production:auc"``, ``"churn@production:auc"`` or ``"production:loss:lower"``."""
    parts = str(text).strip().split(":")
    if len(parts) not in (2, 3) or not all(parts[:2]) or (len(parts) == 3 and parts[2] not in ("lower", "higher")):
        raise InvalidInput(f"cannot read --gate-vs {text!r}: write ALIAS:METRIC (production:auc), "
                           "MODEL@ALIAS:METRIC, and :lower for metrics where lower is better")
    name, sep, alias = parts[0].rpartition("@")
    if not sep:
        name, alias = model, parts[0]
    if not name:
        raise InvalidInput(f"--gate-vs {text!r} needs a model: pass --register NAME or write NAME@{alias}:{parts[1]}")
    return VsGate(str(text).strip(), name, alias, parts[1], None if len(parts) == 2 else parts[2] == "higher")


def evaluate(gates: list[Gate], metrics: dict[str, float | None]) -> list[GateResult]:
    """Check each gate against ``metrics``; a metric that was not logged fails its gate."""
    out = []
    for g in gates:
        value = metrics.get(g.metric)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            logged = ", ".join(sorted(metrics)) or "none"
            out.append(GateResult(g.text, g.metric, None, g.threshold, False,
                                  f"metric {g.metric!r} was not logged (logged: {logged})"))
            continue
        ok = _apply(g.op, value, g.threshold)
        out.append(GateResult(g.text, g.metric, value, g.threshold, ok, f"{g.metric} = {value:.6g} {g.op} {g.threshold:g}"
                              if ok else f"{g.metric} = {value:.6g}, needs {g.op} {g.threshold:g}"))
    return out


def _apply(op: str, a: float, b: float) -> bool:
    return {sym: fn for sym, fn in _OPS.values()}[op](a, b)


def evaluate_vs(vs: VsGate, metrics: dict[str, float | None], reference: float | None) -> GateResult:
    """Compare with ``reference`` (the alias holder's metric; None: no holder yet, passes)."""
    value = metrics.get(vs.metric)
    if value is None:
        return GateResult(vs.text, vs.metric, None, reference, False, f"metric {vs.metric!r} was not logged")
    if reference is None:
        return GateResult(vs.text, vs.metric, value, None, True,
                          f"no version of {vs.model} holds {vs.alias!r} yet (or it has no {vs.metric})")
    higher = vs.higher_is_better
    if higher is None:
        from ..registry.promote import lower_is_better  # the registry's rule, so both gates agree

        higher = not lower_is_better(vs.metric)
    ok = value >= reference if higher else value <= reference
    word = ">=" if higher else "<="
    return GateResult(vs.text, vs.metric, value, reference, ok,
                      f"{vs.metric} = {value:.6g} {'' if ok else 'not '}{word} {vs.model}@{vs.alias} {reference:.6g}")


def descendants(conn, run_id: str) -> list[str]:
    """Ids of every run below ``run_id`` (children, their children...)."""
    out, frontier = [], [run_id]
    while frontier:
        kids = conn.execute(select(runs_t.c.id).where(runs_t.c.parent_id.in_(frontier))).scalars().all()
        out += kids
        frontier = kids
    return out


def gate_metrics(ws: Workspace, run_id: str) -> dict[str, float | None]:
    """Latest value of each metric across the run's descendants, then the run's own metrics."""
    with ws.meta.read() as conn:
        ids = descendants(conn, run_id)
        rows = conn.execute(select(latest_metrics.c.key, latest_metrics.c.value, latest_metrics.c.ts)
                            .where(latest_metrics.c.run_id.in_(ids))).all() if ids else []
        own = dict(conn.execute(select(latest_metrics.c.key, latest_metrics.c.value)
                                .where(latest_metrics.c.run_id == run_id)).all())
    latest: dict[str, tuple[float, float | None]] = {}
    for key, value, ts in rows:
        if key not in latest or ts >= latest[key][0]:
            latest[key] = (ts, value)
    merged = {k: v for k, (_, v) in latest.items()}
    merged.update(own)
    return merged


def summary(results: list[GateResult]) -> str:
    """One line per gate, for tags and messages."""
    return "; ".join(str(r) for r in results)


def to_json(results: list[GateResult]) -> str:
    return json.dumps([r.__dict__ for r in results], default=str)
