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
