"""Reading runs back: ``runs()`` as a pandas DataFrame and ``get_run()`` as a Run."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy import and_, func, select

from ..errors import InvalidInput, NotFound
from ..store.runs import decode_param
from ..store.schema import artifacts, experiments, latest_metrics, metrics, params, runs as runs_t, tags
from ..workspace import Workspace, get_workspace
from ..expr import Expr
from .filters import Compiled, compile_filter, compile_order
from .ids import resolve_run_id
from . import pg_page
from .lineage import refs, run_items
from .table import fetch_tuples, metric_columns, page_values, param_columns, positions

MODEL_PARAMS = "model."  # = snapshot.models.MODEL_PARAMS (not imported: query stays light)

BASE_COLUMNS = ["id", "name", "experiment", "kind", "status", "parent", "notebook", "cell_version",
                "started", "duration"]


def _ws(workspace: Workspace | None) -> Workspace:
    return workspace or get_workspace(create=False)


Match = str | list[str] | tuple[str, ...] | None


def _equal(col, value: str | list[str] | tuple[str, ...] | set[str] | None, what: str):
    """``col == value`` (or ``IN`` for a list); None when not filtering on it."""
    if value is None or (isinstance(value, str) and not value):
        return None
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        if not all(isinstance(v, str) for v in items):
            raise InvalidInput(f"{what} must be text or a list of texts")
        return col.in_(items)
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be text or a list of texts, got {type(value).__name__}")
    return col == value


def scoped(
    filter: str | Expr | None = None,
    *,
    experiment: Match = None,
    parent: Match = None,
    kind: Match = None,
    notebook: Match = None,
    cell_key: Match = None,
    name: Match = None,
    status: Match = None,
    ids: Match = None,
) -> Compiled:
    """Structured filters AND-ed with the user's filter, each compiled on its own.

    Structured values are bound parameters, never text spliced into an expression,
    so ``filter="x') or ('1' == '1"`` cannot widen what they select.
    """
    c = compile_filter(filter)
    conds = [x for x in (
        _equal(experiments.c.name, experiment, "experiment"),
        _equal(runs_t.c.parent_id, parent, "parent"),
        _equal(runs_t.c.kind, kind, "kind"),
        _equal(runs_t.c.notebook, notebook, "notebook"),
        _equal(runs_t.c.cell_key, cell_key, "cell_key"),
        _equal(runs_t.c.name, name, "name"),
        _equal(runs_t.c.status, status, "status"),
        _equal(runs_t.c.id, [ids] if isinstance(ids, str) else ids, "ids"),
    ) if x is not None]
    if conds:
        c.where = and_(*conds) if c.where is None else and_(*conds, c.where)
    return c


def runs(
    experiment: str | None = None,
    filter: str | Expr | None = None,
    order_by: str | list[str] | None = None,
    limit: int | None = None,
    *,
    offset: int = 0,
    parent: Match = None,
    kind: Match = None,
    notebook: Match = None,
    cell_key: Match = None,
    name: Match = None,
    status: Match = None,
    ids: Match = None,
    model_params: bool = False,
    workspace: Workspace | None = None,
):
    """Runs as a DataFrame, one row per run, newest first.

    Parameters
    ----------
    experiment : str, optional
        Only runs of this experiment.
    filter : str, optional
        An expression such as ``"metrics.acc > 0.9 and params.model == 'rf'"``,
        compiled to SQL (see ``docs/expressions.md``).
    order_by : str or list of str, optional
        ``"metrics.acc desc"``, ``"-duration"``...; newest first by default.
    limit, offset : int, optional
        Paging; ``limit=0`` or ``None`` means all runs (as ``nbtrack runs -n 0``).
    parent, kind, notebook, cell_key, name, status, ids : str or list of str, optional
        Structured filters: only runs with these values (a list: any of them). They
        are AND-ed with ``filter`` as separate conditions, so code that scopes a
        query (a notebook's runs) never builds filter text from user input.
    model_params : bool
        Also return ``params.model.NAME.*``: the non-default hyper-parameters of
        the models each run stored (left out by default: they are on the model
        versions, see ``nbtrack.get_model_version``).

    Returns
    -------
    pandas.DataFrame
        Columns ``id, name, experiment, kind, status, parent, notebook,
        cell_version, started, duration`` then ``params.*`` and ``metrics.*``
        (the last value of each metric).
    """
    import pandas as pd

    ws = _ws(workspace)
    if limit is not None and limit < 0:
        raise InvalidInput(f"limit must be >= 0, got {limit}")
    if offset is not None and offset < 0:
        raise InvalidInput(f"offset must be >= 0, got {offset}")
    matches = {"experiment": experiment, "parent": parent, "kind": kind, "notebook": notebook,
               "cell_key": cell_key, "name": name, "status": status, "ids": ids}
    key = pg_page.cache_key(filter, order_by, limit, offset, model_params, matches) \
        if ws.meta.dialect == "postgresql" else None
    if key is not None:  # PostgreSQL, a page: one statement, compiled once per distinct call
        with ws.meta.read() as conn:
            return pg_page.frame(conn, key, lambda: _page_query(filter, order_by, limit, offset, matches)[0],
                                 BASE_COLUMNS, MODEL_PARAMS)
    q, c = _page_query(filter, order_by, limit, offset, matches)
    # the runs whose params/metrics to read: all of them, or the same query's ids (a subquery)
    id_query = None
    if c.where is not None or limit or offset:
        id_query = q.with_only_columns(runs_t.c.id)
        if not (limit or offset):  # a set, not a page: no need to sort it
            id_query = id_query.order_by(None)
    from . import arrow_table  # imported here: not on the cold path of the first run

    src = arrow_table.source(ws.meta, limit, matches)  # a large SQLite table: read into Arrow, no Python per cell
    with ws.meta.read() as conn:
        if src is not None and arrow_table.worth_it(conn):
            df = arrow_table.read(src, q, id_query, conn.dialect, BASE_COLUMNS, model_params, MODEL_PARAMS)
            if df is not None:
                return df
        rows = fetch_tuples(conn, q)
        ids_found = [r[0] for r in rows]
        index = positions(ids_found)
        prows, mrows = page_values(conn, ids_found, id_query) or (None, None)  # PostgreSQL: one round trip
        ps = param_columns(conn, ids_found, id_query, model_params, MODEL_PARAMS, index, prows)
        ms = metric_columns(conn, ids_found, id_query, index, mrows)
    df = pd.DataFrame.from_records(rows, columns=BASE_COLUMNS, nrows=len(rows))
    df["started"] = pd.to_datetime(df["started"], unit="s", utc=True)
    # missing is NaN in every column (params, duration, metrics alike), never a mix of NaN and <NA>
    extra = {**ps, **ms}
    if extra:
        df = pd.concat([df, pd.DataFrame(extra, index=df.index)], axis=1)
    return df


def _page_query(filter, order_by, limit, offset, matches: dict):
    """The select of ``runs()``'s base columns, filtered, ordered and paged; and its compiled filter."""
    c = scoped(filter, **matches)
    order = compile_order(order_by, c)
    q = select(
        runs_t.c.id, runs_t.c.name, experiments.c.name.label("experiment"), runs_t.c.kind, runs_t.c.status,
        runs_t.c.parent_id.label("parent"), runs_t.c.notebook, runs_t.c.cell_version, runs_t.c.started,
        runs_t.c.duration,
    )
    q = c.apply(q.select_from(runs_t.join(experiments, experiments.c.id == runs_t.c.experiment_id)))
    if c.where is not None:
        q = q.where(c.where)
    return q.order_by(*order).offset(offset or None).limit(limit or None), c


def count_runs(
    filter: str | Expr | None = None,
    workspace: Workspace | None = None,
    *,
    experiment: Match = None,
    parent: Match = None,
    kind: Match = None,
    notebook: Match = None,
    cell_key: Match = None,
    name: Match = None,
    status: Match = None,
    ids: Match = None,
    parent_id: Match = None,
) -> int:
    """How many runs match (for paging); the same filters as :func:`runs`."""
    ws = _ws(workspace)
    c = scoped(filter, experiment=experiment, parent=parent or parent_id, kind=kind, notebook=notebook,
               cell_key=cell_key, name=name, status=status, ids=ids)
    q = c.apply(select(func.count()).select_from(
        runs_t.join(experiments, experiments.c.id == runs_t.c.experiment_id)))
    if c.where is not None:
        q = q.where(c.where)
    with ws.meta.read() as conn:
        return conn.execute(q).scalar() or 0


@dataclass
class Run:
    """Everything recorded about one run. ``source``, ``stdout`` and ``env`` load lazily."""

    id: str
    name: str | None
    experiment: str
    kind: str
    status: str
    parent_id: str | None
    notebook: str | None
    cell_id: str | None
    cell_key: str | None
    cell_version: int | None
    started: float
    ended: float | None
    duration: float | None
    error_type: str | None
    error_message: str | None
    user: str | None
    host: str | None
    git_commit: str | None
    git_dirty: bool | None
    source_oid: str | None
    env_oid: str | None
    stdout_oid: str | None
    reads: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float | None] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: list[dict] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)  # dataset/model versions used: "raw@2", "model:clf@1"
    outputs: list[str] = field(default_factory=list)  # versions produced
    # the same versions in full: {"kind": "dataset"|"model", "ref": "raw@2", "id": version id, "variable": ...}
    input_versions: list[dict] = field(default_factory=list)
    output_versions: list[dict] = field(default_factory=list)
    workspace: Workspace | None = field(default=None, repr=False, compare=False)

    def _object(self, oid: str | None) -> bytes | None:
        if oid is None or self.workspace is None:
            return None
        return self.workspace.objects.get(oid)

    @property
    def source(self) -> str | None:
        data = self._object(self.source_oid)
        return None if data is None else data.decode()

    @property
    def stdout(self) -> str:
        data = self._object(self.stdout_oid)
        return "" if data is None else data.decode()

    @property
    def env(self) -> dict:
        data = self._object(self.env_oid)
        return {} if data is None else json.loads(data)

    def metric_history(self, key: str | None = None):
        """Every logged value: DataFrame with columns key, step, value, timestamp."""
        import pandas as pd

        assert self.workspace is not None
        q = select(metrics.c.key, metrics.c.step, metrics.c.value, metrics.c.ts).where(metrics.c.run_id == self.id)
        if key is not None:
            q = q.where(metrics.c.key == key)
        with self.workspace.meta.read() as conn:
            rows = conn.execute(q.order_by(metrics.c.key, metrics.c.step, metrics.c.ts)).all()
        df = pd.DataFrame(rows, columns=["key", "step", "value", "timestamp"])
        df["timestamp"] = pd.to_datetime(df["timestamp"], unit="s", utc=True)
        return df

    def artifact(self, name: str) -> bytes:
        """The bytes of artifact ``name`` (looked up by name, never joined into a path)."""
        data = self._object(self._artifact_oid(name))
        assert data is not None
        return data

    def open_artifact(self, name: str) -> IO[bytes]:
        """Artifact ``name`` as a binary stream, never whole in memory (``with run.open_artifact(n) as f``);
        reading its end raises CorruptObject if the stored bytes were damaged."""
        assert self.workspace is not None
        return self.workspace.objects.open(self._artifact_oid(name))

    def _artifact_oid(self, name: str) -> str:
        for a in self.artifacts:
            if a["name"] == name:
                return a["oid"]
        raise NotFound(f"run {self.id} has no artifact {name!r}; it has: "
                       f"{', '.join(a['name'] for a in self.artifacts) or 'none'}")

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "workspace"}
        return d


