"""Promotion gates: a metric expression, and "not worse than the version holding an alias".

``check_expression("metrics.roc_auc >= 0.9 and metrics.f1 > 0.5", metrics)`` is
:func:`nbtrack.expr.check` (the one gate engine) on the version's metrics.
``check_versus`` compares a candidate with the version holding an alias on one
metric: on a common evaluation dataset version when both have evaluations of it,
else on the metrics recorded with them. Pipelines (``nbtrack run --gate-vs``) call
the same function on the run's candidate model, so the two verdicts agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from ..expr import Condition, check, parse
from ..snapshot.models import ModelVersion
from ..store.schema import dataset_versions, datasets, evaluations
from .models import run_metrics

_LOWER_IS_BETTER = ("loss", "error", "mse", "mae", "rmse", "mape", "brier", "log_loss", "logloss")


def version_metrics(conn, mv: ModelVersion) -> dict[str, float]:
    """Metrics recorded with the version, completed by its run's last values."""
    return {**run_metrics(conn, mv.run_id), **(mv.metrics or {})}


# -- the metric expression: the one gate engine of nbtrack.expr ---------------------------
def check_expression(gate: str, metrics: dict[str, float]) -> tuple[bool, list[Condition]]:
    """Evaluate ``gate`` over ``metrics``; every comparison becomes a :class:`Condition`."""
    verdict = check(gate, metrics)
    return verdict.passed, verdict.conditions


def metric_names(gate: str | None) -> set[str]:
    """The metrics a gate expression names."""
    return {f.key for f in parse(gate).fields()} if gate else set()


# -- "not worse than the version holding an alias" ----------------------------------------
def lower_is_better(metric: str) -> bool:
    m = metric.lower()
    return any(w in m for w in _LOWER_IS_BETTER)


def _evaluations(conn, version_id: int, metric: str) -> dict[int, float]:
    q = (select(evaluations.c.dataset_version_id, evaluations.c.value)
         .where(evaluations.c.model_version_id == version_id, evaluations.c.metric == metric,
                evaluations.c.dataset_version_id.is_not(None)).order_by(evaluations.c.id))
    return {dv: v for dv, v in conn.execute(q) if v is not None}


@dataclass
class Candidate:
    """What a "not worse than" check knows of a candidate: recorded metrics and evaluations."""

    ref: str
    metrics: dict[str, float] = field(default_factory=dict)
    evaluations: dict[int, float] = field(default_factory=dict)  # dataset version id -> value


def candidate(conn, mv: ModelVersion | None, metric: str, metrics: dict | None = None, ref: str | None = None
              ) -> Candidate:
    """The candidate as promotion sees it: ``mv``'s evaluations of ``metric`` and its metrics
    (``metrics``, e.g. a pipeline run's, win over those recorded with ``mv``, as registering does)."""
    if mv is None:
        return Candidate(ref or "the run", {k: v for k, v in (metrics or {}).items() if v is not None})
    recorded = version_metrics(conn, mv) if metrics is None else {**run_metrics(conn, mv.run_id), **metrics}
    return Candidate(ref or mv.ref, {k: v for k, v in recorded.items() if v is not None},
                     _evaluations(conn, mv.id, metric))


def check_versus(conn, cand: ModelVersion | Candidate, inc: ModelVersion | None, alias: str, metric: str,
                 higher_better: bool) -> Condition:
    """Is ``cand`` at least as good as ``inc`` (the version holding ``alias``) on ``metric``?

    On a common evaluation dataset version when both have evaluations of ``metric``,
    else on the metrics recorded with them. Promotion and pipeline ``--gate-vs`` both
    call this, so they cannot disagree.
    """
    c = cand if isinstance(cand, Candidate) else candidate(conn, cand, metric)
    text = f"{metric} not worse than {alias}"
    op = ">=" if higher_better else "<="
    if inc is None:
        return Condition(text, True, f"no version holds {alias!r} yet", metric, op, c.metrics.get(metric))
    text = f"{metric} not worse than {alias} ({inc.ref})"
    ce, ie = c.evaluations, _evaluations(conn, inc.id, metric)
    a: float | None
    b: float | None
    if ce and ie:
        common = [dv for dv in ce if dv in ie]
        if not common:
            return Condition(text, False, "the versions were evaluated on different datasets; evaluate both on "
                             "the same data with nbtrack.log_evaluation(...)", metric, op)
        dv = common[-1]
        a, b, where = ce[dv], ie[dv], f" on dataset version {_dataset_label(conn, dv)}"
    else:
        a, b = c.metrics.get(metric), version_metrics(conn, inc).get(metric)
        where = " (recorded metrics)"
        if a is None or b is None:
            who = c.ref if a is None else inc.ref
            return Condition(text, False, f"{who} has no {metric!r} metric or evaluation", metric, op, a, b)
    ok = a >= b if higher_better else a <= b
    sign = op if ok else ("<" if higher_better else ">")
    return Condition(text, ok, f"{c.ref} {metric} = {a:.6g} {sign} {inc.ref} {metric} = {b:.6g}{where}",
                     metric, op, a, b)


def _dataset_label(conn, dv: int) -> str:
    row = conn.execute(select(datasets.c.name, dataset_versions.c.version)
                       .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
                       .where(dataset_versions.c.id == dv)).first()
    return f"{row[0]}@{row[1]}" if row else str(dv)
