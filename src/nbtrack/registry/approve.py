"""Approving a notebook makes it a versioned pipeline; revoking stops a version from running.

``approve("notebooks/train.ipynb", name="churn-train")`` stores the notebook
without outputs as an object, its ``parameters`` cell as a typed schema, the
dataset versions its tracked runs read (pins: ``{dataset: version}``) and the
package environment. Each approval is the next version of the pipeline and an
audit event; :func:`get_pipeline` is what executing a pipeline asks for.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from ..capture import env
from ..context import user
from ..errors import ApprovalRequired, InvalidInput, NotFound
from ..store.schema import (dataset_versions, datasets, events as ev, lineage, pipeline_versions as pv,
                            pipelines as pl, runs)
from ..workspace import Workspace, get_workspace
from . import events
from .notebook import describe_parameter, frozen_bytes, parameters_cell, parse_parameters, read_notebook
from .signing import signature_doc


@dataclass
class Pipeline:
    """One approved (or revoked) version of a pipeline."""

    name: str
    version: int
    notebook_path: str | None
    notebook_oid: str
    parameters: list[dict[str, Any]]
    pins: dict[str, int] = field(default_factory=dict)
    env_oid: str | None = None
    status: str = "approved"
    approved_by: str | None = None
    reason: str | None = None
    created: float = 0.0
    signature: str | None = None  # JSON {"signer", "public_key", "ed25519"} (registry/signing.py)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def notebook(self, workspace: Workspace | None = None):
        """The frozen notebook (``nbformat`` node)."""
        import nbformat

        ws = workspace or get_workspace()
        return nbformat.reads(ws.objects.get(self.notebook_oid).decode(), as_version=4)


def _row(r) -> Pipeline:
    m = r._mapping
    return Pipeline(m["name"], m["version"], m["notebook_path"], m["notebook_oid"], json.loads(m["parameters"]),
                    json.loads(m["pins"] or "{}"), m["env_oid"], m["status"], m["approved_by"], m["reason"],
                    m["created"], m.get("signature"))


def _query():
    return select(pv, pl.c.name).join(pl, pl.c.id == pv.c.pipeline_id)


def approve(notebook: str | os.PathLike, name: str, reason: str | None = None, *,
            workspace: Workspace | None = None) -> Pipeline:
    """Freeze ``notebook`` as the next approved version of pipeline ``name``.

    Raises
    ------
    InvalidInput
        No cell tagged ``parameters`` (the message explains how to tag one), or
        a parameters cell that does not parse (the message names the line).
    """
    if not isinstance(name, str) or not name.strip() or "@" in name:
        raise InvalidInput(f"pipeline name {name!r} must be non-empty and without '@'")
    path = os.fspath(notebook)
    nb = read_notebook(path)
    schema = parse_parameters(parameters_cell(nb, path).source, path)
    ws = workspace or get_workspace(create=True)
    oid = ws.objects.put(frozen_bytes(nb))
    with ws.meta.write() as conn:
        pins, env_oid = notebook_inputs(conn, path)
        env_oid = env_oid or _current_env(ws)
        pid = _pipeline_id(conn, name)
        last = conn.execute(select(func.max(pv.c.version)).where(pv.c.pipeline_id == pid)).scalar() or 0
        who = user()
        signature = signature_doc(name, last + 1, oid, json.loads(json.dumps(schema)), pins, env_oid, who, ws)
        row = {"pipeline_id": pid, "version": last + 1, "notebook_path": path, "notebook_oid": oid,
               "parameters": json.dumps(schema), "pins": json.dumps(pins, sort_keys=True), "env_oid": env_oid,
               "status": "approved", "approved_by": who, "reason": reason, "created": time.time(),
               "signature": signature}
        conn.execute(insert(pv).values(**row))
        events.record(conn, "pipeline.approve", f"pipeline:{name}@{last + 1}",
                      {"notebook": path, "notebook_oid": oid, "parameters": [p["name"] for p in schema],
                       "pins": pins, "env_oid": env_oid, "signed": signature is not None}, reason)
        return _row(conn.execute(_query().where(pl.c.id == pid, pv.c.version == last + 1)).first())


def _pipeline_id(conn: Connection, name: str) -> int:
    """Pipeline ``name``'s id, created if missing; locked on PostgreSQL while its next version is numbered."""
    q = select(pl.c.id).where(pl.c.name == name)
    pg = conn.dialect.name == "postgresql"
    if conn.execute(q).scalar() is None:
        if pg:
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            conn.execute(pg_insert(pl).values(name=name, created=time.time()).on_conflict_do_nothing(
                index_elements=["name"]))
        else:
            conn.execute(insert(pl).values(name=name, created=time.time()))
    return int(conn.execute(q.with_for_update() if pg else q).scalar_one())


def _paths(path: str) -> list[str]:
    return sorted({path, os.path.abspath(path), os.path.realpath(path)})


