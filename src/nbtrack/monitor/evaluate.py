"""``nbtrack.evaluate``: score a model version on labelled data as it arrives, over time.

Each call is a run of kind ``monitor`` (``check=evaluate``) tagged with the model
version, its metrics logged, and the scores recorded as evaluations of that version
(on the dataset version when the data is one), so ``performance()`` shows the
metric history and an alert rule such as ``"auc < 0.85"`` can fire.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInput
from ..workspace import Workspace, get_workspace


def score(model: Any, X: Any, y: Any, kind: str) -> dict[str, float]:
    """The standard metrics of a classifier or regressor on ``X, y``."""
    from sklearn import metrics as m

    pred = model.predict(X)
    if kind == "classifier":
        out = {"accuracy": float(m.accuracy_score(y, pred)),
               "f1": float(m.f1_score(y, pred, average="binary" if len(set(y)) <= 2 else "macro",
                                      pos_label=_pos_label(model, y)))}
        if hasattr(model, "predict_proba") and len(getattr(model, "classes_", [])) == 2:
            proba = model.predict_proba(X)[:, 1]
            if len(set(y)) == 2:
                out["auc"] = float(m.roc_auc_score(y, proba))
        return out
    err = pred - y
    return {"rmse": float(m.root_mean_squared_error(y, pred)), "mae": float(abs(err).mean()),
            "r2": float(m.r2_score(y, pred))}


def _pos_label(model: Any, y: Any) -> Any:
    classes = list(getattr(model, "classes_", sorted(set(y))))
    return classes[-1] if classes else 1


def evaluate(
    model: str,
    data: Any,
    label: str = "y",
    *,
    trust: bool | list[str] | None = None,
    log: bool = True,
    workspace: Workspace | None = None,
) -> dict[str, float]:
    """Score model version ``model`` (``"churn@production"``) on labelled data.

    Parameters
    ----------
    model : str
        A model reference.
    data : DataFrame or str
        Features plus the ``label`` column, or a dataset reference.
    label : str
        The column holding the true values.
    log : bool
        Record a ``monitor`` run (metrics over time against the version).

    Returns
    -------
    dict
        ``accuracy``, ``f1`` and (binary, with probabilities) ``auc`` for classifiers;
        ``rmse``, ``mae``, ``r2`` for regressors.
    """
    import pandas as pd

    from ..snapshot.datasets import get_version
    from ..snapshot.models import get_model_version

    ws = workspace or get_workspace()
    mv = get_model_version(model, ws)
    version = None
    if not isinstance(data, pd.DataFrame):
        version = get_version(data, ws)
        data = version.load()
    if label not in data.columns:
        raise InvalidInput(f"the data has no label column {label!r} (columns: {list(data.columns)[:20]})")
    inputs = [i["name"] for i in ((mv.signature or {}).get("inputs") or []) if i.get("name")]
    X = data[inputs] if inputs else data.drop(columns=[label])
    kind = ((mv.signature or {}).get("output") or {}).get("kind", "classifier")
    values = score(mv.load(trust), X, data[label], kind)
    if log:
        _record(ws, mv, values, version, len(data))
    return values


def _record(ws: Workspace, mv: Any, values: dict[str, float], version: Any, n: int) -> str:
    from ..capture.run import ActiveRun
    from ..context import default_parent
    from ..snapshot.models import record_evaluations
    from .record import KIND

    run = ActiveRun(f"evaluate {mv.ref}", KIND, parent_id=default_parent(), workspace=ws)
    run.log_params({"check": "evaluate", "model": mv.ref, "data": str(version) if version else "DataFrame",
                    "rows": n})
    run.set_tag("nbtrack.model", mv.ref)
    run.set_tag("nbtrack.monitor", "evaluate")
    run.start()
    run.log_metrics(values, step=0)
    if version is not None:
        run.use_dataset(version.id)
    run.end("finished")
    with ws.meta.write() as conn:
        record_evaluations(conn, mv.id, version.id if version is not None else None, values, run.id)
    return run.id


def performance(model: str, workspace: Workspace | None = None):
    """The metric history of ``evaluate`` runs for a model version (oldest first)."""
    return _history(model, workspace)


def latest_metrics(model_ref: str, workspace: Workspace | None = None) -> dict[str, float]:
    """The metrics of the newest ``evaluate`` run of the version ``model_ref`` names."""
    hist = _history(model_ref, workspace)
    if hist.empty:
        return {}
    last = hist.iloc[-1]
    return {k: float(v) for k, v in last.items() if k not in ("run_id", "time") and v == v}


def _history(model: str, workspace: Workspace | None):
    import pandas as pd
    from sqlalchemy import select

    from ..snapshot.models import get_model_version
    from ..store.schema import latest_metrics as lm, runs as runs_t, tags

    ws = workspace or get_workspace()
    mv = get_model_version(model, ws)
    with ws.meta.read() as conn:
        ids = conn.execute(select(runs_t.c.id, runs_t.c.started).join(tags, tags.c.run_id == runs_t.c.id)
                           .where(runs_t.c.kind == "monitor", tags.c.key == "nbtrack.model", tags.c.value == mv.ref,
                                  runs_t.c.name == f"evaluate {mv.ref}").order_by(runs_t.c.started)).all()
        rows = conn.execute(select(lm.c.run_id, lm.c.key, lm.c.value)
                            .where(lm.c.run_id.in_([i for i, _ in ids]))).all() if ids else []
    by_run: dict[str, dict] = {i: {"run_id": i, "time": pd.Timestamp(t, unit="s", tz="UTC")} for i, t in ids}
    for run_id, key, value in rows:
        by_run[run_id][key] = value
    return pd.DataFrame(list(by_run.values()))
