"""Registered models both ways: nbtrack model versions <-> MLflow sklearn-flavor model versions.

Export: each version is saved with ``mlflow.sklearn.save_model`` (skops when skops
can save it, as MLflow does by default; cloudpickle otherwise) with a signature
built from the version's recorded inputs, logged as an MLflow LoggedModel of its
run and registered; aliases are set as MLflow aliases. Versions already exported
carry a ``nbtrack.version`` tag and are not exported again.

Import: skops models load through nbtrack's trusted-type rules; pickled ones are
refused unless ``trust=True``. A model whose bytes equal an existing version of
the same name maps to that version, so importing twice adds nothing.
"""

from __future__ import annotations

import os
import re
from typing import Any

from sqlalchemy import select

from ..errors import NbtrackError
from ..store.schema import aliases as aliases_t, model_versions as mv_t, models as models_t
from ..workspace import Workspace
from . import mlflow_common as mc


# -- export ------------------------------------------------------------------------------------
def export_models(client: Any, ws: Workspace, result: Any, exp_ids: dict[str, str], trust: Any, tmp: str) -> None:
    from ..snapshot.models import row_to_version, version_query

    with ws.meta.read() as conn:
        names = dict(conn.execute(select(models_t.c.id, models_t.c.name)).all())
        versions: dict[str, list] = {n: [] for n in names.values()}
        for row in conn.execute(version_query().order_by(mv_t.c.model_id, mv_t.c.version)):
            versions[row._mapping["name"]].append(row_to_version(row, ws))
        held: dict[str, dict[str, int]] = {n: {} for n in names.values()}
        for mid, alias, version in conn.execute(
                select(aliases_t.c.model_id, aliases_t.c.alias, mv_t.c.version)
                .join(mv_t, mv_t.c.id == aliases_t.c.version_id)):
            held[names[mid]][alias] = version
    for name in sorted(versions):
        _export_model(client, ws, name, versions[name], held[name], result, exp_ids, trust, tmp)


def _registered(client: Any, name: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(name)
    except MlflowException as e:
        if getattr(e, "error_code", "") != "RESOURCE_DOES_NOT_EXIST":
            raise
    return client.create_registered_model(name, tags={mc.MODEL_TAG: name})


def _export_model(client: Any, ws: Workspace, name: str, versions: list, held: dict[str, int], result: Any,
                  exp_ids: dict[str, str], trust: Any, tmp: str) -> None:
    registered = _registered(client, name)
    have: dict[int, str] = {}
    by_run: dict[str, list[str]] = {}
    for v in mc.pages(client.search_model_versions, filter_string=f"name='{_quote(name)}'", max_results=1000):
        if mc.VERSION_TAG in v.tags:
            have[int(v.tags[mc.VERSION_TAG])] = v.version
        elif v.run_id:  # not made by an export: maybe the version an imported one came from
            by_run.setdefault(v.run_id, []).append(v.version)
    for mv in versions:
        if mv.version in have:
            continue
        origin = by_run.get(result.runs.get(mv.run_id)) if mv.run_id else None
        if origin:  # imported from this store (its run was): the same version, not a new one
            have[mv.version] = origin.pop(0)
            continue
        try:
            obj = mv.load(trust)
        except NbtrackError as e:
            result.warnings.append(f"model {mv.ref} not exported: {e}")
            continue
        path = os.path.join(tmp, f"model-{mv.id}")
        _save(obj, path, mv.signature)
        run_id = result.runs.get(mv.run_id) if mv.run_id else None
        exp_id = client.get_run(run_id).info.experiment_id if run_id else _default_experiment(client, exp_ids)
        logged = client.create_logged_model(exp_id, name=name, source_run_id=run_id,
                                            tags={"nbtrack.ref": mv.ref, mc.OID_TAG: mv.oid})
        client.log_model_artifacts(logged.model_id, path)
        from mlflow.entities import LoggedModelStatus

        client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
        tags = {mc.VERSION_TAG: str(mv.version), mc.OID_TAG: mv.oid, "nbtrack.class": mv.class_name or "",
                mc.RUN_TAG: mv.run_id or ""}
        created = client.create_model_version(name, source=logged.artifact_location, run_id=run_id,
                                              tags=tags, description=mv.description, model_id=logged.model_id)
        have[mv.version] = created.version
        result.model_versions += 1
    _sync_aliases(client, name, registered, held, have, result)


def _sync_aliases(client: Any, name: str, registered: Any, held: dict[str, int], have: dict[int, str],
                  result: Any) -> None:
    current = {a: str(v) for a, v in (registered.aliases or {}).items()}
    for alias, version in sorted(held.items()):
        target = have.get(version)
        if target is not None and current.get(alias) != str(target):
            client.set_registered_model_alias(name, alias, target)
            result.aliases += 1
    if registered.tags.get(mc.MODEL_TAG):  # a model nbtrack made: an alias deleted here goes there too
        for alias in set(current) - set(held):
            client.delete_registered_model_alias(name, alias)


def _default_experiment(client: Any, exp_ids: dict[str, str]) -> str:
    if "default" not in exp_ids:
        found = client.get_experiment_by_name("default")
        exp_ids["default"] = found.experiment_id if found else client.create_experiment("default")
    return exp_ids["default"]


def _quote(name: str) -> str:
    return name.replace("'", "\\'")


def _save(obj: Any, path: str, signature: dict | None) -> None:
    """``obj`` as an MLflow sklearn-flavor model folder (skops when skops can save it)."""
    import mlflow.sklearn
    import sklearn

    fmt, trusted, reqs = "skops", None, [f"scikit-learn=={sklearn.__version__}"]
    try:
        import skops
        import skops.io as sio

        trusted = sio.get_untrusted_types(data=sio.dumps(obj)) or None
        reqs.append(f"skops=={skops.__version__}")
    except Exception:  # noqa: BLE001 - skops cannot hold it: MLflow's other format
        import cloudpickle  # type: ignore[import-untyped]

        fmt, trusted = "cloudpickle", None
        reqs.append(f"cloudpickle=={cloudpickle.__version__}")
    mlflow.sklearn.save_model(obj, path, serialization_format=fmt, skops_trusted_types=trusted,
                              signature=mc.model_signature(signature), pip_requirements=reqs)


# -- import ------------------------------------------------------------------------------------
_BAD = re.compile(r"[^A-Za-z0-9_.\-/]")


def import_models(client: Any, ws: Workspace, result: Any, trust: Any, tmp: str) -> None:
    for registered in list(mc.pages(client.search_registered_models, max_results=1000)):
        name = _BAD.sub("-", registered.name)[:255]
        if name != registered.name:
            result.warnings.append(f"MLflow model {registered.name!r} is imported as {name!r}")
        found = sorted(mc.pages(client.search_model_versions, filter_string=f"name='{_quote(registered.name)}'",
                                max_results=1000), key=lambda v: int(v.version))
        mapping: dict[str, int] = {}
        for v in found:
            number = _import_version(client, ws, registered.name, name, v, result, trust, tmp)
            if number is not None:
                mapping[str(v.version)] = number
        _import_aliases(ws, name, registered.aliases or {}, mapping, result)


def _import_version(client: Any, ws: Workspace, source: str, name: str, v: Any, result: Any, trust: Any,
                    tmp: str) -> int | None:
    where = f"MLflow model version models:/{source}/{v.version}"
    try:
        folder = _download(client, result.tracking_uri, source, v.version,
                           os.path.join(tmp, f"mv-{len(os.listdir(tmp))}"))
        obj, frame = _load(folder, trust, where)
    except NbtrackError as e:
        result.refused.append(str(e))
        return None
    except Exception as e:  # noqa: BLE001 - a missing or odd model: the rest is still imported
        result.warnings.append(f"{where} not imported: {type(e).__name__}: {e}")
        return None
    return _store(ws, name, obj, frame, result.runs.get(v.run_id) if v.run_id else None, v, where, result)


def _download(client: Any, tracking_uri: str, name: str, version: str, dst: str) -> str:
    import mlflow.artifacts

    uri = client.get_model_version_download_uri(name, version)
    os.makedirs(dst, exist_ok=True)
    return mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=dst,
                                               tracking_uri=tracking_uri)


