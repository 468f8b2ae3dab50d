"""Reading the model registry: one model by name, and the alias labels the tables show."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from ..errors import NotFound
from ..store.schema import aliases, model_versions as mv_t, models as models_t
from ..workspace import Workspace, get_workspace


@dataclass
class Model:
    """A registered model name: how many versions, the latest, and which versions its aliases hold."""

    name: str
    id: int
    created: float
    description: str | None
    versions: int
    latest: int | None
    aliases: dict[str, int] = field(default_factory=dict)  # alias -> version number

    @property
    def alias_labels(self) -> str:
        """``"production=2, staging=3"`` (what ``nbtrack.models()`` shows)."""
        return ", ".join(f"{a}={v}" for a, v in sorted(self.aliases.items()))


def alias_labels(conn: Connection, model: int | None = None) -> dict[int, str]:
    """model id -> ``"production=2, staging=3"``, for one model or all of them."""
    q = (select(aliases.c.model_id, aliases.c.alias, mv_t.c.version)
         .join(mv_t, mv_t.c.id == aliases.c.version_id).order_by(aliases.c.alias))
    if model is not None:
        q = q.where(aliases.c.model_id == model)
    out: dict[int, list[str]] = {}
    for mid, alias, version in conn.execute(q):
        out.setdefault(mid, []).append(f"{alias}={version}")
    return {k: ", ".join(v) for k, v in out.items()}


def get_model(name: str, workspace: Workspace | None = None) -> Model:
    """The registered model ``name`` (raises NotFound when there is none)."""
    ws = workspace or get_workspace(create=False)
    q = (select(models_t.c.id, models_t.c.name, models_t.c.created, models_t.c.description,
                func.count(mv_t.c.id).label("versions"), func.max(mv_t.c.version).label("latest"))
         .outerjoin(mv_t, mv_t.c.model_id == models_t.c.id)
         .where(models_t.c.name == name).group_by(models_t.c.id))
    with ws.meta.read() as conn:
        row = conn.execute(q).mappings().first()
        if row is None:
            raise NotFound(f"no model named {name!r}; nbtrack.models() lists them")
        held = dict(conn.execute(select(aliases.c.alias, mv_t.c.version)
                                 .join(mv_t, mv_t.c.id == aliases.c.version_id)
                                 .where(aliases.c.model_id == row["id"])).all())
    return Model(name=row["name"], id=row["id"], created=row["created"], description=row["description"],
                 versions=row["versions"], latest=row["latest"], aliases=held)
