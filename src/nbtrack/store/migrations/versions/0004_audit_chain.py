"""Audit log integrity: each event carries the hash of the previous one (a hash chain).

Existing events are chained in id order.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from nbtrack.store.audit_chain import rechain

    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("prev_hash", sa.String(64)))
        batch.add_column(sa.Column("hash", sa.String(64)))
    conn = op.get_bind()
    ev = sa.table("events", *(sa.column(c) for c in ("id", "ts", "actor", "action", "target", "detail", "reason",
                                                     "prev_hash", "hash")))
    rows = conn.execute(sa.select(ev).order_by(ev.c.id)).mappings()
    for eid, prev, h in list(rechain(rows)):
        conn.execute(sa.update(ev).where(ev.c.id == eid).values(prev_hash=prev, hash=h))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
