"""Registered models: ``register_model`` and the ``models()`` / ``model_versions()`` tables.

A registered version copies an existing version (a run's model candidate, a
version of another name, or a freshly logged object): same object id,
signature, run and training data, plus the run's metrics at registration time
and a ``source_version_id`` pointing back at the candidate. Versions never change.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from ..context import user
from ..errors import InvalidInput, NotFound
from ..query.ids import resolve_run_id
from ..query.models import alias_labels
from ..snapshot.models import (ModelVersion, check_name, insert_version, latest, log_model, model_id, resolve,
                               row_to_version, version_query)
from ..store.schema import aliases, dataset_versions, datasets, evaluations, latest_metrics, lineage
from ..store.schema import model_versions as mv_t, models as models_t
from ..workspace import Workspace, get_workspace
from . import events

_COPIED = ("oid", "format", "unsafe", "class_name", "signature", "params", "run_id", "dataset_version_id")


def register_model(
    name: str,
    run: str | None = None,
    model: Any = None,
    version: str | None = None,
    *,
    variable: str | None = None,
    metrics: dict[str, float] | None = None,
    description: str | None = None,
    reason: str | None = None,
    workspace: Workspace | None = None,
) -> ModelVersion:
    """Create the next version of model ``name`` from a run, an object or another version.

    Parameters
    ----------
    name : str
        The registered model's name (``churn``).
    run : str, optional
        A run id (or unique prefix): its model candidate is registered. If the
        run produced several models, name one with ``variable``.
    model : object, optional
        A model object, logged now (in the active run, if any).
    version : str, optional
        An existing version, ``"clf@2"``.
    metrics : dict, optional
        Metrics to record; by default the producing run's last metric values.
    description, reason : str, optional
        Stored on the version; ``reason`` goes to the audit log.

    Returns
    -------
    ModelVersion
        ``.new`` is False when the latest version of ``name`` already holds the same model.
    """
    if sum(x is not None for x in (run, model, version)) != 1:
        raise InvalidInput("register_model needs exactly one of run=RUN_ID, model=obj or version='name@N'")
    check_name(name)
    ws = workspace or get_workspace(create=model is not None)
    if model is not None:
        source = log_model(model, name, description=description, workspace=ws)
        if not source.new:
            return source
        with ws.meta.write() as conn:
            _finish(conn, source, metrics, reason, None)
            return _fresh(conn, source.ref, ws)
    with ws.meta.write() as conn:
        if version is not None:
            source = resolve(conn, version, ws)
        else:
            assert run is not None  # exactly one of run, model, version (checked above)
            source = run_candidate(conn, run, variable, ws)
        mid = model_id(conn, name, create=True)
        last = latest(conn, mid)
        if last is not None and last._mapping["oid"] == source.oid:
            return row_to_version(last, ws, new=False)
        values = {k: getattr(source, k) for k in _COPIED}
        values.update(source_version_id=source.id, description=description or source.description)
        values["creator"] = user()
        vid = insert_version(conn, mid, values)
        created = row_to_version(conn.execute(version_query().where(mv_t.c.id == vid)).first(), ws, True)
        _copy_evaluations(conn, source.id, vid)
        _finish(conn, created, metrics, reason, source)
        return _fresh(conn, created.ref, ws)


def _fresh(conn: Connection, ref: str, ws: Workspace) -> ModelVersion:
    mv = resolve(conn, ref, ws)
    mv.new = True
    return mv


def _finish(conn: Connection, mv: ModelVersion, metrics: dict | None, reason: str | None,
            source: ModelVersion | None) -> None:
    values = dict(metrics) if metrics is not None else run_metrics(conn, mv.run_id)
    conn.execute(mv_t.update().where(mv_t.c.id == mv.id)
                 .values(metrics=json.dumps(values, sort_keys=True)))
    events.record(conn, "model.register", f"model:{mv.ref}",
                  {"version": mv.version, "source": source.ref if source else None, "run": mv.run_id,
                   "oid": mv.oid, "metrics": values}, reason)


def run_metrics(conn: Connection, run_id: str | None) -> dict[str, float]:
    if run_id is None:
        return {}
    q = select(latest_metrics.c.key, latest_metrics.c.value).where(latest_metrics.c.run_id == run_id)
    return {k: v for k, v in conn.execute(q) if v is not None}


def run_candidate(conn: Connection, run: str, variable: str | None, ws: Workspace) -> ModelVersion:
    """The model version a run produced (its lineage output)."""
    run_id = resolve_run_id(conn, run)
    q = (version_query().join(lineage, lineage.c.model_version_id == mv_t.c.id)
         .where(lineage.c.run_id == run_id, lineage.c.direction == "output"))
    if variable is not None:
        q = q.where((lineage.c.variable == variable) | (models_t.c.name == variable))
    found = {r._mapping["id"]: r for r in conn.execute(q)}
    if not found:
        what = f" in variable {variable!r}" if variable else ""
        raise NotFound(f"run {run_id} produced no model{what}; fit a scikit-learn model in a %%track cell "
                       "or call nbtrack.log_model(obj, name) inside the run")
    if len(found) > 1:
        refs = ", ".join(row_to_version(r).ref for r in found.values())
        raise InvalidInput(f"run {run_id} produced several models ({refs}); choose one with variable='NAME'")
    return row_to_version(next(iter(found.values())), ws)


def _copy_evaluations(conn: Connection, source_id: int, target_id: int) -> None:
    rows = conn.execute(select(evaluations).where(evaluations.c.model_version_id == source_id)).mappings().all()
    for r in rows:
        values = {k: v for k, v in r.items() if k != "id"}
        conn.execute(evaluations.insert().values(**{**values, "model_version_id": target_id}))


# -- tables ------------------------------------------------------------------------------
def models(workspace: Workspace | None = None):
    """Models as a DataFrame: ``name, versions, latest, aliases, created, description``."""
    import pandas as pd

    ws = workspace or get_workspace()
    q = (select(models_t.c.id, models_t.c.name, models_t.c.created, models_t.c.description,
                func.count(mv_t.c.id).label("versions"), func.max(mv_t.c.version).label("latest"))
         .outerjoin(mv_t, mv_t.c.model_id == models_t.c.id)
         .group_by(models_t.c.id).order_by(models_t.c.name))
    with ws.meta.read() as conn:
        rows = conn.execute(q).mappings().all()
        names = alias_labels(conn)
    df = pd.DataFrame([{"name": r["name"], "versions": r["versions"], "latest": r["latest"],
                        "aliases": names.get(r["id"], ""), "created": pd.Timestamp(r["created"], unit="s", tz="UTC"),
                        "description": r["description"]} for r in rows],
                      columns=["name", "versions", "latest", "aliases", "created", "description"])
    return df


def model_versions(name: str, workspace: Workspace | None = None):
    """Versions of model ``name`` as a DataFrame, newest first, with aliases and ``metrics.*``."""
    import pandas as pd

    ws = workspace or get_workspace()
    with ws.meta.read() as conn:
        mid = model_id(conn, check_name(name))
        if mid is None:
            raise NotFound(f"no model named {name!r}; nbtrack.models() lists them")
        rows = conn.execute(version_query().where(mv_t.c.model_id == mid)
                            .order_by(mv_t.c.version.desc())).all()
        held: dict[int, list[str]] = {}
        for alias, vid in conn.execute(select(aliases.c.alias, aliases.c.version_id).where(aliases.c.model_id == mid)):
            held.setdefault(vid, []).append(alias)
        refs = _refs(conn, [r._mapping["dataset_version_id"] for r in rows],
                     [r._mapping["source_version_id"] for r in rows])
    records = []
    for r in rows:
        v = row_to_version(r)
        rec = {"version": v.version, "aliases": ", ".join(sorted(held.get(v.id, []))), "class": v.class_name,
               "format": v.format, "unsafe": v.unsafe, "run": v.run_id,
               "dataset": refs.get(("d", v.dataset_version_id)), "source": refs.get(("m", v.source_version_id)),
               "creator": v.creator, "created": pd.Timestamp(v.created, unit="s", tz="UTC"),
               "description": v.description}
        rec.update({f"metrics.{k}": val for k, val in sorted(v.metrics.items())})
        records.append(rec)
    return pd.DataFrame(records)


def _refs(conn: Connection, dataset_ids: list, model_ids: list) -> dict:
    out: dict = {}
    ds = [i for i in dataset_ids if i is not None]
    if ds:
        q = (select(dataset_versions.c.id, datasets.c.name, dataset_versions.c.version)
             .join(datasets, datasets.c.id == dataset_versions.c.dataset_id).where(dataset_versions.c.id.in_(ds)))
        out.update({("d", i): f"{n}@{v}" for i, n, v in conn.execute(q)})
    ms = [i for i in model_ids if i is not None]
    if ms:
        q = (select(mv_t.c.id, models_t.c.name, mv_t.c.version)
             .join(models_t, models_t.c.id == mv_t.c.model_id).where(mv_t.c.id.in_(ms)))
        out.update({("m", i): f"{n}@{v}" for i, n, v in conn.execute(q)})
    return out
