"""The same store code on PostgreSQL (started by .ci/run; skipped locally without one)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import nbtrack
from nbtrack.store.meta import SCHEMA_HEAD
from nbtrack.store.schema import RUN_ID_CHECKED, metadata

pytestmark = pytest.mark.postgres
WRITER = str(Path(__file__).with_name("writer.py"))


def test_migrations_match_metadata(pg_workspace):
    assert pg_workspace.meta.current_revision() == SCHEMA_HEAD
    with pg_workspace.meta.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        # each run's params/metrics JSON: PostgreSQL-only columns of runs (migration 0009, store/pg_summary.py)
        extra = sorted((d[0], d[2], d[3].name) for d in diff if d[0] == "remove_column")
        assert extra == [("remove_column", "runs", c) for c in ("summary_metrics", "summary_params", "summary_ptypes")]
        # the run_id foreign keys of RUN_ID_CHECKED are triggers on PostgreSQL (migration 0008)
        assert sorted((d[0], d[1].table.name, tuple(d[1].column_keys)) for d in diff if d[0] != "remove_column") \
            == [("add_fk", t, ("run_id",)) for t in sorted(RUN_ID_CHECKED)]
        triggers = conn.exec_driver_sql("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal").scalars().all()
        assert {f"{t}_run_id_insert" for t in RUN_ID_CHECKED} | {"runs_id_delete"} <= set(triggers)


def test_runs_params_metrics_and_filters(pg_workspace):
    for model, acc in [("rf", 0.95), ("svm", 0.8), ("rf", 0.7)]:
        with nbtrack.track(model, params={"model": model, "depth": 3}) as run:
            for step, v in enumerate((acc / 2, acc)):
                run.log_metric("acc", v, step=step)
    df = nbtrack.runs(filter="metrics.acc > 0.75 and params.model == 'rf' or params.model == 'svm'",
                      order_by="metrics.acc desc")
    assert df["name"].tolist() == ["rf", "svm"]
    assert df["metrics.acc"].tolist() == [0.95, 0.8]
    run = nbtrack.get_run(df.id[0])
    assert run.metric_history("acc")["value"].tolist() == [0.475, 0.95]
    assert nbtrack.fsck().ok


def test_concurrent_writers(pg_workspace):
    procs = [subprocess.Popen([sys.executable, WRITER, "50", f"w{i}"], stderr=subprocess.PIPE, text=True)
             for i in range(4)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errs
    df = nbtrack.runs()
    assert len(df) == 200 and set(df["status"]) == {"finished"}
