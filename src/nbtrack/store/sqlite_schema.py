"""The current metadata schema for SQLite, as alembic's migrations leave it (GENERATED: do not edit).

A new embedded workspace is given this schema directly (store/sqlite_direct.py
``create_schema``), without importing alembic and SQLAlchemy. Regenerate it after adding
a migration: ``python -m tests.store.test_sqlite_direct`` in the repository (the tests compare
it with what the migrations create, statement by statement).
"""

REVISION = "0009"

STATEMENTS = (
    (
        "CREATE TABLE alembic_version (\n"
        "\tversion_num VARCHAR(32) NOT NULL, \n"
        "\tCONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n"
        ")"
    ),
    (
        "CREATE TABLE experiments (\n"
        "\tid INTEGER NOT NULL, \n"
        "\tname VARCHAR(255) NOT NULL, \n"
        "\tcreated FLOAT NOT NULL, \n"
        "\tPRIMARY KEY (id), \n"
        "\tUNIQUE (name)\n"
        ")"
    ),
    (
        "CREATE TABLE runs (\n"
        "\tid VARCHAR(32) NOT NULL, \n"
        "\texperiment_id INTEGER NOT NULL, \n"
        "\tname VARCHAR(255), \n"
        "\tkind VARCHAR(32) NOT NULL, \n"
        "\tstatus VARCHAR(32) NOT NULL, \n"
        "\tparent_id VARCHAR(32), \n"
        "\tnotebook TEXT, \n"
        "\tcell_id VARCHAR(255), \n"
        "\tcell_key TEXT, \n"
        "\tcell_version INTEGER, \n"
        "\tsource_oid VARCHAR(64), \n"
        "\tenv_oid VARCHAR(64), \n"
        "\tstdout_oid VARCHAR(64), \n"
        "\tgit_commit VARCHAR(64), \n"
        "\tgit_dirty BOOLEAN, \n"
        "\tstarted FLOAT NOT NULL, \n"
        "\tended FLOAT, \n"
        "\tduration FLOAT, \n"
        "\terror_type VARCHAR(255), \n"
        "\terror_message TEXT, \n"
        "\tuser VARCHAR(255), \n"
        "\thost VARCHAR(255), \n"
        "\tpid INTEGER, \n"
        "\treads TEXT, \n"
        "\twrites TEXT, \n"
        "\tPRIMARY KEY (id), \n"
        "\tFOREIGN KEY(experiment_id) REFERENCES experiments (id)\n"
        ")"
    ),
    "CREATE INDEX ix_runs_experiment_started ON runs (experiment_id, started)",
    "CREATE INDEX ix_runs_cell_key ON runs (cell_key, cell_version)",
    "CREATE INDEX ix_runs_parent ON runs (parent_id)",
    "CREATE INDEX ix_runs_notebook ON runs (notebook, started)",
    "CREATE INDEX ix_runs_started ON runs (started)",
    (
        "CREATE TABLE params (\n"
        "\trun_id VARCHAR(32) NOT NULL, \n"
        "\t\"key\" VARCHAR(255) NOT NULL, \n"
        "\tvalue TEXT, \n"
        "\tnum FLOAT, \n"
        "\tvtype VARCHAR(16) NOT NULL, \n"
        "\tPRIMARY KEY (run_id, \"key\"), \n"
        "\tFOREIGN KEY(run_id) REFERENCES runs (id)\n"
        ")"
    ),
    "CREATE INDEX ix_params_key_num ON params (\"key\", num)",
    (
        "CREATE TABLE metrics (\n"
        "\tid INTEGER NOT NULL, \n"
        "\trun_id VARCHAR(32) NOT NULL, \n"
        "\t\"key\" VARCHAR(255) NOT NULL, \n"
        "\tvalue FLOAT, \n"
        "\tstep INTEGER NOT NULL, \n"
        "\tts FLOAT NOT NULL, \n"
        "\tPRIMARY KEY (id), \n"
        "\tFOREIGN KEY(run_id) REFERENCES runs (id)\n"
        ")"
    ),
    "CREATE INDEX ix_metrics_run_key_step ON metrics (run_id, \"key\", step)",
    (
        "CREATE TABLE latest_metrics (\n"
        "\trun_id VARCHAR(32) NOT NULL, \n"
        "\t\"key\" VARCHAR(255) NOT NULL, \n"
        "\tvalue FLOAT, \n"
        "\tstep INTEGER NOT NULL, \n"
        "\tts FLOAT NOT NULL, \n"
        "\tPRIMARY KEY (run_id, \"key\"), \n"
        "\tFOREIGN KEY(run_id) REFERENCES runs (id)\n"
        ")"
    ),
    "CREATE INDEX ix_latest_metrics_key_value ON latest_metrics (\"key\", value)",
    (
        "CREATE TABLE tags (\n"
        "\trun_id VARCHAR(32) NOT NULL, \n"
        "\t\"key\" VARCHAR(255) NOT NULL, \n"
        "\tvalue TEXT, \n"
        "\tPRIMARY KEY (run_id, \"key\"), \n"
        "\tFOREIGN KEY(run_id) REFERENCES runs (id)\n"
        ")"
    ),
    (
        "CREATE TABLE artifacts (\n"
        "\trun_id VARCHAR(32) NOT NULL, \n"
        "\tname VARCHAR(255) NOT NULL, \n"
        "\toid VARCHAR(64) NOT NULL, \n"
        "\tkind VARCHAR(32) NOT NULL, \n"
        "\tmedia_type VARCHAR(128), \n"
        "\tsize INTEGER, \n"
        "\tPRIMARY KEY (run_id, name), \n"
        "\tFOREIGN KEY(run_id) REFERENCES runs (id)\n"
        ")"
    ),
    "CREATE INDEX ix_artifacts_oid ON artifacts (oid)",
    (
        "CREATE TABLE events (\n"
        "\tid INTEGER NOT NULL, \n"
        "\tts FLOAT NOT NULL, \n"
        "\tactor VARCHAR(255) NOT NULL, \n"
        "\taction VARCHAR(64) NOT NULL, \n"
        "\ttarget TEXT, \n"
        "\tdetail TEXT, \n"
        "\treason TEXT, prev_hash VARCHAR(64), hash VARCHAR(64), \n"
        "\tPRIMARY KEY (id)\n"
        ")"
    ),
    "CREATE INDEX ix_events_ts ON events (ts)",
    (
        "CREATE TABLE datasets (\n"
        "\tid INTEGER NOT NULL, \n"
        "\tname VARCHAR(255) NOT NULL, \n"
        "\tcreated FLOAT NOT NULL, \n"
        "\tPRIMARY KEY (id), \n"
        "\tUNIQUE (name)\n"
        ")"
    ),
    (
        "CREATE TABLE dataset_versions (\n"
        "\tid INTEGER NOT NULL, \n"
        "\tdataset_id INTEGER NOT NULL, \n"
        "\tversion INTEGER NOT NULL, \n"
        "\tmanifest_oid VARCHAR(64) NOT NULL, \n"
        "\tfingerprint VARCHAR(64) NOT NULL, \n"
        "\tn_rows INTEGER, \n"
        "\tn_cols INTEGER, \n"
        "\tnbytes INTEGER, \n"
        "\trun_id VARCHAR(32), \n"
        "\tcreated FLOAT NOT NULL, \n"
        "\tPRIMARY KEY (id), \n"
        "\tCONSTRAINT uq_dataset_versions_version UNIQUE (dataset_id, version), \n"
        "\tFOREIGN KEY(dataset_id) REFERENCES datasets (id)\n"
        ")"
    ),
    "CREATE INDEX ix_dataset_versions_fingerprint ON dataset_versions (fingerprint)",
    (
        "CREATE TABLE dataset_chunks (\n"
        "\tdataset_version_id INTEGER NOT NULL, \n"
        "\tseq INTEGER NOT NULL, \n"
        "\toid VARCHAR(64) NOT NULL, \n"
        "\tn_rows INTEGER NOT NULL, \n"
        "\tPRIMARY KEY (dataset_version_id, seq), \n"
        "\tFOREIGN KEY(dataset_version_id) REFERENCES dataset_versions (id)\n"
        ")"
    ),
    "CREATE INDEX ix_dataset_chunks_oid ON dataset_chunks (oid)",
    (
        "CREATE TABLE models (\n"
        "\tid INTEGER NOT NULL, \n"
        "\tname VARCHAR(255) NOT NULL, \n"
        "\tcreated FLOAT NOT NULL, \n"
        "\tdescription TEXT, \n"
        "\tPRIMARY KEY (id), \n"
        "\tUNIQUE (name)\n"
        ")"
    ),
    (
        "CREATE TABLE model_versions (\n"
        "\tid INTEGER NOT NULL, \n"
        "\tmodel_id INTEGER NOT NULL, \n"
        "\tversion INTEGER NOT NULL, \n"
        "\toid VARCHAR(64) NOT NULL, \n"
        "\tformat VARCHAR(16) NOT NULL, \n"
        "\tunsafe BOOLEAN NOT NULL, \n"
        "\tclass_name VARCHAR(255), \n"
        "\tsignature TEXT, \n"
        "\tparams TEXT, \n"
        "\tmetrics TEXT, \n"
        "\trun_id VARCHAR(32), \n"
        "\tdataset_version_id INTEGER, \n"
        "\tsource_version_id INTEGER, \n"
        "\tcreator VARCHAR(255), \n"
        "\tcreated FLOAT NOT NULL, \n"
        "\tdescription TEXT, \n"
        "\tPRIMARY KEY (id), \n"
        "\tCONSTRAINT uq_model_versions_version UNIQUE (model_id, version), \n"
        "\tFOREIGN KEY(model_id) REFERENCES models (id), \n"
        "\tFOREIGN KEY(dataset_version_id) REFERENCES dataset_versions (id)\n"
        ")"
    ),
    "CREATE INDEX ix_model_versions_oid ON model_versions (oid)",
    "CREATE INDEX ix_model_versions_run ON model_versions (run_id)",
    (
        "CREATE TABLE aliases (\n"
        "\tmodel_id INTEGER NOT NULL, \n"
        "\talias VARCHAR(255) NOT NULL, \n"
        "\tversion_id INTEGER NOT NULL, \n"
        "\tupdated FLOAT NOT NULL, \n"
        "\tupdated_by VARCHAR(255), \n"
        "\tPRIMARY KEY (model_id, alias), \n"
        "\tFOREIGN KEY(model_id) REFERENCES models (id), \n"
        "\tFOREIGN KEY(version_id) REFERENCES model_versions (id)\n"
        ")"
    ),
    (
        "CREATE TABLE evaluations (\n"
        "\tid INTEGER NOT NULL, \n"
        "\tmodel_version_id INTEGER NOT NULL, \n"
        "\tdataset_version_id INTEGER, \n"
        "\tmetric VARCHAR(255) NOT NULL, \n"
        "\tvalue FLOAT, \n"
        "\trun_id VARCHAR(32), \n"
        "\tcreated FLOAT NOT NULL, \n"
        "\tPRIMARY KEY (id), \n"
        "\tFOREIGN KEY(model_version_id) REFERENCES model_versions (id), \n"
        "\tFOREIGN KEY(dataset_version_id) REFERENCES dataset_versions (id)\n"
        ")"
    ),
    "CREATE INDEX ix_evaluations_model ON evaluations (model_version_id, metric)",
    (
        "CREATE TABLE lineage (\n"
        "\tid INTEGER NOT NULL, \n"
        "\trun_id VARCHAR(32) NOT NULL, \n"
        "\tdirection VARCHAR(8) NOT NULL, \n"
        "\tdataset_version_id INTEGER, \n"
        "\tmodel_version_id INTEGER, \n"
        "\tvariable VARCHAR(255), \n"
        "\tPRIMARY KEY (id), \n"
        "\tFOREIGN KEY(run_id) REFERENCES runs (id), \n"
        "\tFOREIGN KEY(dataset_version_id) REFERENCES dataset_versions (id), \n"
        "\tFOREIGN KEY(model_version_id) REFERENCES model_versions (id)\n"
        ")"
    ),
    "CREATE INDEX ix_lineage_run ON lineage (run_id)",
    "CREATE INDEX ix_lineage_dataset ON lineage (dataset_version_id)",
    "CREATE INDEX ix_lineage_model ON lineage (model_version_id)",
    (
        "CREATE TABLE pipelines (\n"
        "\tid INTEGER NOT NULL, \n"
        "\tname VARCHAR(255) NOT NULL, \n"
        "\tcreated FLOAT NOT NULL, \n"
        "\tPRIMARY KEY (id), \n"
        "\tUNIQUE (name)\n"
        ")"
    ),
    (
        "CREATE TABLE pipeline_versions (\n"
        "\tid INTEGER NOT NULL, \n"
        "\tpipeline_id INTEGER NOT NULL, \n"
        "\tversion INTEGER NOT NULL, \n"
        "\tnotebook_path TEXT, \n"
        "\tnotebook_oid VARCHAR(64) NOT NULL, \n"
        "\tparameters TEXT NOT NULL, \n"
        "\tpins TEXT, \n"
        "\tenv_oid VARCHAR(64), \n"
        "\tstatus VARCHAR(16) NOT NULL, \n"
        "\tapproved_by VARCHAR(255), \n"
        "\treason TEXT, \n"
        "\tcreated FLOAT NOT NULL, signature TEXT, \n"
        "\tPRIMARY KEY (id), \n"
        "\tCONSTRAINT uq_pipeline_versions_version UNIQUE (pipeline_id, version), \n"
        "\tFOREIGN KEY(pipeline_id) REFERENCES pipelines (id)\n"
        ")"
    ),
    (
        "CREATE TABLE contracts (\n"
        "\tid INTEGER NOT NULL, \n"
        "\tname VARCHAR(255) NOT NULL, \n"
        "\tversion INTEGER NOT NULL, \n"
        "\toid VARCHAR(64) NOT NULL, \n"
        "\tsource TEXT, \n"
        "\tcreator VARCHAR(255), \n"
        "\tcreated FLOAT NOT NULL, \n"
        "\tPRIMARY KEY (id), \n"
        "\tCONSTRAINT uq_contracts_version UNIQUE (name, version)\n"
        ")"
    ),
    (
        "CREATE TABLE monitor_rules (\n"
        "\tid INTEGER NOT NULL, \n"
        "\tmodel VARCHAR(255) NOT NULL, \n"
        "\tspec TEXT NOT NULL, \n"
        "\tcreator VARCHAR(255), \n"
        "\tcreated FLOAT NOT NULL, \n"
        "\tPRIMARY KEY (id)\n"
        ")"
    ),
)
