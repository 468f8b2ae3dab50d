"""PostgreSQL: statistics on the (key, value) pairs of params and tags (nothing on SQLite).

The planner estimates ``key = 'model' AND value = 'rf'`` as if key and value were independent
over every key's values. In a store whose other params are many and unrelated (a sweep's
``param_0..9``) it expected ~2.3x fewer ``model == 'rf'`` runs than there were, and at
10,000 runs chose to hash-join every ``acc > 0.5`` run with every ``'rf'`` run and sort them
all for a top-100 page (52 ms) instead of walking the ``(key, value)`` index of the order
metric and stopping at 100 (12 ms). A multivariate MCV list on ``(key, value)`` gives the
frequency of each common pair, so the estimate is right. No write cost: ANALYZE (autovacuum)
fills it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

STATISTICS = (("st_params_key_value", "params"), ("st_tags_key_value", "tags"))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table in STATISTICS:
        op.execute(f"CREATE STATISTICS IF NOT EXISTS {name} (mcv) ON key, value FROM {table}")
        op.execute(f"ANALYZE {table}")  # an existing store's estimates are right from now on


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, _table in STATISTICS:
        op.execute(f"DROP STATISTICS IF EXISTS {name}")
