"""A param is encoded once, when logged, if its value cannot change before the run's flush: what
is stored is exactly what encoding it at the flush stores (SQLite and PostgreSQL)."""

from __future__ import annotations

import os

import pytest

import nbtrack
from nbtrack.capture import run as run_mod

VALUES = {
    "f": 0.1, "i": 42, "big": 2**1279, "b": True, "none": None, "s": "plain", "url": "postgresql://u:pw@h/db",
    "api_key": "abcd1234", "password": 3.5, "token": None, "uni": "héllo ✓", "neg": -7, "nan": float("nan"),
    "inf": float("-inf"), "sub": type("F", (float,), {})(2.5), "t": (1, 2), "d": {"secret": "x", "a": 1},
}


def _log(name: str) -> str:
    mutable = [1, 2]
    with nbtrack.track(name, params=VALUES) as run:
        run.log_param("mutable", mutable)
        mutable.append(3)  # changed after logging: the copy masking made when it was logged is stored
        run.log_param("relog", 1.5)
        run.log_param("relog", [1.5])  # an immutable value replaced by a list: the list is stored
        run.log_param("back", [0])
        run.log_param("back", 0.5)  # and the other way round
        run.log_param("twice", "a")
        run.log_param("twice", "b")
        run.log_metric("m", 1.0)
    return run.id


def _rows(ws, run_id: str) -> list:
    import sqlalchemy as sa

    with ws.meta.read() as conn:
        return [tuple(r) for r in conn.execute(
            sa.text("SELECT key, value, num, vtype FROM params WHERE run_id = :r ORDER BY key"), {"r": run_id}).all()]


def _same(a: list, b: list) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x[:2] == y[:2] and x[3] == y[3], (x, y)
        assert x[2] == y[2] or (x[2] != x[2] and y[2] != y[2]), (x, y)  # NaN numbers (none stored today)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_workspace(request):
    if request.param == "postgresql":
        if not os.environ.get("NBTRACK_TEST_PG_URL"):
            pytest.skip("NBTRACK_TEST_PG_URL not set")
        return request.getfixturevalue("pg_workspace")
    return request.getfixturevalue("workspace")


def test_params_encoded_once_store_what_the_flush_would(any_workspace, monkeypatch):
    ws = any_workspace
    with nbtrack.track("warm"):  # the first write of a process takes the general path
        pass
    cached = _log("cached")
    monkeypatch.setattr(run_mod, "_IMMUTABLE", frozenset())  # nothing kept: every param encoded at the flush
    flushed = _log("flushed")
    a, b = _rows(ws, cached), _rows(ws, flushed)
    _same(a, b)
    got = {r[0]: (r[1], r[3]) for r in a}
    assert got["mutable"] == ("[1, 2]", "json")
    assert got["relog"] == ("[1.5]", "json") and got["back"] == ("0.5", "float") and got["twice"] == ("b", "str")
    assert got["url"][0] == "postgresql://u:***@h/db" and got["api_key"][0] == "***" and got["password"][0] == "***"
    assert got["token"] == (None, "none") and got["sub"] == ("2.5", "float")


def test_a_failed_flush_keeps_the_encodings_for_the_next_one(workspace, monkeypatch):
    """A flush that fails puts its params back; the retry stores the same values (a param
    logged again meanwhile wins, even when the earlier value had been encoded already)."""
    from nbtrack.capture import journal

    run = run_mod.ActiveRun("r", "pipeline").start()  # not deferred: a store error is raised
    run.log_param("a", 1.0)
    run.log_param("b", "x")
    real = journal.apply
    monkeypatch.setattr(journal, "apply", lambda *a, **k: (_ for _ in ()).throw(OSError("disk")))
    with pytest.raises(OSError):
        run.flush()
    monkeypatch.setattr(journal, "apply", real)
    run.log_param("b", ["y"])
    run.end()
    assert nbtrack.get_run(run.id).params == {"a": 1.0, "b": ["y"]}