def get_run(run_id: str, workspace: Workspace | None = None) -> Run:
    """One run with its params, last metrics, tags and artifacts (id or unique prefix)."""
    ws = _ws(workspace)
    with ws.meta.read() as conn:
        rid = resolve_run_id(conn, run_id)
        row = conn.execute(
            select(runs_t, experiments.c.name.label("experiment_name"))
            .select_from(runs_t.join(experiments, experiments.c.id == runs_t.c.experiment_id))
            .where(runs_t.c.id == rid)
        ).mappings().one()
        ps = {k: decode_param(v, t) for k, v, t in conn.execute(
            select(params.c.key, params.c.value, params.c.vtype).where(params.c.run_id == rid).order_by(params.c.key))}
        ms = dict(conn.execute(select(latest_metrics.c.key, latest_metrics.c.value)
                               .where(latest_metrics.c.run_id == rid).order_by(latest_metrics.c.key)).all())
        ts = dict(conn.execute(select(tags.c.key, tags.c.value).where(tags.c.run_id == rid).order_by(tags.c.key)).all())
        arts = [dict(r) for r in conn.execute(
            select(artifacts.c.name, artifacts.c.oid, artifacts.c.kind, artifacts.c.media_type, artifacts.c.size)
            .where(artifacts.c.run_id == rid).order_by(artifacts.c.name)).mappings()]
        items = run_items(conn, rid)
    return Run(
        id=row["id"], name=row["name"], experiment=row["experiment_name"], kind=row["kind"], status=row["status"],
        parent_id=row["parent_id"], notebook=row["notebook"], cell_id=row["cell_id"], cell_key=row["cell_key"],
        cell_version=row["cell_version"], started=row["started"], ended=row["ended"], duration=row["duration"],
        error_type=row["error_type"], error_message=row["error_message"], user=row["user"], host=row["host"],
        git_commit=row["git_commit"], git_dirty=row["git_dirty"], source_oid=row["source_oid"],
        env_oid=row["env_oid"], stdout_oid=row["stdout_oid"],
        reads=json.loads(row["reads"] or "[]"), writes=json.loads(row["writes"] or "[]"),
        params=ps, metrics=ms, tags=ts, artifacts=arts, inputs=refs(items["inputs"]), outputs=refs(items["outputs"]),
        input_versions=items["inputs"], output_versions=items["outputs"], workspace=ws,
    )


