"""Dataset and model versions, lineage, registry aliases, evaluations, pipelines.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("manifest_oid", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("n_rows", sa.Integer),
        sa.Column("n_cols", sa.Integer),
        sa.Column("nbytes", sa.Integer),
        sa.Column("run_id", sa.String(32)),
        sa.Column("created", sa.Float, nullable=False),
        sa.UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_version"),
    )
    op.create_index("ix_dataset_versions_fingerprint", "dataset_versions", ["fingerprint"])
    op.create_table(
        "dataset_chunks",
        sa.Column("dataset_version_id", sa.Integer, sa.ForeignKey("dataset_versions.id"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("oid", sa.String(64), nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
    )
    op.create_index("ix_dataset_chunks_oid", "dataset_chunks", ["oid"])
    op.create_table(
        "models",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("description", sa.Text),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("oid", sa.String(64), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("unsafe", sa.Boolean, nullable=False),
        sa.Column("class_name", sa.String(255)),
        sa.Column("signature", sa.Text),
        sa.Column("params", sa.Text),
        sa.Column("metrics", sa.Text),
        sa.Column("run_id", sa.String(32)),
        sa.Column("dataset_version_id", sa.Integer, sa.ForeignKey("dataset_versions.id")),
        sa.Column("source_version_id", sa.Integer),
        sa.Column("creator", sa.String(255)),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("description", sa.Text),
        sa.UniqueConstraint("model_id", "version", name="uq_model_versions_version"),
    )
    op.create_index("ix_model_versions_oid", "model_versions", ["oid"])
    op.create_index("ix_model_versions_run", "model_versions", ["run_id"])
    op.create_table(
        "aliases",
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id"), primary_key=True),
        sa.Column("alias", sa.String(255), primary_key=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
        sa.Column("updated_by", sa.String(255)),
    )
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("dataset_version_id", sa.Integer, sa.ForeignKey("dataset_versions.id")),
        sa.Column("metric", sa.String(255), nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("run_id", sa.String(32)),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_index("ix_evaluations_model", "evaluations", ["model_version_id", "metric"])
    op.create_table(
        "lineage",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("dataset_version_id", sa.Integer, sa.ForeignKey("dataset_versions.id")),
        sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id")),
        sa.Column("variable", sa.String(255)),
    )
    op.create_index("ix_lineage_run", "lineage", ["run_id"])
    op.create_index("ix_lineage_dataset", "lineage", ["dataset_version_id"])
    op.create_index("ix_lineage_model", "lineage", ["model_version_id"])
    op.create_table(
        "pipelines",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "pipeline_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pipeline_id", sa.Integer, sa.ForeignKey("pipelines.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("notebook_path", sa.Text),
        sa.Column("notebook_oid", sa.String(64), nullable=False),
        sa.Column("parameters", sa.Text, nullable=False),
        sa.Column("pins", sa.Text),
        sa.Column("env_oid", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("approved_by", sa.String(255)),
        sa.Column("reason", sa.Text),
        sa.Column("created", sa.Float, nullable=False),
        sa.UniqueConstraint("pipeline_id", "version", name="uq_pipeline_versions_version"),
    )


def downgrade() -> None:
    for table in ("pipeline_versions", "pipelines", "lineage", "evaluations", "aliases", "model_versions",
                  "models", "dataset_chunks", "dataset_versions", "datasets"):
        op.drop_table(table)
