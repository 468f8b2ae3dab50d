"""PostgreSQL: the two indexes of ``latest_metrics`` cover what a page of runs reads (nothing on SQLite).

* ``ix_latest_metrics_key_value (key, value)`` also holds ``run_id`` (``INCLUDE``): a filter +
  order on a metric (``metrics.acc > 0.5 ... order by metrics.acc desc``) walks the index
  without visiting the table (an index-only scan: ~6 pages instead of ~325 for the top 100 of
  100,000 runs).
* the primary key ``(run_id, key)`` also holds ``value``: a page's metrics of each run are read
  from the index alone.

Both add only fixed-size columns (a 32-character id, a float) to index entries that were written
anyway: no new index, no measurable write cost. Rebuilding them takes a lock on the table for
as long as it takes to index it (seconds for millions of metrics).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _rebuild(include_run_id: bool, include_value: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    inc = " INCLUDE (run_id)" if include_run_id else ""
    op.execute(f"CREATE INDEX ix_latest_metrics_key_value_new ON latest_metrics (key, value){inc}")
    op.execute("DROP INDEX ix_latest_metrics_key_value")
    op.execute("ALTER INDEX ix_latest_metrics_key_value_new RENAME TO ix_latest_metrics_key_value")
    pk = sa.inspect(bind).get_pk_constraint("latest_metrics")["name"] or "latest_metrics_pkey"
    inc = " INCLUDE (value)" if include_value else ""
    op.execute(f'ALTER TABLE latest_metrics DROP CONSTRAINT "{pk}", '
               f'ADD CONSTRAINT "{pk}" PRIMARY KEY (run_id, key){inc}')


def upgrade() -> None:
    _rebuild(True, True)


def downgrade() -> None:
    _rebuild(False, False)