def _load(folder: str, trust: Any, where: str) -> tuple[Any, Any]:
    """The model object of an MLflow sklearn-flavor folder, loaded under nbtrack's trust rules."""
    from mlflow.models import Model

    from ..errors import UntrustedModel
    from ..snapshot import model_io

    meta = Model.load(os.path.join(folder, "MLmodel"))
    flavor = meta.flavors.get("sklearn")
    if flavor is None:
        raise NbtrackError(f"{where} has no sklearn flavor (flavors: {', '.join(meta.flavors)}); "
                           "only scikit-learn models are imported")
    fmt = flavor.get("serialization_format", "pickle")
    with open(os.path.join(folder, flavor["pickled_model"]), "rb") as f:
        data = f.read()
    frame = mc.frame_like(meta.signature) if meta.signature is not None else None
    if fmt == "skops":
        return model_io.loads(data, model_io.SKOPS, trust, what=where), frame
    if trust is not True:
        raise UntrustedModel(f"{where} is a {fmt} file: loading it can run any code in it, so it is not imported. "
                             "If you trust that store, import with --trust (trust=True)", types=[])
    import pickle

    if fmt == "cloudpickle":
        import cloudpickle

        return cloudpickle.loads(data), frame
    return pickle.loads(data), frame  # noqa: S301 - trust=True was given


def _store(ws: Workspace, name: str, obj: Any, frame: Any, run_id: str | None, v: Any, where: str,
           result: Any) -> int:
    from ..registry import events
    from ..snapshot import model_io
    from ..snapshot.models import log_model, model_id

    data, fmt = model_io.dumps(obj, allow_pickle=True)
    oid = ws.objects.put(data)
    with ws.meta.read() as conn:
        mid = model_id(conn, name)
        same = None if mid is None else conn.execute(
            select(mv_t.c.version).where(mv_t.c.model_id == mid, mv_t.c.oid == oid)
            .order_by(mv_t.c.version).limit(1)).scalar()
    if same is not None:
        return same
    mv = log_model(obj, name, run=run_id, X=frame, description=v.description or None, workspace=ws)
    with ws.meta.write() as conn:
        events.record(conn, "model.import", f"model:{mv.ref}",
                      {"from": where, "run": run_id, "oid": mv.oid, "format": mv.format})
    result.model_versions += 1
    return mv.version


def _import_aliases(ws: Workspace, name: str, held: dict, mapping: dict[str, int], result: Any) -> None:
    from ..registry.aliases import held as held_now, set_alias
    from ..snapshot.models import model_id

    for alias, version in sorted(held.items()):
        target = mapping.get(str(version))
        if target is None:
            continue
        with ws.meta.read() as conn:
            current = held_now(conn, name, alias)[1] if model_id(conn, name) is not None else None
        if current == target:
            continue
        try:
            set_alias(name, alias, target, reason="imported from MLflow", workspace=ws)
            result.aliases += 1
        except NbtrackError as e:
            result.warnings.append(f"alias {name}@{alias} not set: {e}")
