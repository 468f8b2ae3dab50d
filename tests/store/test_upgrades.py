"""Upgrading a store with data in it from every earlier schema revision, on SQLite and PostgreSQL.

A workspace is filled with one of everything through the public API (``teamdata.fill``).
For each earlier revision R, a database is built by running the migrations up to R, the
rows are copied into it (only the tables and columns R has) with the objects, and nbtrack
opens it: the schema is upgraded to head, every row reads back as before (the audit chain
columns that 0004 back-fills equal the hashes the live writer computed) and the application
works on it — queries, loading datasets and models, the audit chain, fsck, new runs and
alias moves chained after the old events.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from store.teamdata import TABLES_IN_ORDER, fill, new_pg_database, table_rows

import nbtrack
from nbtrack import workspace as ws_mod
from nbtrack.store import pg_summary
from nbtrack.store.meta import MIGRATIONS, SCHEMA_HEAD



def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    return cfg


def earlier_revisions() -> list[str]:
    script = ScriptDirectory.from_config(_config())
    return sorted(r.revision for r in script.walk_revisions() if r.revision != SCHEMA_HEAD)


ADDED_LATER = {"0005": {("pipeline_versions", "signature")}}  # columns an upgrade leaves NULL


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    """A filled SQLite workspace: (folder, rows at head)."""
    folder = tmp_path_factory.mktemp("golden") / ".nbtrack"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder.parent)
        mp.setenv("NBTRACK_URI", str(folder))
        mp.setenv("NBTRACK_USER", "alice")
        mp.delenv("NBTRACK_PARENT_RUN", raising=False)
        ws_mod.reset_cache()
        ws = ws_mod.init(folder.parent)
        fill(folder.parent)
        with ws.meta.read() as conn:
            rows = table_rows(conn)
        ws_mod.reset_cache()
    assert all(rows[t] for t in TABLES_IN_ORDER), [t for t in TABLES_IN_ORDER if not rows[t]]  # one of everything
    return folder, rows


def build_at(url: str, revision: str, rows: dict[str, list[dict]]) -> None:
    """Run the migrations up to ``revision`` on the empty database ``url``, then insert ``rows``
    (tables and columns that revision has), keeping ids; PostgreSQL sequences continue after them."""
    engine = sa.create_engine(url)
    cfg = _config()
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        with conn.begin():
            command.upgrade(cfg, revision)
    with engine.begin() as conn:
        md = sa.MetaData()
        md.reflect(conn)
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == revision
        for name in TABLES_IN_ORDER:
            if name not in md.tables or not rows.get(name):
                continue
            t = md.tables[name]
            conn.execute(sa.insert(t), [{c: r[c] for c in t.columns.keys()} for r in rows[name]])
            if conn.dialect.name == "postgresql" and "id" in t.columns and t.c.id.autoincrement is not False:
                conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                     f"(SELECT max(id) FROM {name}))"))
    engine.dispose()


@pytest.fixture
def pg_database(pg_url):
    with new_pg_database(pg_url, "nbtrack_up") as url:
        yield url


BACKENDS = [pytest.param("sqlite", id="sqlite"),
            pytest.param("postgresql", id="postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("revision", earlier_revisions())
@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_keeps_every_row_and_the_app_works(backend, revision, golden, tmp_path, monkeypatch, request):
    folder, head_rows = golden
    objects = tmp_path / "ws" / ".nbtrack" / "objects"
    shutil.copytree(folder / "objects", objects)
    if backend == "sqlite":
        url = f"sqlite:///{objects.parent / 'meta.db'}"
        monkeypatch.setenv("NBTRACK_URI", str(objects.parent))
    else:
        url = request.getfixturevalue("pg_database")
        monkeypatch.setenv("NBTRACK_URI", url)
        monkeypatch.setenv("NBTRACK_OBJECTS", str(objects))
    build_at(url, revision, head_rows)
    monkeypatch.chdir(tmp_path / "ws")
    monkeypatch.setenv("NBTRACK_USER", "bob")
    monkeypatch.delenv("NBTRACK_PARENT_RUN", raising=False)
    ws_mod.reset_cache()

    ws = ws_mod.get_workspace()
    assert ws.meta.current_revision() == revision
    ws.meta.migrate()
    assert ws.meta.current_revision() == SCHEMA_HEAD
    if backend == "postgresql":  # 0006: the planner's (key, value) statistics of params and tags, filled
        with ws.meta.read() as conn:
            stats = dict(conn.exec_driver_sql(
                "SELECT s.stxname, d.stxdmcv IS NOT NULL FROM pg_statistic_ext s "
                "LEFT JOIN pg_statistic_ext_data d ON d.stxoid = s.oid").fetchall())
        filled = revision < "0006"  # the upgrade through 0006 analyzed them (later: autovacuum does)
        assert stats == {"st_params_key_value": filled, "st_tags_key_value": filled}
        with ws.meta.read() as conn:  # 0007: latest_metrics' indexes cover a page's reads
            defs = dict(conn.exec_driver_sql("SELECT indexname, indexdef FROM pg_indexes "
                                             "WHERE tablename = 'latest_metrics'").fetchall())
        assert defs["ix_latest_metrics_key_value"].endswith("(key, value) INCLUDE (run_id)"), defs
        assert defs["latest_metrics_pkey"].endswith("(run_id, key) INCLUDE (value)"), defs
        with ws.meta.read() as conn:  # 0009: each run's params/metrics JSON, filled from the rows already there
            assert pg_summary.stale(conn) == []
            assert conn.exec_driver_sql("SELECT count(*) FROM runs WHERE summary_params IS NOT NULL "
                                        "AND summary_metrics IS NOT NULL").scalar() > 0

    # every row that existed at `revision` reads back unchanged (the back-filled audit hashes included)
    with ws.meta.read() as conn:
        after = table_rows(conn)
    later = set().union(*(cols for rev, cols in ADDED_LATER.items() if rev > revision))
    present_before = _tables_at(revision)
    for name in TABLES_IN_ORDER:
        want = head_rows[name] if name in present_before else []
        got = [{k: v for k, v in r.items() if (name, k) not in later} for r in after[name]]
        want = [{k: v for k, v in r.items() if (name, k) not in later} for r in want]
        assert got == want, f"{name} changed by the upgrade from {revision}"
        for r in after[name]:
            assert all(r[c] is None for t, c in later if t == name)

    _app_works(ws, revision, present_before)


def _tables_at(revision: str) -> set[str]:
    """Tables the migrations up to ``revision`` create (read from a scratch SQLite database)."""
    engine = sa.create_engine("sqlite://")
    cfg = _config()
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        with conn.begin():
            command.upgrade(cfg, revision)
        return set(sa.inspect(conn).get_table_names())


def _app_works(ws, revision: str, tables: set[str]) -> None:
    df = nbtrack.runs(filter="metrics.auc > 0.805 and params.solver == 'lbfgs'", order_by="metrics.auc desc")
    assert df["name"].tolist() == ["train-2", "train-1"]
    assert df["params.C"].tolist() == [10.0, 1.0]
    run = nbtrack.get_run(df.id[0])
    assert run.metric_history("loss")["value"].tolist() == pytest.approx([1 / 3, 1 / 4, 1 / 5])
    assert [c.name for c in nbtrack.runs(filter="name == 'eval-2'").itertuples()] == ["eval-2"]
    assert nbtrack.verify_audit()
    n_events = len(nbtrack.events())
    if "models" in tables:
        assert nbtrack.get_model_version("churn@production").version == 3
        model = nbtrack.load_model("churn@production")
        assert model.predict(pd.DataFrame({"a": [2.0, -2.0], "b": [0.0, 0.0]})).tolist() == [1, 0]
        features = nbtrack.load("features@2")
        assert len(features) == 300 and (features["a"].iloc[:11] == 5.0).all()
        assert list(features["city"].cat.categories) == ["x", "y", "z"]
        change = nbtrack.set_alias("churn", "production", 1, reason="rollback after upgrade")
        assert change.previous == 3
        assert nbtrack.pipelines()["name"].tolist() == ["train"]
    else:  # the registry arrived with 0002: it starts empty and works
        with nbtrack.track("train-new") as r:
            from sklearn.linear_model import LogisticRegression

            nbtrack.log_model(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), "clf")
        nbtrack.register_model("churn", run=r.id)
        nbtrack.set_alias("churn", "production", 1)
    with nbtrack.track("after-upgrade", params={"C": 2.0}) as r:
        nbtrack.log_metric("auc", 0.99)
    assert nbtrack.runs(order_by="metrics.auc desc", limit=1)["name"].tolist() == ["after-upgrade"]
    ev = nbtrack.events()
    assert len(ev) > n_events
    audit = nbtrack.verify_audit()
    assert audit, audit.summary()
    rep = nbtrack.fsck()
    assert rep.ok, rep.lines()


def test_revisions_cover_every_migration():
    assert earlier_revisions()[0] == "0001" and len(earlier_revisions()) == int(SCHEMA_HEAD) - 1
    assert Path(MIGRATIONS, "versions").is_dir()
