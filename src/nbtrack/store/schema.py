"""SQLAlchemy Core tables. The alembic migrations create exactly these.

``tests/store/test_migrations.py`` compares the migrated database with this
metadata, so the two cannot drift apart silently.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

experiments = Table(
    "experiments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created", Float, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiments.id"), nullable=False),
    Column("name", String(255)),
    Column("kind", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("parent_id", String(32)),
    Column("notebook", Text),
    Column("cell_id", String(255)),
    Column("cell_key", Text),
    Column("cell_version", Integer),
    Column("source_oid", String(64)),
    Column("env_oid", String(64)),
    Column("stdout_oid", String(64)),
    Column("git_commit", String(64)),
    Column("git_dirty", Boolean),
    Column("started", Float, nullable=False),
    Column("ended", Float),
    Column("duration", Float),
    Column("error_type", String(255)),
    Column("error_message", Text),
    Column("user", String(255)),
    Column("host", String(255)),
    Column("pid", Integer),
    Column("reads", Text),
    Column("writes", Text),
    Index("ix_runs_experiment_started", "experiment_id", "started"),
    Index("ix_runs_cell_key", "cell_key", "started"),
    Index("ix_runs_parent", "parent_id"),
    Index("ix_runs_notebook", "notebook", "started"),
    Index("ix_runs_started", "started"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text),
    Column("num", Float),
    Column("vtype", String(16), nullable=False),
    Index("ix_params_key_num", "key", "num"),
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("value", Float),
    Column("step", Integer, nullable=False),
    Column("ts", Float, nullable=False),
    Index("ix_metrics_run_key_step", "run_id", "key", "step"),
)

# The last value of each metric of each run: what filters and tables use.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Float),
    Column("step", Integer, nullable=False),
    Column("ts", Float, nullable=False),
    Index("ix_latest_metrics_key_value", "key", "value"),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("oid", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("media_type", String(128)),
    Column("size", Integer),
    Index("ix_artifacts_oid", "oid"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", Float, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", Text),
    Column("detail", Text),
    Column("reason", Text),
    Index("ix_events_ts", "ts"),
)

# Columns of ``runs`` that hold object ids: what fsck and gc follow.
RUN_OBJECT_COLUMNS = ("source_oid", "env_oid", "stdout_oid")
