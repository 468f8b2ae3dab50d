"""PostgreSQL: each run's params and latest metrics also kept on its ``runs`` row, as JSON (nothing on SQLite).

Three ``jsonb`` columns hold what the run's ``params`` and ``latest_metrics`` rows hold, NULL when
it has none: ``runs.summary_params`` (``{key: value text}``), ``runs.summary_ptypes``
(``{key: vtype}``) and ``runs.summary_metrics`` (``{key: latest value as text}``, the text of the
float8 value, NULL for NULL). A page of ``runs()`` (query/pg_page.py) reads a run's values from its
row instead of two index scans per run. Every writer keeps them exact (store/pg_summary.py); the
upgrade fills them for the runs already there.

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
    op.execute("ALTER TABLE runs ADD COLUMN summary_params jsonb, ADD COLUMN summary_ptypes jsonb, "
               "ADD COLUMN summary_metrics jsonb")
    op.execute("UPDATE runs SET summary_params = s.v, summary_ptypes = s.t FROM (SELECT run_id, "
               "jsonb_object_agg(key, value) AS v, jsonb_object_agg(key, vtype) AS t FROM params GROUP BY run_id) s "
               "WHERE runs.id = s.run_id")
    op.execute("UPDATE runs SET summary_metrics = s.j FROM (SELECT run_id, jsonb_object_agg(key, value::text) AS j "
               "FROM latest_metrics GROUP BY run_id) s WHERE runs.id = s.run_id")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE runs DROP COLUMN summary_params, DROP COLUMN summary_ptypes, DROP COLUMN summary_metrics")