def cell_history(cell: str, workspace: Workspace | None = None, notebook: str | None = None):
    """Every run of one cell, oldest first (versions 1, 2, ...).

    ``cell`` is the name written after ``%%track`` (``"train-rf"``), or a full
    history key (``"nb.ipynb::train-rf"``, the ``cell_key`` column of ``runs()``).
    A name used in several notebooks needs ``notebook=`` (or the key).
    """
    ws = _ws(workspace)
    key = resolve_cell_key(cell, ws, notebook)
    df = runs(cell_key=key, order_by="cell_version", workspace=ws)
    return df.reset_index(drop=True)


def resolve_cell_key(cell: str, ws: Workspace, notebook: str | None = None) -> str:
    """The history key of a cell given by its ``%%track`` name or by its key."""
    if not isinstance(cell, str) or not cell:
        raise InvalidInput("cell_history needs the cell's name (as written after %%track) or its cell_key")
    if notebook is not None:
        return f"{notebook}::{cell}" if "::" not in cell else cell
    with ws.meta.read() as conn:
        if conn.execute(select(runs_t.c.id).where(runs_t.c.cell_key == cell).limit(1)).first():
            return cell
        if "::" in cell:
            return cell
        pattern = "%::" + cell.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        keys = sorted(k for (k,) in conn.execute(
            select(runs_t.c.cell_key).where(runs_t.c.cell_key.like(pattern, escape="\\")).distinct()))
    if len(keys) > 1:
        raise InvalidInput(f"cell {cell!r} is in {len(keys)} notebooks: pass notebook= or one of the keys "
                           + ", ".join(repr(k) for k in keys[:5]))
    return keys[0] if keys else cell
