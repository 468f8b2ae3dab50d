"""PostgreSQL under concurrent writers: 8 processes x 250 runs, and two kernels racing on one alias."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

import nbtrack
from nbtrack.store.schema import artifacts, latest_metrics, metrics, params, runs

pytestmark = pytest.mark.postgres
WRITER = str(Path(__file__).with_name("writer.py"))


@pytest.mark.slow
def test_eight_processes_write_2000_complete_runs(pg_workspace):
    procs = [subprocess.Popen([sys.executable, WRITER, "250", f"w{i}"], stderr=subprocess.PIPE, text=True)
             for i in range(8)]
    errors = [p.communicate(timeout=1200)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errors
    with pg_workspace.meta.read() as conn:
        rows = conn.execute(select(runs.c.name, runs.c.status, runs.c.id)).all()
        per_run = {
            t.name: dict(conn.execute(select(t.c.run_id, func.count()).group_by(t.c.run_id)).all())
            for t in (params, latest_metrics, metrics, artifacts)
        }
        n_artifact_objects = conn.execute(select(func.count(func.distinct(artifacts.c.oid)))).scalar()
    names = [n for n, _, _ in rows]
    assert len(rows) == 2000 and len(set(names)) == 2000  # nothing lost, nothing duplicated
    assert set(names) == {f"w{i}-{j}" for i in range(8) for j in range(250)}
    assert {s for _, s, _ in rows} == {"finished"}
    for _, _, rid in rows:
        assert (per_run["params"][rid], per_run["latest_metrics"][rid], per_run["metrics"][rid],
                per_run["artifacts"][rid]) == (10, 10, 10, 1)
    assert n_artifact_objects == 2000  # each run's note is different content
    df = nbtrack.runs(filter="name == 'w7-249'")
    assert df["params.p9"].tolist() == [9 * 249] and df["metrics.m9"].tolist() == [9.249]
    assert nbtrack.get_run(df.id[0]).artifact("notes.txt") == b"w7 run 249\n" * 20
    rep = nbtrack.fsck()
    assert rep.ok and rep.objects_checked >= 2000, rep.lines()


RACE = '''
import os, time
os.environ["NBTRACK_USER"] = {user!r}
import nbtrack
from nbtrack.errors import Conflict
nbtrack.runs(limit=1)  # connected and migrated before the start signal
while not os.path.exists({go!r}):
    time.sleep(0.0005)
try:
    {call}
    print("RESULT ok")
except Conflict as e:
    print("RESULT conflict", e)
'''


class _Kernel:
    def __init__(self, cwd: Path) -> None:
        import os

        from jupyter_client.manager import start_new_kernel

        self.km, self.kc = start_new_kernel(kernel_name="python3", env=dict(os.environ), cwd=str(cwd))

    def start(self, code: str) -> str:
        return self.kc.execute(code)

    def result(self, msg_id: str) -> str:
        out = []
        while True:
            m = self.kc.get_iopub_msg(timeout=120)
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            c = m["content"]
            if m["msg_type"] == "stream":
                out.append(c["text"])
            elif m["msg_type"] == "error":
                out.append(f"{c['ename']}: {c['evalue']}")
            elif m["msg_type"] == "status" and c["execution_state"] == "idle":
                text = "".join(out)
                return text[text.index("RESULT"):].strip() if "RESULT" in text else text

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def _race(kernels, calls, go: Path) -> list[str]:
    ids = [k.start(RACE.format(user=u, go=str(go), call=c)) for k, (u, c) in zip(kernels, calls)]
    import time

    time.sleep(3)  # both kernels are polling for the signal
    go.touch()
    out = [k.result(i) for k, i in zip(kernels, ids)]
    go.unlink()
    return out


@pytest.mark.slow
def test_two_kernels_race_on_one_alias(pg_workspace, tmp_path):
    from registry.regfixtures import trained_run

    for C, auc in ((0.01, 0.8), (1.0, 0.9), (100.0, 0.85)):
        nbtrack.register_model("churn", run=trained_run(C, auc)[0])
    nbtrack.set_alias("churn", "production", 1)
    kernels = [_Kernel(tmp_path), _Kernel(tmp_path)]
    go = tmp_path / "go"
    try:
        # compare-and-set from the same state: exactly one wins
        got = _race(kernels, [("ann", 'nbtrack.set_alias("churn", "production", 2, expected=1)'),
                              ("bob", 'nbtrack.set_alias("churn", "production", 3, expected=1)')], go)
        assert sorted(r.split()[1] for r in got) == ["conflict", "ok"], got
        winner = ("ann", 2) if got[0].startswith("RESULT ok") else ("bob", 3)
        assert "expected version 1" in next(r for r in got if "conflict" in r)
        assert nbtrack.get_model_version("churn@production").version == winner[1]
        # gated promotions racing, several rounds: never a lost update, every conflict audited
        rounds = []
        gate = 'gate="metrics.auc >= 0.5"'
        for n in range(4):
            rounds += _race(kernels, [("ann", f'nbtrack.promote("churn", {1 + n % 3}, {gate})'),
                                      ("bob", f'nbtrack.promote("churn", {1 + (n + 1) % 3}, {gate})')], go)
    finally:
        for k in kernels:
            k.close()
    assert all(r.startswith(("RESULT ok", "RESULT conflict")) for r in rounds), rounds
    ev = nbtrack.events(target="churn@production")
    moves = [r for r in ev.itertuples() if r.action in ("alias.set", "alias.promote")]
    for before, after in zip(moves, moves[1:]):
        assert after.detail["from"] == before.detail["to"]  # each move starts where the previous ended
    n_conflicts = sum("conflict" in r for r in got + rounds)
    assert (ev["action"] == "alias.conflict").sum() == n_conflicts
    moved = [r for r in got + rounds if r.startswith("RESULT ok")]
    assert 2 <= len(moves) <= 1 + len(moved)  # promoting to the version it already holds is no move
    assert nbtrack.get_model_version("churn@production").version == moves[-1].detail["to"]
    assert nbtrack.verify_audit()


def test_pooled_connections_killed_by_the_server_are_replaced(pg_workspace, pg_url, monkeypatch):
    """No ping per transaction (a round trip on every run's start and end): a connection idle
    longer than PING_IDLE_S is checked before reuse, and a dead one replaced."""
    import sqlalchemy as sa

    from nbtrack.store import meta

    with nbtrack.track("before"):
        nbtrack.log_metric("x", 1)
    db = pg_workspace.meta.engine.url.database
    monkeypatch.setattr(meta, "PING_IDLE_S", 0.0)
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        killed = conn.execute(sa.text("SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                                      "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": db}).scalar()
    admin.dispose()
    assert killed >= 1
    with nbtrack.track("after"):
        nbtrack.log_metric("x", 2)
    assert sorted(nbtrack.runs()["name"]) == ["after", "before"]
