"""Re-logging an unchanged model on SQLite with plain sqlite3 (snapshot/model_relog.py): same answer, same records."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sqlalchemy import select

import nbtrack
from nbtrack.errors import NotFound
from nbtrack.snapshot import model_relog, models
from nbtrack.store.schema import lineage


def _rf(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(100, 3))
    return RandomForestClassifier(n_estimators=4, random_state=seed).fit(X, (X[:, 0] > 0).astype(int))


def _edges(ws, run_id):
    with ws.meta.read() as conn:
        return conn.execute(select(lineage.c.direction, lineage.c.model_version_id, lineage.c.variable)
                            .where(lineage.c.run_id == run_id).order_by(lineage.c.id)).all()


def test_relog_returns_what_the_general_path_returns_and_links_each_run_once(workspace, monkeypatch):
    assert workspace.meta.direct  # (the SQLite file workspace of the tests)
    m = _rf()
    calls = []
    real = model_relog.relog
    monkeypatch.setattr(model_relog, "relog", lambda *a: calls.append(r := real(*a)) or r)
    with nbtrack.track("train") as run:
        first = nbtrack.log_model(m, "rf", variable="m")
        again = nbtrack.log_model(m, "rf", variable="m")
        third = nbtrack.log_model(m, "rf", variable="other")
    assert calls[0] is None and calls[1] is not None and calls[2] is not None  # first: a new version
    assert first.new and not again.new and not third.new
    general = nbtrack.get_model_version("rf@1").to_dict()
    for v in (again, third):
        assert {**v.to_dict(), "new": True} == {**general, "new": True}
        assert v.workspace is workspace
    assert _edges(workspace, run.id) == [("output", first.id, "m")]  # once per run and version
    with nbtrack.track("again") as run2:
        v = nbtrack.log_model(m, "rf", variable="clf")
    assert v.version == 1 and _edges(workspace, run2.id) == [("output", first.id, "clf")]


def test_a_changed_model_or_a_dataset_reference_takes_the_general_path(workspace):
    m = _rf()
    nbtrack.log_model(m, "rf")
    assert nbtrack.log_model(_rf(seed=1), "rf").version == 2  # relog found another oid: a new version
    assert nbtrack.log_model(_rf(seed=1), "rf").version == 2
    with pytest.raises(NotFound):  # a dataset reference is still resolved (and refused) as before
        nbtrack.log_model(_rf(seed=1), "rf", dataset_version="nope@1")
    values = {"oid": "0" * 64, "run_id": None}
    assert model_relog.relog(workspace, "missing", values, None, None) is None
    assert model_relog.relog(workspace, "rf", values, "x@1", None) is None


def test_relog_without_a_run_writes_nothing(workspace):
    m = _rf()
    v = nbtrack.log_model(m, "rf")
    with workspace.meta.read() as conn:
        before = conn.execute(select(lineage.c.id)).all()
    assert models.log_model(m, "rf").id == v.id
    with workspace.meta.read() as conn:
        assert conn.execute(select(lineage.c.id)).all() == before


def test_an_unchanged_relog_skips_params_and_signature_but_still_logs_the_runs_params(workspace, monkeypatch):
    m = _rf()
    first = nbtrack.log_model(m, "rf")
    described = []
    real = models.describe_model
    monkeypatch.setattr(models, "describe_model", lambda *a, **k: described.append(a[1]) or real(*a, **k))
    with nbtrack.track("again") as run:
        again = nbtrack.log_model(m, "rf")
    assert described == [] and not again.new  # decided "unchanged" from the fingerprint alone
    assert again.to_dict() == {**first.to_dict(), "new": False}  # params and signature: the stored version's
    assert nbtrack.get_run(run.id).params["model.rf.n_estimators"] == 4  # logged on the run as before
    m.set_params(n_estimators=5)  # changed in place: a new version, described again with its own params
    changed = nbtrack.log_model(m, "rf")
    assert described == ["rf"] and changed.new and changed.version == 2 and changed.params["n_estimators"] == 5


def test_after_a_save_the_re_log_needs_no_lookup_and_still_sees_other_writers(workspace, monkeypatch):
    from nbtrack.workspace import Workspace

    chosen, lookups = [], []
    real_reader, real_latest = model_relog._reader, model_relog._latest
    monkeypatch.setattr(model_relog, "_reader",
                        lambda meta, raw: chosen.append((r := real_reader(meta, raw)) is not raw) or r)
    monkeypatch.setattr(model_relog, "_latest", lambda *a: lookups.append(a[1]) or real_latest(*a))
    m1, m2 = _rf(), _rf(seed=1)
    nbtrack.log_model(_rf(seed=2), "rf")
    v1 = nbtrack.log_model(m1, "rf")  # a new version, written through SQLAlchemy's connection
    n = len(lookups)
    again = nbtrack.log_model(m1, "rf")
    assert v1.version == 2 and again.id == v1.id and not again.new and again.to_dict() == {**v1.to_dict(), "new": False}
    assert len(lookups) == n  # (nothing committed since the save: its version is still the latest)
    assert nbtrack.log_model(m1, "rf").id == v1.id
    other = Workspace(workspace.meta_url, workspace.objects_url, workspace.root)  # another writer's connections
    try:
        assert models.log_model(m2, "rf", workspace=other).version == 3
    finally:
        other.close()
    n = len(lookups)
    again = nbtrack.log_model(m1, "rf")  # the latest is now m2's: m1 is a new version again
    assert again.new and again.version == 4 and len(lookups) > n  # (the other commit was seen: looked up)
    with nbtrack.track("run") as run:  # a run writes through the direct connection: looked up again
        n = len(lookups)
        assert nbtrack.log_model(m1, "rf", variable="m").id == again.id
        assert len(lookups) > n
    assert _edges(workspace, run.id) == [("output", again.id, "m")]
    nbtrack.log_model(_rf(seed=3), "other")  # a save of another name through the same connection...
    n = len(lookups)
    assert nbtrack.log_model(m1, "rf").id == again.id and len(lookups) > n  # ...is a write: looked up
    assert chosen[-1]  # (through the connection that wrote last: its pages are current)
    m3 = _rf(seed=4)
    v5 = nbtrack.log_model(m3, "rf")  # remembered by its save...
    with workspace.meta.write() as conn:  # ...then a write through the same connection that is not a log_model
        conn.exec_driver_sql("UPDATE model_versions SET oid = ? WHERE id = ?", ("0" * 64, v5.id))
    changed = nbtrack.log_model(m3, "rf")  # (that version no longer holds m3's archive: not taken for it)
    assert v5.version == 5 and changed.new and changed.version == 6


def test_a_relogged_version_reads_like_the_general_path_s(workspace):
    import copy
    import pickle

    m = _rf()
    nbtrack.log_model(m, "rf")
    general = nbtrack.get_model_version("rf@1")
    again = nbtrack.log_model(m, "rf")  # (its JSON fields are decoded when first read)
    assert again == general  # (dataclass equality: every compared field, new included)
    assert again.params == general.params and again.params["n_estimators"] == 4
    assert again.signature == general.signature and again.metrics == general.metrics == {}
    assert list(again.to_dict()) == list(general.to_dict()) and again.to_dict() == general.to_dict()
    fresh = nbtrack.log_model(m, "rf")
    assert repr(fresh) == repr(general) and copy.copy(fresh).params == general.params
    unpickled = pickle.loads(pickle.dumps(nbtrack.log_model(m, "rf").to_dict()))
    assert unpickled == general.to_dict()
    copied = copy.copy(nbtrack.log_model(m, "rf"))  # (copied before its fields were read)
    assert copied.class_sources == {} and copied.params == general.params and copied == general
    assert again.params is not nbtrack.log_model(m, "rf").params  # (each call its own objects)
    with pytest.raises(AttributeError):
        again.nope  # noqa: B018
