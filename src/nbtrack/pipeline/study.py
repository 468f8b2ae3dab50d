"""The Optuna study of a tuned sweep, stored with the workspace: storage, samplers, objective.

Optuna keeps its own tables (and its own alembic ``alembic_version``), so its
``RDBStorage`` cannot share nbtrack's SQLite file: a SQLite workspace keeps the
studies in ``optuna.db`` next to ``meta.db``; a PostgreSQL workspace keeps them in
the same database, schema ``nbtrack_optuna``. Optuna is imported only here and only
when a tuned sweep runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from ..errors import InvalidInput, MissingExtra
from ..workspace import Workspace

PG_SCHEMA = "nbtrack_optuna"
SAMPLERS = ("tpe", "cmaes", "random")
_storages: dict[str, Any] = {}


def import_optuna():
    try:
        import optuna
    except ImportError:
        raise MissingExtra('tuned sweeps need Optuna: pip install "nbtrack[optuna]"') from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def parse_objective(text: str) -> tuple[str, bool]:
    """``"metrics.auc max"`` -> (``"metrics.auc"``, True); ``min``/``minimize`` for losses."""
    parts = str(text or "").split()
    if not parts or len(parts) > 2:
        raise InvalidInput(f"--objective {text!r}: give a metric and a direction, e.g. --objective \"metrics.auc max\"")
    direction = parts[1].lower() if len(parts) == 2 else "max"
    if direction not in ("max", "maximize", "min", "minimize"):
        raise InvalidInput(f"--objective {text!r}: the direction is max or min, e.g. --objective \"metrics.loss min\"")
    from .sweep_result import _metric_key

    try:
        _metric_key(parts[0])
    except Exception as e:
        raise InvalidInput(f"--objective {text!r}: {e}") from None
    return parts[0], direction.startswith("max")


def storage_url(ws: Workspace) -> tuple[str, dict]:
    """(SQLAlchemy URL, engine kwargs) of the workspace's Optuna storage."""
    from sqlalchemy.engine import make_url

    url = make_url(ws.meta_url)
    if url.get_backend_name() == "sqlite":
        folder = os.path.dirname(os.path.abspath(url.database)) if url.database else (ws.root or ".")
        return f"sqlite:///{os.path.join(folder, 'optuna.db')}", {"connect_args": {"timeout": 60}}
    if url.get_backend_name() == "postgresql":
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}"))
        finally:
            engine.dispose()
        return ws.meta_url, {"connect_args": {"options": f"-csearch_path={PG_SCHEMA}"}}
    raise InvalidInput(f"tuned sweeps keep their study in SQLite or PostgreSQL, not {url.get_backend_name()}")


def storage(ws: Workspace):
    """Optuna's RDBStorage for this workspace (one per process and workspace).

    On SQLite, ``optuna.db`` gets the workspace's journal settings (WAL, and
    ``synchronous`` from its durability): Optuna's default rollback journal fsyncs
    every one of the several commits a trial makes."""
    optuna = import_optuna()
    url, kwargs = storage_url(ws)
    if url not in _storages:
        rdb = optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        if url.startswith("sqlite"):
            from sqlalchemy import event

            from ..store.meta import DURABILITY

            sync = DURABILITY.get(getattr(ws.meta, "durability", "normal"), "NORMAL")

            def _pragmas(dbapi_conn, _record) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute(f"PRAGMA synchronous={sync}")
                cur.close()

            event.listen(rdb.engine, "connect", _pragmas)
            rdb.engine.dispose()  # the connections Optuna opened to make its tables: without the pragmas
        _storages[url] = rdb
    return _storages[url]


def lock(ws: Workspace, name: str):
    """The lock a sweep holds on study ``name`` while it runs (:mod:`.study_lock`)."""
    from .study_lock import StudyLock

    url, kwargs = storage_url(ws)
    return StudyLock(url, kwargs, name)


def sampler(name: str, seed: int | None):
    optuna = import_optuna()
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise InvalidInput(f"--sampler {name!r}: choose one of {', '.join(SAMPLERS)}")


def pruner(prune: Any):
    optuna = import_optuna()
    if prune is True:
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if not prune:
        return optuna.pruners.NopPruner()
    if isinstance(prune, optuna.pruners.BasePruner):
        return prune
    raise InvalidInput(f"prune={prune!r}: give True or an optuna pruner")


def distributions(dims) -> dict[str, Any]:
    """Optuna distributions of the searched dimensions."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for d in dims:
        if d.kind == "float":
            out[d.name] = FloatDistribution(d.low, d.high, log=d.log, step=d.step)
        elif d.kind == "int":
            out[d.name] = IntDistribution(int(d.low), int(d.high), log=d.log, step=int(d.step or 1))
        elif d.kind == "choice":
            out[d.name] = CategoricalDistribution(list(d.choices))
    return out


def default_name(pipeline: str, version: int, dims, objective: str, sampler_name: str, prune: bool) -> str:
    """Same command, same study: the pipeline version, space, objective and sampler, hashed."""
    key = json.dumps({"space": [[d.name, d.kind, d.low, d.high, d.log, d.step, list(map(repr, d.choices))]
                                for d in dims], "objective": objective, "sampler": sampler_name,
                      "prune": bool(prune)}, sort_keys=True)
    return f"{pipeline}@{version}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def load(ws: Workspace, name: str):
    """The stored study ``name`` (for plots and reports)."""
    optuna = import_optuna()
    try:
        return optuna.load_study(study_name=name, storage=storage(ws))
    except KeyError:
        raise InvalidInput(f"no Optuna study {name!r} in this workspace") from None
