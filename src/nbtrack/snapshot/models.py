"""Model versions: ``log_model(obj, name)`` -> ``name@N``; ``load_model("name@N")`` -> the object.

Versions are numbered per name from 1. A new version is made only when the
stored bytes differ from the latest version of that name (skops archives are
canonical, see :mod:`.model_io`), so re-running an unchanged cell re-uses it.
A reference is ``name`` or ``name@latest`` (newest), ``name@3`` (a version) or
``name@production`` (an alias, see :mod:`nbtrack.registry`).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, overload

from sqlalchemy import and_, func, insert, select
from sqlalchemy.engine import Connection

from ..context import active_run
from ..errors import InvalidInput, NotFound
from ..store.schema import aliases, dataset_versions, datasets, evaluations as ev, lineage, model_versions, models
from ..workspace import Workspace, get_workspace
from . import model_io, model_relog, pending
from .notebook_classes import announce, check_loadable, main_names, sources
from .signature import changed_params, class_name, params as model_params, signature
from ..store.keys import inserted_id

MODEL_PARAMS = "model."  # run params summarising a model's non-default hyper-parameters: model.NAME.param
_NAME = re.compile(r"^[A-Za-z0-9_.\-/]{1,255}$")


@dataclass
class ModelVersion:
    """One immutable version of a named model."""

    name: str
    version: int
    id: int
    oid: str
    format: str
    unsafe: bool
    class_name: str | None = None
    signature: dict | None = None
    params: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    run_id: str | None = None
    dataset_version_id: int | None = None
    source_version_id: int | None = None
    creator: str | None = None
    created: float = 0.0
    description: str | None = None
    new: bool = False  # True when this call created the version (False: an equal one existed)
    workspace: Workspace | None = field(default=None, repr=False, compare=False)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def class_sources(self) -> dict[str, str | None]:
        """Source of the classes/functions defined in the notebook that this model needs
        (``{"__main__.Name": "class Name(...): ..."}``; empty for models of imported classes)."""
        return (self.signature or {}).get("notebook_classes") or {}

    def load(self, trust: bool | list[str] | None = None) -> Any:
        """The model object (see :func:`load_model` for ``trust``)."""
        if self.class_sources:
            check_loadable(self.ref, self.class_sources)
        ws = self.workspace or get_workspace()
        obj = model_io.loads(ws.objects.get(self.oid), self.format, trust, what=f"model {self.ref}")
        _warn_versions(self, obj)
        return obj

    def to_dict(self) -> dict[str, Any]:
        self._decode()
        return {k: v for k, v in self.__dict__.items() if k != "workspace"}

    if not TYPE_CHECKING:  # (for mypy every attribute stays checked)
        def __getattr__(self, name: str) -> Any:
            """Only called for a missing attribute: the JSON fields of a version the re-log path read
            (:func:`stored_version`), decoded when first used."""
            if name in _JSON_FIELDS and "_json" in self.__dict__:
                self._decode()
                return self.__dict__[name]
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _decode(self) -> None:
        """Decode the JSON fields left as text by :func:`stored_version` (in place, in field order)."""
        d = self.__dict__
        raw = d.pop("_json", None)
        if raw is None:
            return
        values = {"signature": _loads(raw[0]), "params": _loads(raw[1]) or {}, "metrics": _loads(raw[2]) or {}}
        ordered = {k: values[k] if k in values else d[k] for k in _FIELD_NAMES if k in d or k in values}
        ordered.update((k, v) for k, v in d.items() if k not in ordered)
        d.clear()
        d.update(ordered)


_JSON_FIELDS = frozenset({"signature", "params", "metrics"})
_FIELD_NAMES = tuple(ModelVersion.__dataclass_fields__)
del ModelVersion.signature  # (its default lives in __init__; a class attribute would hide a missing one)


def _warn_versions(mv: ModelVersion, obj: Any) -> None:
    """Warn when the model's own package is loaded at another version than it was saved with."""
    import sys
    import warnings

    saved = (mv.signature or {}).get("packages") or {}
    root = type(obj).__module__.split(".", 1)[0]
    now = getattr(sys.modules.get(root), "__version__", None)
    if root in saved and now and saved[root] != now:
        warnings.warn(f"model {mv.ref} was saved with {root} {saved[root]} and is loaded with {now}; "
                      "its predictions may differ", stacklevel=3)


