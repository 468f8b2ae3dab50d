"""Initial schema: experiments, runs, params, metrics, tags, artifacts, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.id"), nullable=False),
        sa.Column("name", sa.String(255)),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("parent_id", sa.String(32)),
        sa.Column("notebook", sa.Text),
        sa.Column("cell_id", sa.String(255)),
        sa.Column("cell_key", sa.Text),
        sa.Column("cell_version", sa.Integer),
        sa.Column("source_oid", sa.String(64)),
        sa.Column("env_oid", sa.String(64)),
        sa.Column("stdout_oid", sa.String(64)),
        sa.Column("git_commit", sa.String(64)),
        sa.Column("git_dirty", sa.Boolean),
        sa.Column("started", sa.Float, nullable=False),
        sa.Column("ended", sa.Float),
        sa.Column("duration", sa.Float),
        sa.Column("error_type", sa.String(255)),
        sa.Column("error_message", sa.Text),
        sa.Column("user", sa.String(255)),
        sa.Column("host", sa.String(255)),
        sa.Column("pid", sa.Integer),
        sa.Column("reads", sa.Text),
        sa.Column("writes", sa.Text),
    )
    op.create_index("ix_runs_experiment_started", "runs", ["experiment_id", "started"])
    op.create_index("ix_runs_cell_key", "runs", ["cell_key", "cell_version"])
    op.create_index("ix_runs_parent", "runs", ["parent_id"])
    op.create_index("ix_runs_notebook", "runs", ["notebook", "started"])
    op.create_index("ix_runs_started", "runs", ["started"])
    op.create_table(
        "params",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text),
        sa.Column("num", sa.Float),
        sa.Column("vtype", sa.String(16), nullable=False),
    )
    op.create_index("ix_params_key_num", "params", ["key", "num"])
    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
    )
    op.create_index("ix_metrics_run_key_step", "metrics", ["run_id", "key", "step"])
    op.create_table(
        "latest_metrics",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Float),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
    )
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "value"])
    op.create_table(
        "tags",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text),
    )
    op.create_table(
        "artifacts",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("oid", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("media_type", sa.String(128)),
        sa.Column("size", sa.Integer),
    )
    op.create_index("ix_artifacts_oid", "artifacts", ["oid"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.Text),
        sa.Column("detail", sa.Text),
        sa.Column("reason", sa.Text),
    )
    op.create_index("ix_events_ts", "events", ["ts"])


def downgrade() -> None:
    for table in ("events", "artifacts", "tags", "latest_metrics", "metrics", "params", "runs", "experiments"):
        op.drop_table(table)
