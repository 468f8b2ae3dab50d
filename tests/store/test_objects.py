from __future__ import annotations

import os

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