def check_name(name: str) -> str:
    if type(name) is str and name in _GOOD_NAMES:  # (a name checked before: a set lookup)
        return name
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(
            f"model name {name!r} must be 1-255 characters of letters, digits, '_', '.', '-' or '/' (no '@')"
        )
    if type(name) is str and len(_GOOD_NAMES) < 4096:
        _GOOD_NAMES.add(name)
    return name


_GOOD_NAMES: set[str] = set()  # names check_name accepted (exact str only)


def parse_ref(ref: str) -> tuple[str, str | None]:
    """``"clf@2"`` -> ``("clf", "2")``; ``"clf"`` -> ``("clf", None)``."""
    if not isinstance(ref, str) or not ref:
        raise InvalidInput(f"a model reference is 'name', 'name@N', 'name@latest' or 'name@alias', got {ref!r}")
    name, _, spec = ref.partition("@")
    return check_name(name), (spec or None)


# -- SQL helpers (shared with nbtrack.registry) ----------------------------------------
def version_query():
    return select(model_versions, models.c.name).join(models, models.c.id == model_versions.c.model_id)


def row_to_version(row, ws: Workspace | None = None, new: bool = False) -> ModelVersion:
    m = row._mapping
    return ModelVersion(
        name=m["name"], version=m["version"], id=m["id"], oid=m["oid"], format=m["format"],
        unsafe=bool(m["unsafe"]), class_name=m["class_name"], signature=_loads(m["signature"]),
        params=_loads(m["params"]) or {}, metrics=_loads(m["metrics"]) or {}, run_id=m["run_id"],
        dataset_version_id=m["dataset_version_id"], source_version_id=m["source_version_id"],
        creator=m["creator"], created=m["created"], description=m["description"], new=new, workspace=ws,
    )


def stored_version(m: dict[str, Any], ws: Workspace | None = None, new: bool = False) -> ModelVersion:
    """What :func:`row_to_version` makes of the row ``m``, its JSON fields (signature, params, metrics)
    decoded only when first read: a re-log of an unchanged model returns its version, which is
    seldom looked into."""
    mv = object.__new__(ModelVersion)
    mv.__dict__.update(
        name=m["name"], version=m["version"], id=m["id"], oid=m["oid"], format=m["format"],
        unsafe=bool(m["unsafe"]), class_name=m["class_name"], run_id=m["run_id"],
        dataset_version_id=m["dataset_version_id"], source_version_id=m["source_version_id"],
        creator=m["creator"], created=m["created"], description=m["description"], new=new, workspace=ws,
        _json=(m["signature"], m["params"], m["metrics"]),
    )
    return mv


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


@overload
def model_id(conn: Connection, name: str, create: Literal[True], now: float | None = None) -> int: ...
@overload
def model_id(conn: Connection, name: str, create: bool = False, now: float | None = None) -> int | None: ...
def model_id(conn: Connection, name: str, create: bool = False, now: float | None = None) -> int | None:
    """The id of model ``name``; with ``create``, made if missing and locked for numbering a version.

    SQLite write transactions are already serialized (``BEGIN IMMEDIATE``); on
    PostgreSQL the insert tolerates a concurrent one and the row is locked so two
    writers cannot both take the same next version number.
    """
    q = select(models.c.id).where(models.c.name == name)
    found = conn.execute(q).scalar()
    if not create:
        return found
    pg = conn.dialect.name == "postgresql"
    if found is None:
        if pg:
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            conn.execute(pg_insert(models).values(name=name, created=now or time.time())
                         .on_conflict_do_nothing(index_elements=["name"]))
        else:
            conn.execute(insert(models).values(name=name, created=now or time.time()))
    return conn.execute(q.with_for_update() if pg else q).scalar()


def resolve(conn: Connection, ref: str, ws: Workspace | None = None) -> ModelVersion:
    """The version a reference names, or :class:`NotFound` saying what exists."""
    name, spec = parse_ref(ref)
    q = version_query().where(models.c.name == name)
    if spec is None or spec == "latest":
        q = q.order_by(model_versions.c.version.desc()).limit(1)
    elif re.fullmatch(r"v?\d+", spec):
        q = q.where(model_versions.c.version == int(spec.lstrip("v")))
    else:
        q = q.join(aliases, and_(aliases.c.version_id == model_versions.c.id, aliases.c.alias == spec))
    row = conn.execute(q).first()
    if row is None:
        raise NotFound(_not_found(conn, name, spec))
    return row_to_version(row, ws)


