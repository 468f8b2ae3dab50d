"""PostgreSQL: each run's params and latest metrics also kept on its ``runs`` row, as JSON (nothing on SQLite).

Two ``jsonb`` columns, ``runs.summary_params`` (``{key: [value text, vtype]}``) and
``runs.summary_metrics`` (``{key: latest value}``), hold what the ``params`` and ``latest_metrics``
rows of the run hold (NULL when it has none). A page of ``runs()`` (query/pg_page.py) reads a
run's values from its row instead of two index scans per run. Every writer keeps them exact
(store/pg_summary.py: the run statement of store/pg_direct.py merges the rows it wrote, the
general path and the other writers recompute them from the rows). The upgrade fills them for
the runs already there.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE runs ADD COLUMN summary_params jsonb, ADD COLUMN summary_metrics jsonb")
    op.execute("UPDATE runs SET summary_params = s.j FROM (SELECT run_id, "
               "jsonb_object_agg(key, jsonb_build_array(value, vtype)) AS j FROM params GROUP BY run_id) s "
               "WHERE runs.id = s.run_id")
    op.execute("UPDATE runs SET summary_metrics = s.j FROM (SELECT run_id, jsonb_object_agg(key, value) AS j "
               "FROM latest_metrics GROUP BY run_id) s WHERE runs.id = s.run_id")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE runs DROP COLUMN summary_params, DROP COLUMN summary_metrics")
