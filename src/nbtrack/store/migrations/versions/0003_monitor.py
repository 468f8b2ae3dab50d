"""Monitoring: data contracts (versioned) and alert rules.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contracts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("oid", sa.String(64), nullable=False),
        sa.Column("source", sa.Text),
        sa.Column("creator", sa.String(255)),
        sa.Column("created", sa.Float, nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_contracts_version"),
    )
    op.create_table(
        "monitor_rules",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("creator", sa.String(255)),
        sa.Column("created", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("monitor_rules")
    op.drop_table("contracts")