def _not_found(conn: Connection, name: str, spec: str | None) -> str:
    mid = model_id(conn, name)
    if mid is None:
        return f"no model named {name!r}; nbtrack.models() lists them"
    versions = conn.execute(select(func.max(model_versions.c.version)).where(model_versions.c.model_id == mid)).scalar()
    names = sorted(conn.execute(select(aliases.c.alias).where(aliases.c.model_id == mid)).scalars())
    known = f"versions 1..{versions}" if versions else "no versions"
    return f"model {name!r} has no version or alias {spec!r} ({known}; aliases: {', '.join(names) or 'none'})"


def latest(conn: Connection, mid: int):
    return conn.execute(version_query().where(model_versions.c.model_id == mid)
                        .order_by(model_versions.c.version.desc()).limit(1)).first()


def insert_version(conn: Connection, mid: int, values: dict[str, Any]) -> int:
    """Next version number of model ``mid`` with ``values``; returns the new row id."""
    last = conn.execute(select(func.max(model_versions.c.version)).where(model_versions.c.model_id == mid)).scalar()
    for key in ("signature", "params", "metrics"):
        if isinstance(values.get(key), (dict, list)):
            values[key] = json.dumps(values[key], sort_keys=True, default=str)
    row = {"model_id": mid, "version": (last or 0) + 1, "created": time.time(), **values}
    return inserted_id(conn.execute(insert(model_versions).values(**row)))


def link_output(conn: Connection, run_id: str, version_id: int, variable: str | None) -> None:
    """Lineage edge run -> model version (once per run, version and variable)."""
    cond = and_(lineage.c.run_id == run_id, lineage.c.model_version_id == version_id, lineage.c.direction == "output")
    if conn.execute(select(lineage.c.id).where(cond)).first() is None:
        conn.execute(insert(lineage).values(run_id=run_id, direction="output", model_version_id=version_id,
                                            variable=variable))


def dataset_version_id(conn: Connection, ref: int | str | None) -> int | None:
    """A dataset version id from an id or a ``"name@N"`` reference."""
    if ref is None or isinstance(ref, int):
        return ref
    name, _, spec = str(ref).partition("@")
    q = (select(dataset_versions.c.id).join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
         .where(datasets.c.name == name))
    q = q.where(dataset_versions.c.version == int(spec)) if spec.isdigit() else q
    found = conn.execute(q.order_by(dataset_versions.c.version.desc()).limit(1)).scalar()
    if found is None:
        raise NotFound(f"no dataset version {ref!r}; nbtrack.datasets() lists them")
    return found


# -- public API ------------------------------------------------------------------------
def log_model(
    obj: Any,
    name: str,
    run: Any = None,
    *,
    X: Any = None,
    dataset_version: int | str | None = None,
    description: str | None = None,
    allow_pickle: bool = True,
    variable: str | None = None,
    workspace: Workspace | None = None,
) -> ModelVersion:
    """Store a model as the next version of ``name`` (or re-use an equal latest version).

    Parameters
    ----------
    obj : object
        A scikit-learn estimator or pipeline (saved with skops), or any picklable
        object (saved with joblib and marked unsafe: it loads only with ``trust=True``).
    name : str
        The model name; versions are ``name@1``, ``name@2``, ...
    run : ActiveRun or str, optional
        The run that produced it (default: the active run, if any). The model's
        non-default hyper-parameters are logged on an active run as
        ``model.NAME.param`` params (``nbtrack.runs(model_params=True)`` shows
        them); the full ``get_params()`` is stored on the version.
    X : pandas.DataFrame, optional
        Training features, for the signature's dtypes.
    dataset_version : int or str, optional
        Training dataset version (id or ``"name@N"``).
    allow_pickle : bool
        If False, an object skops cannot save raises instead of being pickled.

    Returns
    -------
    ModelVersion
        ``.new`` is False when an equal version already was the latest.
    """
    run = run if run is not None else active_run()
    ws = workspace or getattr(run, "ws", None) or get_workspace(create=True)
    stored = archive_model(obj, name, ws, run, allow_pickle=allow_pickle)
    pending.wait_for("model", name)  # versions keep their order: after one still being stored
    found = model_relog.relog(ws, name, stored, dataset_version, variable)  # SQLite, unchanged model: plain sqlite3
    if found is not None:  # (its params and signature are the stored version's: not computed again)
        if stored["notebook"]:
            announce(name, stored["notebook"])
        if hasattr(run, "log_params") and model_params(obj):
            _log_changed_params(obj, name, run)
        return stored_version(found._mapping, ws, new=False)
    values = describe_model(obj, name, stored, run, X=X, description=description)
    with ws.meta.write() as conn:
        version = commit_model(conn, ws, name, values, dataset_version, variable)
        model_relog.saved(ws.meta, conn, name)
    model_relog.committed(ws.meta)
    return version


