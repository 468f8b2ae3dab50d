"""Two real processes move the same alias at once: one wins, one gets Conflict, the log tells it all."""

from __future__ import annotations

import multiprocessing as mp

import pytest
from registry.regfixtures import move_alias_at_barrier, promote_at_barrier, trained_run

import nbtrack


STORES = [pytest.param("workspace", id="sqlite"),
          pytest.param("pg_workspace", id="postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("store", STORES)
def test_two_processes_race_on_one_alias(store, request):
    request.getfixturevalue(store)
    for C, auc in ((0.01, 0.8), (1.0, 0.9), (100.0, 0.85)):
        nbtrack.register_model("churn", run=trained_run(C, auc)[0])
    nbtrack.set_alias("churn", "production", 1)
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=move_alias_at_barrier, args=(barrier, results, v, u))
             for v, u in ((2, "ann"), (3, "bob"))]
    for p in procs:
        p.start()
    got = sorted(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    outcomes = {user: (kind, detail) for user, kind, detail in got}
    assert sorted(kind for kind, _ in outcomes.values()) == ["conflict", "ok"]
    winner = next(u for u, (k, _) in outcomes.items() if k == "ok")
    loser = next(u for u in outcomes if u != winner)
    won_version = outcomes[winner][1]
    assert "expected version 1, it holds version" in outcomes[loser][1]
    assert nbtrack.get_model_version("churn@production").version == won_version

    ev = nbtrack.events(target="churn@production")
    rows = [(r.actor, r.action, r.detail.get("from"), r.detail.get("to")) for r in ev.itertuples()]
    assert rows[0][1:] == ("alias.set", None, 1)
    assert rows[1] == (winner, "alias.set", 1, won_version)  # exactly one move...
    assert rows[2][:2] == (loser, "alias.conflict")  # ...and the lost attempt, changing nothing
    assert ev["detail"].iloc[2]["expected"] == 1 and ev["detail"].iloc[2]["current"] == won_version
    assert len(rows) == 3


@pytest.mark.parametrize("store", STORES)
def test_racing_promotions_never_lose_an_update(store, request):
    """Gated promotions racing: whatever the timing, every move starts where the previous one ended."""
    request.getfixturevalue(store)
    for C, auc in ((0.01, 0.8), (1.0, 0.9), (100.0, 0.85)):
        nbtrack.register_model("churn", run=trained_run(C, auc)[0])
    nbtrack.set_alias("churn", "production", 1)
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=promote_at_barrier, args=(barrier, results, v, u)) for v, u in ((2, "ann"), (3, "bob"))]
    for p in procs:
        p.start()
    got = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    kinds = sorted(k for _, k, _ in got)
    assert kinds in (["ok", "ok"], ["conflict", "ok"])
    ev = nbtrack.events(target="churn@production")
    moves = [r.detail for r in ev.itertuples() if r.action in ("alias.set", "alias.promote")]
    for before, after in zip(moves, moves[1:]):
        assert after["from"] == before["to"]
    assert len(moves) == 1 + kinds.count("ok")
    assert (ev["action"] == "alias.conflict").sum() == kinds.count("conflict")
    assert nbtrack.get_model_version("churn@production").version == moves[-1]["to"]
