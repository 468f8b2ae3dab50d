"""Two processes logging versions of one model at once get distinct, gap-free version numbers."""

from __future__ import annotations

import multiprocessing as mp

import pytest
from registry.regfixtures import log_models_at_barrier

import nbtrack


@pytest.mark.slow  # issue 19: kept out of the fast subset (README)
@pytest.mark.parametrize("store", [
    pytest.param("workspace", id="sqlite"), pytest.param("pg_workspace", id="postgres", marks=pytest.mark.postgres)])
def test_concurrent_versions_of_one_name(store, request):
    request.getfixturevalue(store)
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=log_models_at_barrier, args=(barrier, results, seed, 6)) for seed in (1, 2)]
    for p in procs:
        p.start()
    got = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert all(isinstance(g, list) for g in got), got
    assert sorted(got[0] + got[1]) == list(range(1, 13))
    assert list(nbtrack.model_versions("m")["version"]) == list(range(12, 0, -1))
