"""Gated promotion: move an alias to a version only if it passes its gate.

A gate has two optional parts (see :mod:`.gates`):

* an expression over the version's metrics, ``"metrics.roc_auc >= 0.9 and
  metrics.f1 > 0.5"`` (:mod:`nbtrack.expr`, never evaluated as code);
* ``vs="production", metric="roc_auc"``: at least as good as the version the
  alias holds now. When both versions have evaluations of that metric on a
  common dataset version (:func:`log_evaluation`, or recorded by ``%%track``
  when a cell scores a model on a test frame) they are compared there;
  otherwise the metrics recorded with the versions are compared.

A refused promotion changes nothing but the audit log (``alias.promote_refused``
with the numbers) and raises :class:`~nbtrack.errors.GateFailed`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..errors import Conflict, Forbidden, GateFailed, InvalidInput, NotFound
from ..snapshot.models import ModelVersion, check_name, dataset_version_id, record_evaluations, resolve
from ..workspace import Workspace, get_workspace
from . import events
from .aliases import audit_conflict, audit_refusal, check_alias, held, move
from .gates import Condition, check_expression, check_versus, lower_is_better, metric_names, version_metrics

__all__ = ["Condition", "Promotion", "log_evaluation", "promote"]


@dataclass
class Promotion:
    """The outcome of :func:`promote`; truthy when accepted."""

    name: str
    version: int
    alias: str
    accepted: bool
    conditions: list[Condition] = field(default_factory=list)
    previous: int | None = None
    event_id: int | None = None

    def __bool__(self) -> bool:
        return self.accepted

    def summary(self) -> str:
        head = (f"{self.name}@{self.version} -> {self.alias}: "
                + ("promoted" if self.accepted else "refused"))
        return "\n".join([head] + [f"  [{'ok' if c.passed else 'FAILED'}] {c.condition}: {c.detail}"
                                   for c in self.conditions])


# -- the public API ---------------------------------------------------------------------
def promote(
    name: str,
    version: int | str,
    to: str = "production",
    gate: str | None = None,
    *,
    vs: str | None = None,
    metric: str | None = None,
    higher_is_better: bool | None = None,
    reason: str | None = None,
    raise_on_refusal: bool = True,
    workspace: Workspace | None = None,
) -> Promotion:
    """Move ``name@to`` to ``version`` if it passes the gate.

    Parameters
    ----------
    name, version : str, int
        The model and the candidate version (``3``, ``"3"``, ``"churn@3"`` or an alias).
    to : str
        The alias to move (``production`` by default).
    gate : str, optional
        A metric expression, ``"metrics.roc_auc >= 0.9"``.
    vs : str, optional
        An alias (usually ``to`` itself): the candidate must be at least as good
        as the version holding it on ``metric``.
    metric : str, optional
        The metric for ``vs`` (default: the only metric the gate names).
    higher_is_better : bool, optional
        Direction for ``vs``; by default lower is better for names like loss/error/mse/mae.
    raise_on_refusal : bool
        Raise :class:`~nbtrack.errors.GateFailed` (default) or return the refused result.

    Returns
    -------
    Promotion
        ``accepted``, every condition with its numbers, the previous version.

    Raises
    ------
    GateFailed
        The gate refused (``e.fields["result"]`` is the :class:`Promotion`).
    Conflict
        The alias (or ``vs``) moved while the gate was being checked.
    """
    check_name(name), check_alias(to)
    if vs is not None:
        check_alias(vs)
    ws = workspace or get_workspace()
    with ws.meta.read() as conn:  # evaluate on a snapshot; the move re-checks what it saw
        cand = resolve(conn, _ref(name, version), ws)
        seen_to, seen_vs = held(conn, name, to)[1], held(conn, name, vs)[1] if vs else None
        result = _evaluate(conn, cand, to, gate, vs, metric, higher_is_better, seen_vs, ws)
    result.previous = seen_to
    detail = {"gate": gate, "vs": vs, "metric": metric, "conditions": [asdict(c) for c in result.conditions]}
    try:
        with ws.meta.write() as conn:
            if vs is not None and held(conn, name, vs)[1] != seen_vs:
                raise Conflict(f"{name}@{vs} moved while the gate was checked; nothing was changed, retry the "
                               "promotion", expected=seen_vs, current=held(conn, name, vs)[1])
            if not result.accepted:
                result.event_id = events.record(conn, "alias.promote_refused", events.alias_target(name, to),
                                                {"from": seen_to, "to": cand.version, **detail}, reason)
            else:
                result.event_id = move(conn, cand, name, to, seen_to, "alias.promote", reason, detail,
                                       workspace=ws).event_id
    except Conflict as e:
        audit_conflict(ws, name, to, "alias.promote", e, cand.ref, reason)
        raise
    except Forbidden as e:
        audit_refusal(ws, name, to, "alias.promote", e, cand.ref, reason)
        raise
    if not result.accepted and raise_on_refusal:
        raise GateFailed(result.summary(), result=result)
    return result


def _ref(name: str, version: int | str) -> str:
    v = str(version)
    return v if "@" in v else f"{name}@{v}"


def _evaluate(conn, cand: ModelVersion, to: str, gate: str | None, vs: str | None, metric: str | None,
              higher: bool | None, seen_vs: int | None, ws: Workspace) -> Promotion:
    conds: list[Condition] = []
    ok = True
    if gate:
        ok, conds = check_expression(gate, version_metrics(conn, cand))
    if vs is not None:
        metric = metric or _only_metric(gate)
        inc = resolve(conn, f"{cand.name}@{seen_vs}", ws) if seen_vs is not None else None
        higher = (not lower_is_better(metric)) if higher is None else higher
        cond = check_versus(conn, cand, inc, vs, metric, higher)
        conds.append(cond)
        ok = ok and cond.passed
    if not gate and vs is None:
        conds.append(Condition("no gate", True, "promoted without conditions"))
    return Promotion(cand.name, cand.version, to, ok, conds)


def _only_metric(gate: str | None) -> str:
    names = metric_names(gate)
    if len(names) != 1:
        raise InvalidInput("vs=ALIAS needs metric='NAME': the metric to compare the versions on")
    return names.pop()


def log_evaluation(model: str, dataset: int | str | None, metric: str, value: float, *,
                   run: str | None = None, workspace: Workspace | None = None) -> int:
    """Record that model version ``model`` scored ``value`` on ``metric`` over ``dataset``.

    Parameters
    ----------
    model : str
        ``"churn@3"`` (or an alias).
    dataset : int or str or None
        The evaluation data: ``"test@2"`` or a dataset version id; None when unknown
        (then it cannot back a same-data comparison).

    Returns
    -------
    int
        Number of rows added (0 when the same evaluation was already recorded).
    """
    ws = workspace or get_workspace()
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"evaluation {metric!r} must be a number, got {value!r}") from None
    with ws.meta.write() as conn:
        mv = resolve(conn, model, ws)
        dv = dataset_version_id(conn, dataset)
        if dataset is not None and dv is None:
            raise NotFound(f"no dataset version {dataset!r}")
        return record_evaluations(conn, mv.id, dv, {metric: value}, run)
