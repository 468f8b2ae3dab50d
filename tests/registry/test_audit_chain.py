"""The audit log's hash chain: verify finds edited and deleted events; concurrent writers never fork it."""

from __future__ import annotations

import json
import multiprocessing as mp
import subprocess
import sys

import pytest
from click.testing import CliRunner
from registry.chainfixtures import write_events_at_barrier

import nbtrack
from nbtrack.cli import cli
from nbtrack.query.audit import verify_audit
from nbtrack.store.audit_chain import GENESIS

STORES = [pytest.param("workspace", id="sqlite"),
          pytest.param("pg_workspace", id="postgres", marks=pytest.mark.postgres)]


def some_events() -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = [[0.0], [1.0], [0.2], [0.9]], [0, 1, 0, 1]
    for C in (1.0, 2.0):
        nbtrack.register_model("churn", model=LogisticRegression(C=C).fit(X, y))
    for v in (1, 2, 1):
        nbtrack.set_alias("churn", "production", v, reason=f"to {v}")  # events 3, 4, 5


def sql(ws, statement: str) -> None:
    """Tamper with meta.db like an attacker would; SQLite from another process (see INTERFACES.md)."""
    if ws.meta.dialect == "sqlite":
        from nbtrack.store.meta import sqlite_path

        code = ("import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit(); c.close()")
        subprocess.run([sys.executable, "-c", code, sqlite_path(ws.meta.url), statement], check=True)
    else:
        with ws.meta.engine.begin() as conn:
            conn.exec_driver_sql(statement)


def verify_cli(*args: str):
    return CliRunner().invoke(cli, ["audit", "verify", *args])


@pytest.mark.parametrize("store", STORES)
def test_an_edited_event_is_detected(store, request):
    ws = request.getfixturevalue(store)
    some_events()
    res = verify_cli()
    assert res.exit_code == 0 and res.output.startswith("audit log intact: 5 events, head ")
    sql(ws, "UPDATE events SET actor = 'mallory' WHERE id = 4")
    res = verify_cli()
    assert res.exit_code == 1
    assert res.output.strip() == "audit log damaged: event 4 was edited: its content does not match its hash"
    # rewriting the edited event's own hash too moves the break to the next event
    sql(ws, "UPDATE events SET actor = 'bob', reason = 'x' WHERE id = 3")
    check = verify_audit()
    assert not check and check.first_bad == 3


@pytest.mark.parametrize("store", STORES)
def test_a_deleted_event_is_detected(store, request):
    ws = request.getfixturevalue(store)
    some_events()
    sql(ws, "DELETE FROM events WHERE id = 3")
    res = verify_cli()
    assert res.exit_code == 1 and "event 4: its link to the event before it is broken: an event after event 2 " \
                                   "was deleted" in res.output
    assert verify_audit().first_bad == 4


def test_a_truncated_log_is_detected_with_a_saved_head(workspace):
    some_events()
    head = verify_audit().head
    assert verify_cli("--expect-head", head).exit_code == 0
    nbtrack.set_alias("churn", "staging", 1)
    assert verify_cli("--expect-head", head).exit_code == 0  # the saved head is still in the chain
    sql(workspace, "DELETE FROM events WHERE id >= 5")
    assert verify_cli().exit_code == 0  # the chain alone cannot see a cut end...
    res = verify_cli("--expect-head", head)  # ...a head kept elsewhere can
    assert res.exit_code == 1 and f"the saved head {head} is no longer in the log" in res.output


def test_json_export_carries_the_chain(workspace):
    some_events()
    res = CliRunner().invoke(cli, ["events", "--format", "json", "--limit", "0"])
    assert res.exit_code == 0
    rows = json.loads(res.output)
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["prev_hash"] == GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(rows, rows[1:]))
    assert rows[2]["actor"] and rows[2]["action"] == "alias.set" and rows[2]["detail"]["to"] == 1


@pytest.mark.parametrize("store", STORES)
def test_concurrent_writers_never_fork_the_chain(store, request):
    request.getfixturevalue(store)
    some_events()
    ctx = mp.get_context("spawn")
    users, n = ("ann", "bob", "cid"), 8
    barrier, results = ctx.Barrier(len(users)), ctx.Queue()
    procs = [ctx.Process(target=write_events_at_barrier, args=(barrier, results, u, n)) for u in users]
    for p in procs:
        p.start()
    assert sorted(results.get(timeout=120) for _ in procs) == sorted(users)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    ev = nbtrack.events(hashes=True)
    assert len(ev) == 5 + len(users) * n
    assert ev["prev_hash"].is_unique  # no two events chained to the same predecessor: no fork
    check = verify_audit()
    assert check, check.problem
    assert check.events == len(ev)


def test_migration_chains_existing_events(tmp_path):
    from alembic import command
    from alembic.config import Config

    from nbtrack.store.meta import MIGRATIONS, MetaStore

    url = f"sqlite:///{tmp_path / 'meta.db'}"
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    meta = MetaStore(url)
    with meta.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        with conn.begin():
            command.upgrade(cfg, "0003")
            for i in range(3):
                conn.exec_driver_sql("INSERT INTO events (ts, actor, action, target, detail, reason) "
                                     f"VALUES ({1.5 + i}, 'old', 'alias.set', 'model:m@p', '{{}}', NULL)")
    meta.dispose()
    MetaStore(url).migrate()
    from nbtrack.store import audit_chain

    with MetaStore(url).engine.connect() as conn:
        rows = list(conn.exec_driver_sql("SELECT * FROM events ORDER BY id").mappings())
    n, problem, _, _ = audit_chain.check(rows)
    assert (n, problem) == (3, None) and rows[0]["prev_hash"] == GENESIS
