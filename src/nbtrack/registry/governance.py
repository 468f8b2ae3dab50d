"""Governance rules of a workspace: protected aliases, the approver role, the four-eyes rule.

Read from the ``[registry]`` and ``[roles]`` tables of ``.nbtrack/config.toml``::

    [registry]
    protected_aliases = ["production"]
    four_eyes = true
    require_signed_approvals = false

    [roles]
    approver = ["alice", "ci-bot"]

Moving a protected alias (``alias set``, ``promote``, ``rollback``, deleting it) needs the
``approver`` role; with ``four_eyes``, the approver must not be someone who trained the
version the alias would hold (the version's creator or the user of the run that produced
it) or approved the pipeline notebook whose run produced it. The check runs inside the
move's write transaction; a refusal raises :class:`~nbtrack.errors.Forbidden` and the
caller records an ``alias.refused`` event in a transaction of its own.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ..context import user
from ..errors import Forbidden, InvalidInput
from ..snapshot.models import ModelVersion
from ..store.schema import pipeline_versions, pipelines, runs, tags
from ..workspace import Workspace

TAG_PIPELINE, TAG_VERSION = "nbtrack.pipeline", "nbtrack.pipeline_version"  # set by nbtrack.pipeline.run


@dataclass(frozen=True)
class Policy:
    protected_aliases: frozenset[str] = frozenset()
    four_eyes: bool = False
    require_signed_approvals: bool = False
    approvers: frozenset[str] = field(default_factory=frozenset)
    source: str | None = None  # the config file it was read from


def config_path(ws: Workspace) -> Path | None:
    return Path(ws.root) / "config.toml" if ws.root else None


def policy(ws: Workspace) -> Policy:
    """The workspace's rules (none when it has no ``config.toml``, e.g. a bare database URL)."""
    path = config_path(ws)
    if path is None or not path.is_file():
        return Policy()
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        import tomli as tomllib
    try:
        cfg = tomllib.loads(path.read_text())
    except Exception as e:
        raise InvalidInput(f"{path} is not valid TOML: {e}") from e
    reg, roles = cfg.get("registry", {}), cfg.get("roles", {})
    return Policy(frozenset(_names(reg, "protected_aliases", path, "registry")), _flag(reg, "four_eyes", path),
                  _flag(reg, "require_signed_approvals", path),
                  frozenset(_names(roles, "approver", path, "roles")), str(path))


def _names(table: dict, key: str, path: Path, section: str) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidInput(f"{path}: [{section}] {key} must be a list of names, e.g. {key} = [\"production\"]")
    return value


def _flag(table: dict, key: str, path: Path) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise InvalidInput(f"{path}: [registry] {key} must be true or false, got {value!r}")
    return value


def involved(conn: Connection, mv: ModelVersion) -> dict[str, str]:
    """``{user: how}`` for everyone the four-eyes rule excludes from moving an alias to ``mv``."""
    found: dict[str, str] = {}
    run_id, seen = mv.run_id, set()
    while run_id and run_id not in seen:  # the producing run, then its parents (a pipeline run)
        seen.add(run_id)
        row = conn.execute(select(runs.c.user, runs.c.parent_id).where(runs.c.id == run_id)).first()
        if row is None:
            break
        if row.user:
            found.setdefault(row.user, f"trained {mv.ref} (run {run_id})")
        t = dict(conn.execute(select(tags.c.key, tags.c.value).where(
            tags.c.run_id == run_id, tags.c.key.in_([TAG_PIPELINE, TAG_VERSION]))).all())
        if TAG_PIPELINE in t and TAG_VERSION in t:
            by = conn.execute(select(pipeline_versions.c.approved_by).join(
                pipelines, pipelines.c.id == pipeline_versions.c.pipeline_id).where(
                pipelines.c.name == t[TAG_PIPELINE], pipeline_versions.c.version == int(t[TAG_VERSION]))).scalar()
            if by:
                found.setdefault(by, f"approved the notebook {t[TAG_PIPELINE]}@{t[TAG_VERSION]} that trained "
                                     f"{mv.ref}")
        run_id = row.parent_id
    if mv.creator:
        found.setdefault(mv.creator, f"registered {mv.ref}")
    return found


def check_move(conn: Connection, ws: Workspace, name: str, alias: str, target: ModelVersion | None) -> None:
    """Raise :class:`Forbidden` if the acting user may not move ``name@alias`` to ``target``."""
    rules = policy(ws)
    if alias not in rules.protected_aliases:
        return
    who = user()
    if who not in rules.approvers:
        raise Forbidden(f"{name}@{alias} is protected: moving it needs the approver role, which {who} does not "
                        f"have ([roles] approver in {rules.source})", rule="role", actor=who)
    if rules.four_eyes and target is not None:
        how = involved(conn, target).get(who)
        if how:
            raise Forbidden(f"four-eyes rule: {who} {how}, so another approver must move {name}@{alias} to "
                            f"version {target.version}", rule="four_eyes", actor=who)
