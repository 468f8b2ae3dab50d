"""Content-addressed, immutable objects named by the hex BLAKE3 of their bytes.

Layout: ``<root>/ab/cdef...``. Where the bytes go is a backend (:mod:`.backends`): a local
folder (a temporary file renamed into place, so a crash never leaves a half object under a
real name) or any fsspec URL (S3: one PUT or one multipart upload, atomic). Reads verify the
hash unless the caller explicitly opts out. Objects may be written and read as streams
(:meth:`ObjectStore.put_stream`, :meth:`ObjectStore.open`): nothing whole in memory.

Storing content that already exists is cheap but not blind:

* it refreshes the object's age (a touch: ``os.utime`` locally, a server-side copy onto
  itself on S3, a re-write elsewhere; on remote stores only when the object is older than
  :data:`REFRESH_S`), so ``gc``, which only deletes unreferenced objects older than its
  ``--min-age``, never takes an object a run just adopted and is about to commit (see
  :meth:`ObjectStore.collect`);
* it repairs a damaged copy: when the stored size differs, or a reader or ``fsck``
  marked the object damaged (``<root>/.damaged/<oid>``), the writer's healthy bytes
  replace it.

An encrypted store (see :mod:`.crypto`) names objects by the keyed BLAKE3 of their
plaintext and stores them AES-256-GCM encrypted; reads authenticate and decrypt. Callers
that name content themselves must use :meth:`ObjectStore.name`, never :func:`hash_bytes`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from blake3 import blake3

from ..errors import CorruptObject, NotFound, StoreUnavailable
from .backends import Backend, Stat, open_backend
from .streams import ObjectReader, Spool, chunks_of

HEX = set("0123456789abcdef")
DAMAGED = ".damaged"  # folder of markers: objects a reader or fsck found damaged
ADOPTED = ".adopted"  # remote stores: marks of objects a writer adopted (see ``collect``)
TOMB = ".gc-"  # an object gc moved aside while it re-checks that nothing adopted it
TMP = ".tmp-"
# On stores where refreshing an object's age costs a request, deduplicated writes
# refresh only objects older than this; gc never deletes younger than twice this there.
REFRESH_S = 300.0


def hash_bytes(data: bytes) -> str:
    return blake3(data).hexdigest()


def check_oid(oid: str) -> str:
    if not is_oid(oid):
        raise NotFound(f"{oid!r} is not an object id (64 hex characters)")
    return oid


def is_oid(name: str) -> bool:
    return len(name) == 64 and set(name) <= HEX


class ObjectStore:
    """Immutable blobs under one root, local folder or any fsspec URL."""

    def __init__(self, url: str, referrers: Callable[[str], list[str]] | None = None,
                 durable: bool = False) -> None:
        self.url = url
        self._referrers = referrers or (lambda oid: [])
        self.backend: Backend = open_backend(url, durable=durable)
        self._local = self.backend.local
        self.root = self.backend.root
        self.fs: Any = self.backend.fs  # the fsspec filesystem (None for a local folder)
        self._damaged_cache: tuple[float, set[str]] = (0.0, set())
        self.cipher: Any = None  # a crypto.Cipher once an encrypted store is opened with its key

    @property
    def local(self) -> bool:
        return self._local

    # -- naming and encryption -------------------------------------------------
    @property
    def encrypted(self) -> bool:
        return self.cipher is not None

    def name(self, data: bytes) -> str:
        """The object id of ``data`` in this store (keyed when the store is encrypted)."""
        return hash_bytes(data) if self.cipher is None else self.cipher.name(data)

    def _hasher(self) -> Any:
        return blake3() if self.cipher is None else self.cipher.hasher()

    def stored_size(self, size: int) -> int:
        """How many bytes an object of ``size`` plaintext bytes takes in this store."""
        return size if self.cipher is None else size + self.cipher.overhead

    def _seal(self, oid: str, data: bytes) -> bytes:
        return data if self.cipher is None else self.cipher.encrypt(oid, data)

    def _open(self, oid: str, blob: bytes) -> bytes | None:
        """The plaintext of stored bytes, or None when they are not authentic."""
        if self.cipher is None:
            return blob if hash_bytes(blob) == oid else None
        return self.cipher.decrypt(oid, blob)

    def read_marker(self) -> bytes | None:
        from .crypto import MARKER

        return self.read_file(MARKER)

    def read_file(self, name: str) -> bytes | None:
        """A small file at the root (the encryption marker, the rekey journal), None if absent."""
        try:
            return self.backend.read_bytes(f"{self.root}/{name}")
        except (FileNotFoundError, NotADirectoryError):  # no marker, or no objects folder at all
            return None

    def write_marker(self, data: bytes, name: str | None = None) -> None:
        from .crypto import MARKER

        self.backend.write_bytes(f"{self.root}/{name or MARKER}", data, readonly=False)

    # -- paths ---------------------------------------------------------------
    def path(self, oid: str) -> str:
        return f"{self.root}/{oid[:2]}/{oid[2:]}"

    # -- write ---------------------------------------------------------------
    def put(self, data: bytes) -> str:
        """Store ``data``; return its oid. Storing existing content refreshes (and repairs) it."""
        oid = self.name(data)
        self.put_with_oid(oid, data)
        return oid

    def put_with_oid(self, oid: str, data: bytes) -> None:
        """Store bytes whose id (:meth:`name`) the caller already computed."""
        path = self.path(oid)
        try:
            state = self._dedup(oid, path, len(data))
            if state == "adopted":
                return
            self.backend.write_bytes(path, self._seal(oid, data))
            if state == "replace":  # the writer's bytes are healthy: they replaced a damaged copy
                self.unmark_damaged(oid)
        except OSError as e:
            raise self._unwritable(oid, e) from e

    def _unwritable(self, oid: str, e: OSError) -> StoreUnavailable:
        return StoreUnavailable(
            f"cannot write object {oid[:12]} to {self.url}: {e.strerror or e}; "
            "check that the workspace is writable and the disk is not full"
        )

    def _dedup(self, oid: str, path: str, size: int | None) -> str:
        """``absent`` (write it), ``replace`` (a damaged copy is stored: write over it) or
        ``adopted`` (a sound copy is stored, and now young in gc's eyes)."""
        try:
            st = self.backend.stat(path)
        except FileNotFoundError:
            return "absent"
        if (size is not None and st.size != self.stored_size(size)) or self._damaged(oid):
            return "replace"
        return "adopted" if self._adopt(oid, path, st) else "absent"

    def _adopt(self, oid: str, path: str, st: Stat) -> bool:
        """Make a stored object young for gc; False if it must be written anew (gc has it
        aside, or it is another user's read-only file)."""
        if not self.backend.atomic_rename:
            if time.time() - st.mtime <= REFRESH_S:
                return True
            try:  # the mark first: a gc deleting it meanwhile sees the mark and puts it back
                self.backend.write_bytes(f"{self.root}/{ADOPTED}/{oid}", b"", readonly=False)
            except OSError:
                pass
        try:
            self.backend.touch(path)
        except (FileNotFoundError, PermissionError):
            return False
        return True

    def put_stream(self, source: Any, oid: str | None = None) -> str:
        """Store the bytes of ``source`` (a binary file object, or an iterable of bytes chunks)
        without holding them whole in memory; return the object id.

        With ``oid`` (copying an object between stores) the bytes are written straight to
        their final name and must hash to it: otherwise nothing is stored and
        :class:`CorruptObject` is raised. Without it, a local store writes a temporary file
        while hashing and renames it into place; a remote or an encrypted store first spools
        the stream to a local temporary file (the name is the hash), then writes it once.
        """
        try:
            if oid is not None:
                return self._put_stream_as(check_oid(oid), chunks_of(source), None)
            if self.cipher is None:
                return self._put_stream_plain(chunks_of(source))
            spool = Spool(secret=True)
            try:
                h = self._hasher()
                for piece in chunks_of(source):
                    h.update(piece)
                    spool.write(piece)
                return self._put_stream_as(h.hexdigest(), iter(spool.chunks()), spool.size)
            finally:
                spool.close()
        except OSError as e:
            raise self._unwritable(oid or "(stream)", e) from e

    def put_file(self, path: str) -> str:
        """Store the local file ``path``, streamed; return the object id."""
        with open(path, "rb") as f:
            return self.put_stream(f)

    def _put_stream_plain(self, chunks: Iterator[bytes]) -> str:
        w = self.backend.writer(None)  # local: a temporary file; remote: a local spool
        h, size = blake3(), 0
        try:
            for piece in chunks:
                h.update(piece)
                w.write(piece)
                size += len(piece)
            oid = h.hexdigest()
            state = self._dedup(oid, self.path(oid), size)
            if state == "adopted":
                w.abort()
                return oid
        except BaseException:
            w.abort()
            raise
        w.commit(self.path(oid))
        if state == "replace":
            self.unmark_damaged(oid)
        return oid

    def _put_stream_as(self, oid: str, chunks: Iterator[bytes], size: int | None) -> str:
        path = self.path(oid)
        state = self._dedup(oid, path, size)
        if state == "adopted":
            return oid
        w = self.backend.writer(path, size_hint=None if size is None else self.stored_size(size))
        h = self._hasher()
        try:
            enc = None
            if self.cipher is not None:
                header, enc = self.cipher.stream_encryptor(oid)
                w.write(header)
            for piece in chunks:
                h.update(piece)
                w.write(piece if enc is None else enc.update(piece))
            if enc is not None:
                w.write(enc.finalize() + enc.tag)
            if h.hexdigest() != oid:
                raise CorruptObject(oid, [], "the streamed bytes do not hash to the id they were stored under")
        except BaseException:
            w.abort()
            raise
        w.commit()
        if state == "replace":
            self.unmark_damaged(oid)
        return oid

    def copy_to(self, oid: str, other: ObjectStore) -> None:
        """Stream ``oid`` into the store ``other`` (verified on both sides; same naming key)."""
        with self.open(oid) as r:
            other.put_stream(r, oid=oid)

    def refresh(self, objects: Iterable[tuple[str, int | None]]) -> bool:
        """Mark stored objects, given as (oid, expected size), as just used: a writer
        adopts them without writing (a cache hit).

        Returns False if one is missing, has another size or is marked damaged: the
        caller then writes it again, which repairs it.
        """
        for oid, size in objects:
            path = self.path(oid)
            try:
                if size is None and self._local:  # (a local folder: utime itself says whether the file is there)
                    if self.is_marked_damaged(oid):
                        return False
                    try:
                        self.backend.touch(path)
                        continue
                    except PermissionError:  # another user's file: below, our own copy is stored
                        pass
                st = self.backend.stat(path)
                if (size is not None and st.size != self.stored_size(size)) or self.is_marked_damaged(oid):
                    return False
                if not self._adopt(oid, path, st):  # another user's file: store our own copy (same bytes)
                    self.backend.write_bytes(path, self._seal(oid, self.get(oid)))
            except (OSError, CorruptObject):
                return False
        return True

    # -- read ----------------------------------------------------------------
    def exists(self, oid: str) -> bool:
        return self.backend.exists(self.path(check_oid(oid)))

    def get(self, oid: str, verify: bool = True) -> bytes:
        """Return the (plaintext) bytes of ``oid``; raise CorruptObject if they are not authentic.

        An encrypted store always authenticates (AES-GCM); ``verify=False`` skips only the
        hash check of a plain store."""
        path = self.path(check_oid(oid))
        try:
            data = self.backend.read_bytes(path)
        except FileNotFoundError:
            raise CorruptObject(oid, self._referrers(oid), "it is missing", missing=True) from None
        if self.cipher is not None:
            plain = self.cipher.decrypt(oid, data)
            if plain is None:
                raise self._corrupt(oid)
            return plain
        if verify and hash_bytes(data) != oid:
            raise self._corrupt(oid)
        return data

    def _corrupt(self, oid: str) -> CorruptObject:
        self.mark_damaged(oid)  # the next writer with the right bytes repairs it
        if self.cipher is not None:
            return CorruptObject(oid, self._referrers(oid),
                                 "it fails authentication (tampered with, or encrypted under another key)")
        return CorruptObject(oid, self._referrers(oid), "its content does not match its hash")

    def open(self, oid: str, verify: bool = True) -> IO[bytes]:
        """A binary reader of the (plaintext) bytes of ``oid``, streamed.

        The check comes at the end: reading the last bytes raises :class:`CorruptObject`
        (and marks the object damaged) if they were not authentic. A missing object raises
        :class:`CorruptObject` here. Close it (``with store.open(oid) as f``)."""
        path = self.path(check_oid(oid))
        try:
            raw = self.backend.open_read(path)
        except FileNotFoundError:
            raise CorruptObject(oid, self._referrers(oid), "it is missing", missing=True) from None
        return ObjectReader(self._plain_chunks(oid, raw, verify), raw.close)  # type: ignore[return-value]

    def _plain_chunks(self, oid: str, raw: IO[bytes], verify: bool) -> Iterator[bytes]:
        if self.cipher is None:
            h = blake3()
            for piece in chunks_of(raw):
                if verify:
                    h.update(piece)
                yield piece
            if verify and h.hexdigest() != oid:
                raise self._corrupt(oid)
            return
        from cryptography.exceptions import InvalidTag

        from .crypto import MAGIC, NONCE, TAG

        header = raw.read(len(MAGIC) + NONCE)
        dec = self.cipher.stream_decryptor(oid, header)
        if dec is None:
            raise self._corrupt(oid)
        tail = b""
        for piece in chunks_of(raw):
            data = tail + piece if tail else piece
            tail = data[-TAG:]
            if len(data) > TAG:
                yield dec.update(data[:-TAG])
        try:
            if len(tail) < TAG:
                raise InvalidTag()
            last = dec.finalize_with_tag(tail)
        except InvalidTag:
            raise self._corrupt(oid) from None
        if last:
            yield last

    def _read(self, path: str) -> bytes:
        return self.backend.read_bytes(path)

    def _damaged(self, oid: str) -> bool:
        """Marked damaged and still damaged (a stale mark is cleared, so it costs one check)."""
        if not self.is_marked_damaged(oid):
            return False
        if self._sound(oid):
            self.unmark_damaged(oid)
            return False
        return True

    def _sound(self, oid: str) -> bool:
        try:
            return self._open(oid, self.backend.read_bytes(self.path(oid))) is not None
        except OSError:
            return False

    def verify(self, oid: str) -> str | None:
        """Return None if the object is sound, else a short reason (read as a stream)."""
        try:
            with self.open(oid) as r:
                for _ in r.iter_chunks():  # type: ignore[attr-defined]
                    pass
        except CorruptObject as e:
            if e.missing:
                return "missing"
            return "fails authentication" if self.cipher is not None else "hash mismatch"
        except FileNotFoundError:  # deleted while being read
            return "missing"
        return None

    def mtime(self, oid: str) -> float | None:
        """When the object was last written or adopted (None: missing)."""
        return self.file_mtime(self.path(oid))

    def file_mtime(self, path: str) -> float | None:
        try:
            return self.backend.stat(path).mtime
        except (OSError, NotImplementedError, ValueError):
            return None

    def _age(self, path: str) -> float:
        m = self.file_mtime(path)
        return float("inf") if m is None else time.time() - m

    # -- damaged markers -----------------------------------------------------
    def _marker(self, oid: str) -> str:
        return f"{self.root}/{DAMAGED}/{oid}"

    def mark_damaged(self, oid: str) -> None:
        try:
            self.backend.write_bytes(self._marker(oid), b"", readonly=False)
            self._damaged_cache = (0.0, set())
        except Exception:  # best effort: a read-only store just cannot remember it
            pass

    def unmark_damaged(self, oid: str) -> None:
        try:
            self.backend.remove(self._marker(oid))
            self._damaged_cache = (0.0, set())
        except Exception:
            pass

    def is_marked_damaged(self, oid: str) -> bool:
        if self._local:
            return self.backend.exists(self._marker(oid))
        at, marked = self._damaged_cache  # one listing per half minute, not one request per write
        if time.time() - at > 30:
            try:
                marked = set(self.backend.listdir(f"{self.root}/{DAMAGED}"))
            except OSError:
                marked = set()
            self._damaged_cache = (time.time(), marked)
        return oid in marked

    # -- enumerate / delete --------------------------------------------------
    def __iter__(self) -> Iterator[str]:
        """Every stored object id."""
        for kind, oid, _path in self.scan():
            if kind == "object":
                yield oid

    def leftovers(self) -> Iterator[tuple[str, str, str]]:
        """What :meth:`scan` finds besides objects: temporaries, objects set aside, stray files."""
        return (entry for entry in self.scan() if entry[0] != "object")

    def scan(self) -> Iterator[tuple[str, str, str]]:
        """Every file under the root as (kind, oid or "", path).

        kind is ``object``, ``temporary`` (a writer died before renaming), ``tomb`` (gc
        died while re-checking an object; ``oid`` says which) or ``stray`` (not ours:
        ``.DS_Store``, an editor backup... left alone and reported).
        """
        for path in self.backend.files():
            rel = path[len(self.root):].lstrip("/")
            parts = rel.split("/")
            if parts[0] in (DAMAGED, ADOPTED) or (len(parts) == 1 and parts[0].startswith(".nbtrack-")):
                continue  # damage and adoption marks; the encryption marker and rekey journal
            if len(parts) == 1 and parts[0].startswith(TMP):
                yield "temporary", "", path  # a streamed write that died before it knew its name
                continue
            if len(parts) == 2 and len(parts[0]) == 2 and set(parts[0]) <= HEX:
                shard, name = parts
                if name.startswith(TMP):
                    yield "temporary", "", path
                    continue
                if name.startswith(TOMB) and is_oid(shard + name[len(TOMB):len(TOMB) + 62]):
                    yield "tomb", shard + name[len(TOMB):len(TOMB) + 62], path
                    continue
                if is_oid(shard + name):
                    yield "object", shard + name, path
                    continue
            yield "stray", "", path

    def is_empty(self) -> bool:
        return next(iter(self), None) is None

    def size(self, oid: str) -> int:
        return self.backend.stat(self.path(oid)).size

    def file_size(self, path: str) -> int:
        try:
            return self.backend.stat(path).size
        except OSError:
            return 0

    def delete(self, oid: str) -> None:
        path = self.path(check_oid(oid))
        self.remove_file(path)

    def remove_file(self, path: str) -> None:
        self.backend.remove(path)

    def collect(self, oid: str, cutoff: float, referenced: Callable[[str], bool]) -> bool:
        """Delete ``oid`` unless it was adopted since gc looked (True if deleted).

        The object is first set aside under a tomb name (locally an atomic rename; on an
        object store a server-side copy, then the delete): a writer adopting it from then
        on finds no object and writes it anew. Only then are its age (``cutoff``), its
        adoption and its references checked again; if any says "in use", it is put back.
        Locally a writer's adoption is the object's mtime (the tomb keeps it). On an object
        store a writer adopting an object that gc could take (older than :data:`REFRESH_S`)
        first writes an adoption mark (``<root>/.adopted/<oid>``), then touches the object:
        if the touch came before the delete, the mark is there when gc looks after it.
        """
        path = self.path(check_oid(oid))
        tomb = f"{path.rsplit('/', 1)[0]}/{TOMB}{oid[2:]}-{uuid.uuid4().hex[:8]}"
        if not self.backend.atomic_rename:
            m = self.mtime(oid)
            if m is None or m > cutoff or referenced(oid):
                return False
        try:
            self.backend.set_aside(path, tomb)
        except FileNotFoundError:
            return False
        try:
            if self.backend.atomic_rename:
                keep = self.backend.stat(tomb).mtime > cutoff or referenced(oid)
            else:
                keep = self._adopted_since(oid, cutoff) or referenced(oid)
        except BaseException:
            self.backend.restore(tomb, path)
            raise
        if keep:
            self.backend.restore(tomb, path)
            return False
        self.backend.remove(tomb)
        return not self.backend.exists(path)  # False: a writer stored it anew meanwhile

    def _adopted_since(self, oid: str, cutoff: float) -> bool:
        m = self.file_mtime(f"{self.root}/{ADOPTED}/{oid}")
        return m is not None and m > cutoff

    def prune_adoptions(self, cutoff: float) -> int:
        """Remove adoption marks older than ``cutoff`` (gc, at its end); how many."""
        folder = f"{self.root}/{ADOPTED}"
        n = 0
        for name in self.backend.listdir(folder):
            m = self.file_mtime(f"{folder}/{name}")
            if m is not None and m <= cutoff:
                self.backend.remove(f"{folder}/{name}")
                n += 1
        return n

    def restore_tomb(self, oid: str, tomb: str) -> bool:
        """Put back an object a crashed gc left aside, if it is sound (True if restored)."""
        try:
            if self._open(oid, self.backend.read_bytes(tomb)) is None:
                return False
            self.backend.restore(tomb, self.path(oid))
            return True
        except OSError:
            return False