def prepare_model(obj: Any, name: str, ws: Workspace, run: Any = None, *, X: Any = None,
                  description: str | None = None, allow_pickle: bool = True) -> dict[str, Any]:
    """Store ``obj``'s archive now (what a later refit cannot change) and return the version's
    row values for :func:`commit_model`; the model's changed params are logged on ``run``."""
    stored = archive_model(obj, name, ws, run, allow_pickle=allow_pickle)
    return describe_model(obj, name, stored, run, X=X, description=description)


def archive_model(obj: Any, name: str, ws: Workspace, run: Any = None, *,
                  allow_pickle: bool = True) -> dict[str, Any]:
    """The first half of :func:`prepare_model`: ``obj``'s archive stored, as ``oid``, ``format``,
    ``notebook`` (``__main__`` names) and ``run_id``. All an unchanged re-log needs
    (:mod:`.model_relog`): the params and signature are only computed for a new version."""
    check_name(name)
    run_id = run if isinstance(run, str) else getattr(run, "id", None)
    oid, fmt, notebook = _archive(ws, obj, allow_pickle)
    return {"oid": oid, "format": fmt, "notebook": notebook, "run_id": run_id}


def describe_model(obj: Any, name: str, stored: dict[str, Any], run: Any = None, *, X: Any = None,
                   description: str | None = None) -> dict[str, Any]:
    """The second half of :func:`prepare_model`: the version's row values from :func:`archive_model`'s."""
    from ..context import user

    prm = model_params(obj)
    sig = signature(obj, X)
    fmt, notebook = stored["format"], stored["notebook"]
    if notebook:
        sig["notebook_classes"] = sources(notebook)
        announce(name, notebook)
    if prm and hasattr(run, "log_params"):  # the full get_params() is on the version; the run shows what was set
        _log_changed_params(obj, name, run)
    return {"oid": stored["oid"], "format": fmt, "unsafe": fmt == model_io.JOBLIB, "class_name": class_name(obj),
            "signature": sig, "params": prm, "run_id": stored["run_id"], "creator": user(),
            "description": description}


def _log_changed_params(obj: Any, name: str, run: Any) -> None:
    run.log_params({f"{MODEL_PARAMS}{name}.{k}": v for k, v in changed_params(obj).items()})


def commit_model(conn: Connection, ws: Workspace, name: str, values: dict[str, Any],
                 dataset_version: int | str | None = None, variable: str | None = None) -> ModelVersion:
    """Record a prepared model (:func:`prepare_model`) in the open write transaction ``conn``."""
    values = {**values, "dataset_version_id": dataset_version_id(conn, dataset_version)}
    version = _store(conn, name, values, ws)
    if values["run_id"] is not None:
        link_output(conn, values["run_id"], version.id, variable)
    return version


FINGERPRINTS = 256  # models remembered per workspace and process


