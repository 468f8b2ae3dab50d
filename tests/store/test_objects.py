from __future__ import annotations

import os
import time

import pytest

from nbtrack.errors import CorruptObject, NotFound, StoreUnavailable
from nbtrack.store.objects import ObjectStore, hash_bytes


def test_put_get_is_content_addressed(tmp_path):
    store = ObjectStore(str(tmp_path / "objects"))
    oid = store.put(b"hello")
    assert oid == hash_bytes(b"hello") and len(oid) == 64
    assert store.put(b"hello") == oid  # idempotent
    assert store.get(oid) == b"hello"
    assert os.path.isfile(tmp_path / "objects" / oid[:2] / oid[2:])
    assert list(store) == [oid]


def test_objects_are_read_only_files(tmp_path):
    store = ObjectStore(str(tmp_path))
    oid = store.put(b"x")
    assert not os.stat(store.path(oid)).st_mode & 0o222


def test_corrupt_object_names_itself_and_referrers(tmp_path):
    store = ObjectStore(str(tmp_path), referrers=lambda oid: ["run abc (source)"])
    oid = store.put(b"original")
    path = store.path(oid)
    os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(b"tampered")
    with pytest.raises(CorruptObject) as e:
        store.get(oid)
    assert oid in str(e.value) and "run abc (source)" in str(e.value) and "nbtrack fsck" in str(e.value)
    assert store.verify(oid) == "hash mismatch"
    assert store.get(oid, verify=False) == b"tampered"


def test_missing_object_and_bad_ids(tmp_path):
    store = ObjectStore(str(tmp_path))
    with pytest.raises(CorruptObject, match="missing"):
        store.get("ab" * 32)
    with pytest.raises(NotFound):
        store.get("../../etc/passwd")


def test_write_failure_is_store_unavailable(tmp_path):
    (tmp_path / "objects").write_text("a file, not a folder")
    store = ObjectStore(str(tmp_path / "objects"))
    with pytest.raises(StoreUnavailable, match="writable"):
        store.put(b"data")


def test_fsspec_backend(tmp_path):
    store = ObjectStore("memory://nbtrack-test-objects")
    oid = store.put(b"remote bytes")
    assert store.get(oid) == b"remote bytes" and store.exists(oid)
    assert oid in list(store)
    store.delete(oid)
    assert not store.exists(oid)


# -- dedup refreshes and repairs (issue 12: gc race, corrupt objects) -------------------
def _age(store, oid, seconds):
    t = time.time() - seconds
    os.utime(store.path(oid), (t, t))


def test_storing_existing_content_makes_it_young_again(tmp_path):
    store = ObjectStore(str(tmp_path))
    oid = store.put(b"shared chunk")
    _age(store, oid, 7200)
    store.put(b"shared chunk")
    assert time.time() - store.mtime(oid) < 60


def test_storing_healthy_bytes_repairs_a_truncated_object(tmp_path):
    store = ObjectStore(str(tmp_path))
    oid = store.put(b"0123456789" * 100)
    os.chmod(store.path(oid), 0o644)
    os.truncate(store.path(oid), 10)
    store.put(b"0123456789" * 100)
    assert store.get(oid) == b"0123456789" * 100


def test_a_same_size_corruption_seen_by_a_reader_is_repaired_by_the_next_writer(tmp_path):
    store = ObjectStore(str(tmp_path))
    oid = store.put(b"abcdef")
    os.chmod(store.path(oid), 0o644)
    with open(store.path(oid), "wb") as f:
        f.write(b"abcdeX")
    with pytest.raises(CorruptObject):
        store.get(oid)
    assert store.is_marked_damaged(oid)
    store.put(b"abcdef")
    assert store.get(oid) == b"abcdef" and not store.is_marked_damaged(oid)


def test_refresh_refuses_a_damaged_or_missing_object(tmp_path):
    store = ObjectStore(str(tmp_path))
    a, b = store.put(b"aaaa"), store.put(b"bbbb")
    _age(store, a, 7200)
    assert store.refresh([(a, 4), (b, None)]) and time.time() - store.mtime(a) < 60
    assert not store.refresh([(a, 5)])  # another size than the caller stored
    store.delete(b)
    assert not store.refresh([(b, 4)])


def test_stray_files_are_reported_not_objects(tmp_path):
    store = ObjectStore(str(tmp_path))
    oid = store.put(b"x")
    for stray in (f"{oid[:2]}/.DS_Store", f"{oid[:2]}/notes.txt", "README", "zz/thing"):
        os.makedirs(os.path.dirname(tmp_path / stray), exist_ok=True)
        (tmp_path / stray).write_text("not ours")
    assert list(store) == [oid]
    assert sorted(p for kind, _, p in store.leftovers() if kind == "stray") == sorted(
        f"{tmp_path}/{s}" for s in (f"{oid[:2]}/.DS_Store", f"{oid[:2]}/notes.txt", "README", "zz/thing"))


def test_collect_puts_back_an_object_adopted_after_it_was_set_aside(tmp_path):
    store = ObjectStore(str(tmp_path))
    oid = store.put(b"adopt me")
    _age(store, oid, 7200)
    cutoff = time.time() - 3600

    def referenced(o):  # runs while the object is renamed aside: a writer stores it meanwhile
        store.put(b"adopt me")
        return False

    assert store.collect(oid, cutoff, referenced) is False
    assert store.get(oid) == b"adopt me"
    assert [k for k, _, _ in store.leftovers()] == []


def test_fsspec_dedup_rewrites_old_objects_and_repairs_damaged_ones():
    import uuid

    store = ObjectStore(f"memory://nbtrack-dedup-{uuid.uuid4().hex}")
    oid = store.put(b"remote chunk")
    f = store.fs.store[store.fs._strip_protocol(store.path(oid))]
    from datetime import datetime, timedelta, timezone

    f.modified = datetime.now(timezone.utc) - timedelta(hours=2)
    store.put(b"remote chunk")
    assert time.time() - store.mtime(oid) < 60
    store.fs.pipe_file(store.path(oid), b"remote")  # truncated
    store.put(b"remote chunk")
    assert store.get(oid) == b"remote chunk"


def test_refresh_without_a_size_checks_the_file_and_its_damage_mark(tmp_path):
    store = ObjectStore(str(tmp_path))
    a, b = store.put(b"aaaa"), store.put(b"bbbb")
    _age(store, a, 7200)
    assert store.refresh([(a, None)]) and time.time() - store.mtime(a) < 60  # made young, as with a size
    store.mark_damaged(a)
    assert not store.refresh([(a, None)])  # marked damaged: the caller writes it again
    store.delete(b)
    assert not store.refresh([(b, None)])  # missing
