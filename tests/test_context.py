"""The active-run stack is per thread and per asyncio task (nbtrack.context)."""

from __future__ import annotations

import asyncio
import threading

import nbtrack
from nbtrack import context


def test_threads_record_into_their_own_runs(workspace):
    both_inside = threading.Barrier(2)
    ids = {}

    def work(name: str, value: float) -> None:
        with nbtrack.track(name) as run:
            both_inside.wait(timeout=30)  # the two runs are active at the same time
            assert context.active_run() is run
            nbtrack.log_metric("m", value)
            ids[name] = run.id

    threads = [threading.Thread(target=work, args=(n, v)) for n, v in (("a", 1.0), ("b", 2.0))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert nbtrack.get_run(ids["a"]).metrics == {"m": 1.0}
    assert nbtrack.get_run(ids["b"]).metrics == {"m": 2.0}
    assert nbtrack.get_run(ids["a"]).parent_id is None and context.active_run() is None


def test_asyncio_tasks_see_their_creators_run_and_keep_their_own(workspace):
    async def child(name: str, gate: asyncio.Event) -> str:
        with nbtrack.track(name) as run:
            await gate.wait()  # both tasks are inside their runs here
            nbtrack.log_metric("len", len(name))
            assert context.active_run() is run
            return run.id

    async def main() -> tuple[str, list[str]]:
        with nbtrack.track("outer") as outer:
            gate = asyncio.Event()
            tasks = [asyncio.create_task(child(n, gate)) for n in ("x", "yy")]
            await asyncio.sleep(0)
            gate.set()
            kids = await asyncio.gather(*tasks)
            assert context.active_run() is outer
            return outer.id, kids

    outer, (x, yy) = asyncio.run(main())
    assert nbtrack.get_run(x).metrics == {"len": 1.0} and nbtrack.get_run(yy).metrics == {"len": 2.0}
    assert nbtrack.get_run(x).parent_id == nbtrack.get_run(yy).parent_id == outer  # the creator's run


def test_a_run_ended_directly_is_no_longer_active(workspace, tmp_path):
    """`track(...).__enter__()` then `run.end()` (no `with`): later calls must not log into it,
    nor into its workspace once another one is in use."""
    import pandas as pd
    from sklearn.tree import DecisionTreeClassifier

    from nbtrack import workspace as ws_mod

    outer = nbtrack.track("outer").__enter__()
    live = nbtrack.track("live").__enter__()
    assert context.active_run() is live
    live.end()
    assert context.active_run() is outer  # the enclosing run is the parent again
    outer.end()
    assert context.active_run() is None
    other = ws_mod.use_workspace(ws_mod.init(tmp_path / "other").root)
    X = pd.DataFrame({"a": [0, 1, 0, 1]})
    mv = nbtrack.log_model(DecisionTreeClassifier().fit(X, [0, 1, 0, 1]), "m")
    assert mv.run_id is None
    assert list(nbtrack.models()["name"]) == ["m"]  # in the workspace now in use
    ws_mod.use_workspace(workspace.root)
    assert list(nbtrack.models()["name"]) == []
    assert {r.name: r.status for r in nbtrack.runs().itertuples()} == {"outer": "finished", "live": "finished"}
    assert other.root != workspace.root
