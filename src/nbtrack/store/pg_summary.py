"""PostgreSQL: each run's params and latest metrics as JSON on its ``runs`` row (migration 0009).

``runs.summary_params`` is ``{key: value text}`` and ``runs.summary_ptypes`` ``{key: vtype}`` (the
run's ``params`` rows); ``runs.summary_metrics`` is ``{key: value}`` (its ``latest_metrics`` rows;
each value as the text of the float8, ``float8out``: exact with PostgreSQL's default
``extra_float_digits``; NULL as JSON null). A column is NULL when the run has no such rows. A page
of ``runs()`` (query/pg_page.py) reads them instead of scanning both tables for each run of the
page. They must always say what the rows say, so every writer keeps them:

* the run statement of :mod:`store.pg_direct` builds them with ``jsonb_object`` from the same
  array parameters its inserts use (no aggregate, no second encoding on the client), merged into
  the run's JSON when the run was written before; the latest metrics merged are the rows its
  upsert returns (a value not replaced by an older step is not returned);
* every other writer (the general path of :mod:`store.runs`, ``migrate-store``, the MLflow
  import) recomputes them from the rows, in its own transaction: :func:`refresh`.

:func:`stale` lists the runs whose JSON differs from their rows (``fsck`` reports them, ``fsck
--repair`` rebuilds them). SQLite has no such columns: every function here does nothing there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

PARAMS = "summary_params"
PTYPES = "summary_ptypes"
METRICS = "summary_metrics"

# a run's JSON from its rows (``r``: the runs row)
PARAMS_OF = "(SELECT jsonb_object_agg(p.key, p.value) FROM params p WHERE p.run_id = r.id)"
PTYPES_OF = "(SELECT jsonb_object_agg(p.key, p.vtype) FROM params p WHERE p.run_id = r.id)"
METRICS_OF = "(SELECT jsonb_object_agg(m.key, m.value::text) FROM latest_metrics m WHERE m.run_id = r.id)"


def _on(conn: Any) -> bool:
    return conn.dialect.name == "postgresql"


def refresh(conn: Any, run_ids: Sequence[str] | None, params: bool = True, metrics: bool = True) -> None:
    """Recompute the JSON of ``run_ids`` (None: every run) from their rows, in ``conn``'s transaction."""
    if not _on(conn) or not (params or metrics) or (run_ids is not None and not run_ids):
        return
    from sqlalchemy import text

    sets = ", ".join(s for s, on in ((f"{PARAMS} = {PARAMS_OF}", params), (f"{PTYPES} = {PTYPES_OF}", params),
                                     (f"{METRICS} = {METRICS_OF}", metrics)) if on)
    if run_ids is None:
        conn.execute(text(f"UPDATE runs r SET {sets}"))
    elif len(run_ids) == 1:
        conn.execute(text(f"UPDATE runs r SET {sets} WHERE r.id = :id"), {"id": run_ids[0]})
    else:
        conn.execute(text(f"UPDATE runs r SET {sets} WHERE r.id = ANY(:ids)"), {"ids": list(run_ids)})


def stale(conn: Any, limit: int | None = 100) -> list[str]:
    """Ids of runs (up to ``limit``; None: all) whose JSON is not what their rows say; [] on SQLite."""
    if not _on(conn):
        return []
    from sqlalchemy import text

    return list(conn.execute(text(
        f"SELECT r.id FROM runs r WHERE r.{PARAMS} IS DISTINCT FROM {PARAMS_OF} OR r.{PTYPES} IS DISTINCT FROM "
        f"{PTYPES_OF} OR r.{METRICS} IS DISTINCT FROM {METRICS_OF} ORDER BY r.id LIMIT :n"), {"n": limit}).scalars())
