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
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
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
    Index("ix_runs_cell_key", "cell_key", "cell_version"),
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
# On PostgreSQL both indexes also hold what a page of runs reads (migration 0007): a filter + order
# on a metric walks (key, value) index-only, and a run's metrics come from the primary key alone.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("value", Float),
    Column("step", Integer, nullable=False),
    Column("ts", Float, nullable=False),
    PrimaryKeyConstraint("run_id", "key", postgresql_include=["value"]),
    Index("ix_latest_metrics_key_value", "key", "value", postgresql_include=["run_id"]),
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
    Column("prev_hash", String(64)),  # the previous event's hash (migration 0004; store/audit_chain.py)
    Column("hash", String(64)),  # sha256 of prev_hash and this event's fields
    Index("ix_events_ts", "ts"),
)

# Tables whose ``run_id`` foreign key is enforced on PostgreSQL by triggers checked once per
# statement (migration 0008) instead of a constraint checked per row; declared here as on SQLite.
RUN_ID_CHECKED = ("params", "metrics", "latest_metrics", "tags", "artifacts")

# Columns of ``runs`` that hold object ids: what fsck and gc follow.
RUN_OBJECT_COLUMNS = ("source_oid", "env_oid", "stdout_oid")

# -- data and model versions (snapshot stage), registry, pipelines: migration 0002 --

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created", Float, nullable=False),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("manifest_oid", String(64), nullable=False),
    Column("fingerprint", String(64), nullable=False),  # same content -> same fingerprint
    Column("n_rows", Integer),
    Column("n_cols", Integer),
    Column("nbytes", Integer),
    Column("run_id", String(32)),  # the run that produced it, if any
    Column("created", Float, nullable=False),
    UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_version"),
    Index("ix_dataset_versions_fingerprint", "fingerprint"),
)

# Chunks of each dataset version, in order: what gc/fsck follow and diff compares.
dataset_chunks = Table(
    "dataset_chunks",
    metadata,
    Column("dataset_version_id", Integer, ForeignKey("dataset_versions.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("oid", String(64), nullable=False),
    Column("n_rows", Integer, nullable=False),
    Index("ix_dataset_chunks_oid", "oid"),
)

models = Table(
    "models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created", Float, nullable=False),
    Column("description", Text),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("oid", String(64), nullable=False),
    Column("format", String(16), nullable=False),  # nbtrack.model/1 | skops | joblib
    Column("unsafe", Boolean, nullable=False),  # True: loads only with trust=True
    Column("class_name", String(255)),
    Column("signature", Text),  # JSON: inputs (name, dtype), output kind
    Column("params", Text),  # JSON: get_params()
    Column("metrics", Text),  # JSON: the producing run's metrics when registered
    Column("run_id", String(32)),
    Column("dataset_version_id", Integer, ForeignKey("dataset_versions.id")),  # training data
    Column("source_version_id", Integer),  # the candidate version it was registered from
    Column("creator", String(255)),
    Column("created", Float, nullable=False),
    Column("description", Text),
    UniqueConstraint("model_id", "version", name="uq_model_versions_version"),
    Index("ix_model_versions_oid", "oid"),
    Index("ix_model_versions_run", "run_id"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("model_id", Integer, ForeignKey("models.id"), primary_key=True),
    Column("alias", String(255), primary_key=True),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("updated", Float, nullable=False),
    Column("updated_by", String(255)),
)

# Evaluations of a model version on a dataset version (for "not worse than production").
evaluations = Table(
    "evaluations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("dataset_version_id", Integer, ForeignKey("dataset_versions.id")),
    Column("metric", String(255), nullable=False),
    Column("value", Float),
    Column("run_id", String(32)),
    Column("created", Float, nullable=False),
    Index("ix_evaluations_model", "model_version_id", "metric"),
)

# A run used (input) or produced (output) a dataset version or model version.
lineage = Table(
    "lineage",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("direction", String(8), nullable=False),  # input | output
    Column("dataset_version_id", Integer, ForeignKey("dataset_versions.id")),
    Column("model_version_id", Integer, ForeignKey("model_versions.id")),
    Column("variable", String(255)),
    Index("ix_lineage_run", "run_id"),
    Index("ix_lineage_dataset", "dataset_version_id"),
    Index("ix_lineage_model", "model_version_id"),
)

pipelines = Table(
    "pipelines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created", Float, nullable=False),
)

pipeline_versions = Table(
    "pipeline_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pipeline_id", Integer, ForeignKey("pipelines.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("notebook_path", Text),
    Column("notebook_oid", String(64), nullable=False),  # content with outputs cleared
    Column("parameters", Text, nullable=False),  # JSON: [{name, default, type}]
    Column("pins", Text),  # JSON: {dataset name: version}
    Column("env_oid", String(64)),
    Column("status", String(16), nullable=False),  # approved | revoked
    Column("approved_by", String(255)),
    Column("reason", Text),
    Column("created", Float, nullable=False),
    Column("signature", Text),  # JSON {"signer", "ed25519"}: migration 0005, registry/signing.py
    UniqueConstraint("pipeline_id", "version", name="uq_pipeline_versions_version"),
)

# -- monitoring (migration 0003) -------------------------------------------------------

# Data contracts: versioned per name (usually the dataset they guard); the pandera
# schema is stored as a JSON object (``oid``), ``source`` is what it was inferred from.
contracts = Table(
    "contracts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("version", Integer, nullable=False),
    Column("oid", String(64), nullable=False),
    Column("source", Text),
    Column("creator", String(255)),
    Column("created", Float, nullable=False),
    UniqueConstraint("name", "version", name="uq_contracts_version"),
)

# Alert rules of `nbtrack monitor add`: a model reference and a JSON spec
# (thresholds, metric conditions, sinks, retraining).
monitor_rules = Table(
    "monitor_rules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(255), nullable=False),
    Column("spec", Text, nullable=False),
    Column("creator", String(255)),
    Column("created", Float, nullable=False),
)