def notebook_inputs(conn: Connection, path: str) -> tuple[dict[str, int], str | None]:
    """Pins and environment from the notebook's tracked runs (the latest run of each cell).

    Pinned: dataset versions the runs read that the notebook does not itself produce.
    """
    rows = conn.execute(select(runs.c.id, runs.c.cell_key, runs.c.env_oid)
                        .where(runs.c.notebook.in_(_paths(path))).order_by(runs.c.started)).all()
    latest = {key or rid: (rid, env) for rid, key, env in rows}
    if not latest:
        return {}, None
    ids = [rid for rid, _ in latest.values()]
    q = (select(lineage.c.direction, datasets.c.name, dataset_versions.c.version)
         .join(dataset_versions, dataset_versions.c.id == lineage.c.dataset_version_id)
         .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
         .where(lineage.c.run_id.in_(ids)).order_by(lineage.c.id))
    inputs: dict[str, int] = {}
    produced: set[str] = set()
    for direction, ds, version in conn.execute(q):
        if direction == "output":
            produced.add(ds)
        else:
            inputs[ds] = version
    env = rows[-1][2]
    return {k: v for k, v in inputs.items() if k not in produced}, env


def _current_env(ws: Workspace) -> str:
    return ws.objects.put(env.encode(env.fingerprint()))


def revoke(name: str, version: int, reason: str, *, workspace: Workspace | None = None) -> Pipeline:
    """Revoke approved version ``version`` of pipeline ``name``: it can no longer run."""
    if not reason or not str(reason).strip():
        raise InvalidInput("revoking needs a reason (it goes to the audit log)")
    ws = workspace or get_workspace()
    with ws.meta.write() as conn:
        found = conn.execute(_query().where(pl.c.name == name, pv.c.version == int(version))).first()
        if found is None:
            raise NotFound(f"no pipeline version {name}@{version}; `nbtrack pipelines` lists them")
        if found._mapping["status"] == "revoked":
            raise InvalidInput(f"{name}@{version} is already revoked")
        conn.execute(update(pv).where(pv.c.id == found._mapping["id"]).values(status="revoked"))
        events.record(conn, "pipeline.revoke", f"pipeline:{name}@{version}", {"version": int(version)}, reason)
        return _row(conn.execute(_query().where(pv.c.id == found._mapping["id"])).first())


def get_pipeline(name: str, version: int | str | None = None, *, workspace: Workspace | None = None) -> Pipeline:
    """The approved version to run: ``version``, or the newest approved one.

    Raises
    ------
    NotFound
        No such pipeline or version.
    ApprovalRequired
        The version was revoked (or every version was).
    """
    base, _, v = name.partition("@")
    if v and v != "latest":
        version = v
    ws = workspace or get_workspace()
    with ws.meta.read() as conn:
        q = _query().where(pl.c.name == base).order_by(pv.c.version.desc())
        if version is not None:
            q = q.where(pv.c.version == int(version))
        found = [_row(r) for r in conn.execute(q)]
        revoked = {p.version: _revocation(conn, base, p.version) for p in found if p.status == "revoked"}
    ok = [p for p in found if p.status == "approved"]
    if ok:
        return ok[0]
    if not found:
        which = f" version {version}" if version is not None else ""
        raise NotFound(f"no pipeline {base!r}{which}; approve a notebook first: nbtrack approve NOTEBOOK --name {base}")
    p = found[0]
    raise ApprovalRequired(f"{p.ref} was revoked{revoked.get(p.version, '')} and cannot run; approve the notebook "
                           f"again (nbtrack approve {p.notebook_path or 'NOTEBOOK'} --name {base})")


def _revocation(conn: Connection, name: str, version: int) -> str:
    r = conn.execute(select(ev.c.actor, ev.c.ts, ev.c.reason).where(
        ev.c.target == f"pipeline:{name}@{version}", ev.c.action == "pipeline.revoke").order_by(ev.c.id.desc())).first()
    if r is None:
        return ""
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(r[1]))
    return f" by {r[0]} on {when} UTC ({r[2]})"


def pipelines(name: str | None = None, workspace: Workspace | None = None):
    """Pipeline versions as a DataFrame, newest first."""
    import pandas as pd

    ws = workspace or get_workspace()
    q = _query().order_by(pl.c.name, pv.c.version.desc())
    if name:
        q = q.where(pl.c.name == name)
    with ws.meta.read() as conn:
        items = [_row(r) for r in conn.execute(q)]
    return pd.DataFrame([{
        "name": p.name, "version": p.version, "status": p.status, "notebook": p.notebook_path,
        "parameters": ", ".join(describe_parameter(x) for x in p.parameters),
        "pins": ", ".join(f"{k}@{v}" for k, v in sorted(p.pins.items())), "approved_by": p.approved_by,
        "created": pd.Timestamp(p.created, unit="s", tz="UTC"), "reason": p.reason} for p in items],
        columns=["name", "version", "status", "notebook", "parameters", "pins", "approved_by", "created", "reason"])