def _archive(ws: Workspace, obj: Any, allow_pickle: bool) -> tuple[str, str, list[str]]:
    """(object id, format, ``__main__`` names) of ``obj``'s archive, stored.

    A model this process already stored, unchanged (same fingerprint, see
    :func:`.model_io.fingerprint`), is not archived again: its object id is reused
    while the object is still in the store.
    """
    memo: dict = ws.memo.setdefault("model_fingerprints", {})
    fp = model_io.fingerprint(obj)
    key = (fp, allow_pickle)
    hit = memo.get(key) if fp is not None else None
    if hit is not None and ws.objects.refresh([(hit[0], None)]):  # adopted: young in gc's eyes
        return hit
    data, fmt = model_io.dumps(obj, allow_pickle=allow_pickle)
    oid = ws.objects.put(data)
    found = (oid, fmt, _notebook_names(obj, data, fmt))
    if fp is not None:
        memo.pop(key, None)
        memo[key] = found
        while len(memo) > FINGERPRINTS:
            memo.pop(next(iter(memo)))
    return found


def _notebook_names(obj: Any, data: bytes, fmt: str) -> list[str]:
    """Names defined in ``__main__`` that loading the model needs (a byte search first: cheap)."""
    if fmt == model_io.FAST or b"__main__" not in data and type(obj).__module__ != "__main__":
        return []  # (nbtrack.model/1 archives never name a __main__ class: those models are saved with skops)
    types: list[str] = []
    if fmt in (model_io.SKOPS, model_io.FAST):
        types = model_io.archive_types(data, fmt)
    else:
        try:
            params = obj.get_params(deep=True).values() if hasattr(obj, "get_params") else []
        except Exception:
            params = []
        for v in params:
            t = v if isinstance(v, type) or callable(v) and not hasattr(v, "get_params") else type(v)
            if getattr(t, "__module__", None) == "__main__":
                types.append(f"__main__.{t.__qualname__}")
    return main_names(types, obj)


def _store(conn: Connection, name: str, values: dict[str, Any], ws: Workspace) -> ModelVersion:
    mid = model_id(conn, name, create=True)
    last = latest(conn, mid)
    if last is not None and last._mapping["oid"] == values["oid"]:
        row, new = last, False
    else:
        vid = insert_version(conn, mid, dict(values))
        row, new = conn.execute(version_query().where(model_versions.c.id == vid)).first(), True
    info = getattr(conn, "info", None) if getattr(ws.meta, "direct", False) else None
    if info is not None:  # (a SQLite file: the latest version's row, for model_relog.saved)
        info[model_relog.LATEST_ROW] = (name, row._mapping)
    return row_to_version(row, ws, new=new)


def get_model_version(ref: str, workspace: Workspace | None = None) -> ModelVersion:
    """The :class:`ModelVersion` a reference names (``"clf@2"``, ``"churn@production"``)."""
    pending.wait_for("model", ref.partition("@")[0] if isinstance(ref, str) else None)
    ws = workspace or get_workspace()
    with ws.meta.read() as conn:
        return resolve(conn, ref, ws)


def load_model(ref: str, trust: bool | list[str] | None = None, workspace: Workspace | None = None) -> Any:
    """Load a model version back: ``load_model("clf@1")``, ``"clf@latest"``, ``"churn@production"``.

    Parameters
    ----------
    ref : str
        ``name``, ``name@N``, ``name@latest`` or ``name@alias``.
    trust : bool or list of str, optional
        skops archives load when every type in them is trusted: scikit-learn,
        numpy and scipy types by default, plus the fully qualified names listed
        here (``trust=["mypkg.MyEstimator"]``). ``trust=True`` trusts everything,
        and is required for versions stored with joblib (pickle).

    Raises
    ------
    UntrustedModel
        With the list of types to trust.
    """
    return get_model_version(ref, workspace).load(trust)


def record_evaluations(conn: Connection, version_id: int, dataset_version_id: int | None,
                       values: dict[str, float], run_id: str | None = None) -> int:
    """Evaluation rows of a model version on a dataset version; identical rows are not repeated."""
    added = 0
    for metric, value in values.items():
        cond = and_(ev.c.model_version_id == version_id, ev.c.metric == metric, ev.c.value == value,
                    ev.c.dataset_version_id.is_(None) if dataset_version_id is None
                    else ev.c.dataset_version_id == dataset_version_id)
        if conn.execute(select(ev.c.id).where(cond)).first() is None:
            conn.execute(insert(ev).values(model_version_id=version_id, dataset_version_id=dataset_version_id,
                                           metric=metric, value=float(value), run_id=run_id, created=time.time()))
            added += 1
    return added
