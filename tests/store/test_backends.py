"""One object store over three backends (local folder, fsspec memory://, S3 on moto):
streaming writes and reads, atomic S3 writes, mtimes, touch, gc's set-aside and adoption marks."""

from __future__ import annotations

import io
import os
import time
import uuid

import pytest

from nbtrack.errors import CorruptObject
from nbtrack.store import objects as objects_mod
from nbtrack.store.objects import ObjectStore, hash_bytes

KEY = bytes.fromhex("4a" * 32)


@pytest.fixture(params=["local", "memory", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return ObjectStore(str(tmp_path / "objects"))
    if request.param == "memory":
        return ObjectStore(f"memory://nbtrack-{uuid.uuid4().hex}")
    bucket = request.getfixturevalue("s3_bucket")
    return ObjectStore(f"{bucket}/objects")


def _encrypted(store):
    pytest.importorskip("cryptography")
    from nbtrack.store import crypto

    store.cipher = crypto.Cipher(KEY)
    return store


def _payload(n: int = 3 * (1 << 20) + 123) -> bytes:
    return os.urandom(1 << 16) * (n >> 16) + b"tail" * ((n & 0xFFFF) // 4)


@pytest.mark.parametrize("encrypted", [False, True])
def test_put_stream_and_open_round_trip_without_whole_objects(store, encrypted):
    if encrypted:
        _encrypted(store)
    data = _payload()
    pieces = (data[i:i + 100_000] for i in range(0, len(data), 100_000))  # a generator: read once
    oid = store.put_stream(pieces)
    assert oid == store.name(data) and store.exists(oid)
    assert store.size(oid) == store.stored_size(len(data))
    assert store.get(oid) == data
    with store.open(oid) as r:
        head = r.read(10)
        rest = b"".join(r.iter_chunks())
    assert head + rest == data
    assert store.put_stream(io.BytesIO(data)) == oid  # deduplicated, from a file object
    assert store.put(data) == oid
    assert [k for k, _o, _p in store.leftovers()] == []
    if encrypted:
        assert data[:1000] not in store.backend.read_bytes(store.path(oid))


@pytest.mark.parametrize("encrypted", [False, True])
def test_open_finds_damage_at_the_end_and_marks_it(store, encrypted):
    if encrypted:
        _encrypted(store)
    data = _payload(2 * (1 << 20))
    oid = store.put(data)
    raw = bytearray(store.backend.read_bytes(store.path(oid)))
    raw[len(raw) // 2] ^= 1
    store.backend.write_bytes(store.path(oid), bytes(raw))
    with pytest.raises(CorruptObject) as e, store.open(oid) as r:
        r.read()
    assert not e.value.missing and store.is_marked_damaged(oid) or store._damaged_cache == (0.0, set())
    assert store.verify(oid) in ("hash mismatch", "fails authentication")
    missing = hash_bytes(b"never stored")
    assert store.verify(missing) == "missing"
    with pytest.raises(CorruptObject) as e:
        store.open(missing)
    assert e.value.missing
    store.put(data)  # a healthy writer repairs it
    assert store.verify(oid) is None


def test_put_stream_under_a_wrong_id_stores_nothing(store):
    data = _payload(1 << 20)
    wrong = hash_bytes(b"something else")
    with pytest.raises(CorruptObject, match="do not hash"):
        store.put_stream(io.BytesIO(data), oid=wrong)
    assert not store.exists(wrong) and list(store.scan()) == []


def test_copy_to_another_store_streams_and_verifies(store, tmp_path):
    data = _payload(1 << 20)
    oid = store.put(data)
    other = ObjectStore(str(tmp_path / "copy"))
    store.copy_to(oid, other)
    assert other.get(oid) == data and other.verify(oid) is None


def test_every_backend_reports_mtimes_and_touch_makes_young(store):
    before = time.time()
    oid = store.put(b"aged object")
    m = store.mtime(oid)
    assert m is not None and before - 2 <= m <= time.time() + 2
    assert store.mtime(hash_bytes(b"absent")) is None
    time.sleep(1.2)  # S3 keeps seconds
    store.backend.touch(store.path(oid))
    assert store.mtime(oid) > m
    assert store.get(oid) == b"aged object"
    with pytest.raises(FileNotFoundError):
        store.backend.touch(store.path(hash_bytes(b"absent")))


def test_collect_deletes_an_old_unreferenced_object_and_leaves_nothing_aside(store):
    oid = store.put(b"orphan")
    assert store.collect(oid, time.time() + 5, lambda o: False)
    assert not store.exists(oid) and list(store.scan()) == []
    keep = store.put(b"referenced")
    assert not store.collect(keep, time.time() + 5, lambda o: True)
    assert store.get(keep) == b"referenced" and [k for k, _o, _p in store.scan()] == ["object"]


@pytest.mark.parametrize("kind", ["memory", "s3"])
def test_remote_gc_keeps_an_object_a_writer_adopts_while_gc_deletes_it(kind, tmp_path, request, monkeypatch):
    """The writer touches the object after gc's last age check and before its delete: the
    adoption mark it left first makes gc put the object back."""
    if kind == "memory":
        store = ObjectStore(f"memory://nbtrack-{uuid.uuid4().hex}")
    else:
        store = ObjectStore(f"{request.getfixturevalue('s3_bucket')}/objects")
    monkeypatch.setattr(objects_mod, "REFRESH_S", 0.0)  # every adoption counts as one gc could race
    data = b"adopted during gc"
    oid = store.put(data)
    cutoff = time.time() + 0.5
    time.sleep(2.0)  # the object is older than the cutoff; the adoption will be younger
    aside = store.backend.set_aside

    def set_aside_with_a_writer_in_between(path, tomb):
        store.backend.fs.copy(path, tomb)
        writer = ObjectStore(store.url)
        writer.put(data)  # the writer finds it stored and adopts it
        store.backend.remove(path)

    monkeypatch.setattr(store.backend, "set_aside", set_aside_with_a_writer_in_between)
    assert not store.collect(oid, cutoff, lambda o: False)
    assert store.get(oid) == data and [k for k, _o, _p in store.scan()] == ["object"]
    # without an adoption gc deletes it; gc's end prunes marks older than its cutoff
    monkeypatch.setattr(store.backend, "set_aside", aside)
    assert store.collect(oid, time.time() + 5, lambda o: False)  # the mark predates this cutoff
    assert not store.exists(oid)
    assert store.prune_adoptions(time.time() + 5) == 1 and list(store.scan()) == []


def test_s3_writes_go_straight_to_their_key(s3_bucket, monkeypatch):
    """No temporary key then copy: copying or moving during a write fails the test."""
    store = ObjectStore(f"{s3_bucket}/objects")

    def refuse(*a, **k):
        raise AssertionError("an S3 write must not copy or move")

    for name in ("copy", "mv", "cp_file", "rename"):
        monkeypatch.setattr(store.fs, name, refuse)
    monkeypatch.setattr(store.backend, "open_options", {"block_size": 5 * 2**20})  # multipart from 5 MB
    data = _payload(12 * (1 << 20))
    a = store.put(b"small")
    b = store.put_stream(io.BytesIO(data))  # spooled (name unknown), then one upload
    c = store.put_stream(io.BytesIO(data[::-1]), oid=hash_bytes(data[::-1]))  # streamed multipart
    assert store.get(a) == b"small" and store.get(b) == data and store.get(c) == data[::-1]
    keys = store.fs.find(s3_bucket)
    assert sorted(keys) == sorted(store.path(o) for o in (a, b, c))


def test_s3_missing_is_a_structured_not_found(s3_bucket):
    store = ObjectStore(f"{s3_bucket}/objects")
    oid = hash_bytes(b"x")
    assert not store.exists(oid) and store.mtime(oid) is None
    with pytest.raises(FileNotFoundError):
        store.backend.stat(store.path(oid))
    with pytest.raises(CorruptObject) as e:
        store.get(oid)
    assert e.value.missing


def test_an_object_a_stopped_gc_left_aside_is_restored(store):
    """gc stopped between setting an object aside and settling it: the tomb is found by scan and
    put back (never over a copy a writer stored meanwhile)."""
    oid = store.put(b"set aside by a gc that died")
    path = store.path(oid)
    tomb = f"{path.rsplit('/', 1)[0]}/{objects_mod.TOMB}{oid[2:]}-deadbeef"
    store.backend.set_aside(path, tomb)
    assert not store.exists(oid) and [(k, o) for k, o, _p in store.leftovers()] == [("tomb", oid)]
    assert store.restore_tomb(oid, tomb)
    assert store.get(oid) == b"set aside by a gc that died" and list(store.leftovers()) == []
    if store.backend.fs is not None:  # a second tomb, this time with the object still in place
        store.backend.fs.copy(path, tomb)
    else:
        os.link(path, tomb)
    store.put(b"set aside by a gc that died")  # a writer has it stored again
    assert store.restore_tomb(oid, tomb) and list(store.leftovers()) == [] and store.verify(oid) is None


def test_an_encrypted_stream_never_rests_in_clear_in_the_spool(store, monkeypatch):
    from nbtrack.store import streams

    _encrypted(store)
    seen = []
    close = streams.Spool.close

    def peek_then_close(self):
        self.f.seek(0)
        seen.append(self.f.read())
        close(self)

    monkeypatch.setattr(streams.Spool, "close", peek_then_close)
    secret = b"PLAINTEXT-NEVER-ON-DISK " * 50_000
    oid = store.put_stream(io.BytesIO(secret))
    assert seen and len(seen[0]) == len(secret) and b"PLAINTEXT-NEVER" not in seen[0]
    assert store.get(oid) == secret


def test_durable_local_writes_are_fsynced(tmp_path, monkeypatch):
    calls = []
    fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), fsync(fd)))
    ObjectStore(str(tmp_path / "normal")).put(b"not fsynced by default")
    assert calls == []
    ObjectStore(str(tmp_path / "durable"), durable=True).put(b"fsynced")
    assert len(calls) == 1
    ObjectStore(str(tmp_path / "normal")).put_stream(io.BytesIO(b"streamed objects are large: always fsynced"))
    assert len(calls) == 2
