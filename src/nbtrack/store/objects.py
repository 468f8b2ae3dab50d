"""Content-addressed, immutable objects named by the hex BLAKE3 of their bytes.

Layout: ``<root>/ab/cdef...``. Writes go to a temporary name in the target folder
and are renamed into place, so a crash never leaves a half object under a real
name. Reads verify the hash unless the caller explicitly opts out.

Storing content that already exists is cheap but not blind:

* it refreshes the object's age (``os.utime`` locally; a re-write on other stores
  when the object is older than :data:`REFRESH_S`), so ``gc``, which only deletes
  unreferenced objects older than its ``--min-age``, never takes an object a run
  just adopted and is about to commit (see :meth:`ObjectStore.collect`);
* it repairs a damaged copy: when the stored size differs, or a reader or ``fsck``
  marked the object damaged (``<root>/.damaged/<oid>``), the writer's healthy bytes
  replace it.

An encrypted store (see :mod:`.crypto`) names objects by the keyed BLAKE3 of their
plaintext and stores them AES-256-GCM encrypted; reads authenticate and decrypt. Callers
that name content themselves must use :meth:`ObjectStore.name`, never :func:`hash_bytes`.

The local filesystem takes a direct path (``os.replace``); any other fsspec URL
(``s3://``, ``memory://``...) goes through fsspec.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import timezone
from typing import Any

from blake3 import blake3

from ..errors import CorruptObject, NotFound, StoreUnavailable

HEX = set("0123456789abcdef")
DAMAGED = ".damaged"  # folder of markers: objects a reader or fsck found damaged
TOMB = ".gc-"  # an object gc moved aside while it re-checks that nothing adopted it
TMP = ".tmp-"
# On stores where refreshing an object's age costs a re-upload, deduplicated writes
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

    def __init__(self, url: str, referrers: Callable[[str], list[str]] | None = None) -> None:
        self.url = url
        self._referrers = referrers or (lambda oid: [])
        self._local = "://" not in url or url.startswith("file://")
        self._known_dirs: set[str] = set()
        self._damaged_cache: tuple[float, set[str]] = (0.0, set())
        self.cipher: Any = None  # a crypto.Cipher once an encrypted store is opened with its key
        if self._local:
            self.root = url[len("file://"):] if url.startswith("file://") else url
            self.fs: Any = None
        else:
            import fsspec

            try:
                self.fs, self.root = fsspec.core.url_to_fs(url)
            except ImportError as e:  # s3fs (or gcsfs...) not installed
                from ..errors import missing_extra

                raise (missing_extra(e) or e) from e

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
            return self._read(f"{self.root}/{name}")
        except (FileNotFoundError, NotADirectoryError):  # no marker, or no objects folder at all
            return None

    def write_marker(self, data: bytes, name: str | None = None) -> None:
        from .crypto import MARKER

        path = f"{self.root}/{name or MARKER}"
        if self._local:
            os.makedirs(self.root, exist_ok=True)
            tmp = f"{self.root}/{TMP}{uuid.uuid4().hex}"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        else:
            self.fs.pipe_file(path, data)

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
            if self._local:
                self._put_local(oid, path, data)
            else:
                self._put_fsspec(oid, path, data)
        except OSError as e:
            raise StoreUnavailable(
                f"cannot write object {oid[:12]} to {self.url}: {e.strerror or e}; "
                "check that the workspace is writable and the disk is not full"
            ) from e

    def _put_local(self, oid: str, path: str, data: bytes) -> None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return self._write_local(path, self._seal(oid, data))
        if st.st_size != self.stored_size(len(data)) or self._damaged(oid):
            self._write_local(path, self._seal(oid, data))  # the writer's bytes are healthy: replace the damaged copy
            self.unmark_damaged(oid)
            return
        try:
            os.utime(path)  # adopted again: young in gc's eyes (see ``collect``)
        except FileNotFoundError:  # gc moved it aside meanwhile: store it anew
            self._write_local(path, self._seal(oid, data))
        except PermissionError:  # another user's read-only file in a shared workspace
            self._write_local(path, self._seal(oid, data))

    def _write_local(self, path: str, data: bytes) -> None:
        parent = os.path.dirname(path)
        if parent not in self._known_dirs:
            os.makedirs(parent, exist_ok=True)
            self._known_dirs.add(parent)
        tmp = f"{parent}/{TMP}{uuid.uuid4().hex}"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o444)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def _put_fsspec(self, oid: str, path: str, data: bytes) -> None:
        try:
            info = self.fs.info(path)
        except FileNotFoundError:
            return self._write_fsspec(path, self._seal(oid, data))
        damaged = info.get("size") != self.stored_size(len(data)) or self._damaged(oid)
        if damaged or self._age(path) > REFRESH_S:  # a re-write is the only portable "touch"
            self._write_fsspec(path, self._seal(oid, data))
            if damaged:
                self.unmark_damaged(oid)

    def _write_fsspec(self, path: str, data: bytes) -> None:
        parent = path.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        tmp = f"{parent}/{TMP}{uuid.uuid4().hex}"
        self.fs.pipe_file(tmp, data)
        try:
            self.fs.mv(tmp, path)
        except BaseException:
            try:
                self.fs.rm(tmp)
            except Exception:
                pass
            raise

    def refresh(self, objects: Iterable[tuple[str, int | None]]) -> bool:
        """Mark stored objects, given as (oid, expected size), as just used: a writer
        adopts them without writing (a cache hit).

        Returns False if one is missing, has another size or is marked damaged: the
        caller then writes it again, which repairs it.
        """
        for oid, size in objects:
            path = self.path(oid)
            size = None if size is None else self.stored_size(size)
            try:
                if self._local:
                    st = os.stat(path)
                    if (size is not None and st.st_size != size) or self.is_marked_damaged(oid):
                        return False
                    os.utime(path)
                else:
                    info = self.fs.info(path)
                    if (size is not None and info.get("size") != size) or self.is_marked_damaged(oid):
                        return False
                    if self._age(path) > REFRESH_S:
                        self._write_fsspec(path, self._seal(oid, self.get(oid)))
            except PermissionError:  # another user's file: store our own copy (same bytes)
                try:
                    if not self._local:
                        return False
                    self._write_local(path, self._seal(oid, self.get(oid)))
                except (OSError, CorruptObject):
                    return False
            except (OSError, CorruptObject):
                return False
        return True

    # -- read ----------------------------------------------------------------
    def exists(self, oid: str) -> bool:
        path = self.path(check_oid(oid))
        return os.path.exists(path) if self._local else self.fs.exists(path)

    def get(self, oid: str, verify: bool = True) -> bytes:
        """Return the (plaintext) bytes of ``oid``; raise CorruptObject if they are not authentic.

        An encrypted store always authenticates (AES-GCM); ``verify=False`` skips only the
        hash check of a plain store."""
        path = self.path(check_oid(oid))
        try:
            data = self._read(path)
        except FileNotFoundError:
            raise CorruptObject(oid, self._referrers(oid), "it is missing") from None
        if self.cipher is not None:
            plain = self.cipher.decrypt(oid, data)
            if plain is None:
                self.mark_damaged(oid)
                raise CorruptObject(oid, self._referrers(oid),
                                    "it fails authentication (tampered with, or encrypted under another key)")
            return plain
        if verify and hash_bytes(data) != oid:
            self.mark_damaged(oid)  # the next writer with the right bytes repairs it
            raise CorruptObject(oid, self._referrers(oid), "its content does not match its hash")
        return data

    def _read(self, path: str) -> bytes:
        if self._local:
            with open(path, "rb") as f:
                return f.read()
        return self.fs.cat_file(path)

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
            return self._open(oid, self._read(self.path(oid))) is not None
        except OSError:
            return False

    def verify(self, oid: str) -> str | None:
        """Return None if the object is sound, else a short reason."""
        try:
            self.get(oid)
        except CorruptObject as e:
            if "missing" in e.message:
                return "missing"
            return "fails authentication" if self.cipher is not None else "hash mismatch"
        return None

    def mtime(self, oid: str) -> float | None:
        """When the object was last written or adopted (None: unknown or missing)."""
        return self.file_mtime(self.path(oid))

    def file_mtime(self, path: str) -> float | None:
        try:
            if self._local:
                return os.stat(path).st_mtime
            m = self.fs.modified(path)
            return (m if m.tzinfo else m.replace(tzinfo=timezone.utc)).timestamp()
        except (OSError, NotImplementedError, AttributeError, ValueError):
            return None

    def _age(self, path: str) -> float:
        m = self.file_mtime(path)
        return float("inf") if m is None else time.time() - m

    # -- damaged markers -----------------------------------------------------
    def _marker(self, oid: str) -> str:
        return f"{self.root}/{DAMAGED}/{oid}"

    def mark_damaged(self, oid: str) -> None:
        try:
            if self._local:
                os.makedirs(f"{self.root}/{DAMAGED}", exist_ok=True)
                open(self._marker(oid), "w").close()
            else:
                self.fs.pipe_file(self._marker(oid), b"")
                self._damaged_cache = (0.0, set())
        except Exception:  # best effort: a read-only store just cannot remember it
            pass

    def unmark_damaged(self, oid: str) -> None:
        try:
            if self._local:
                os.unlink(self._marker(oid))
            else:
                self.fs.rm(self._marker(oid))
                self._damaged_cache = (0.0, set())
        except Exception:
            pass

    def is_marked_damaged(self, oid: str) -> bool:
        if self._local:
            return os.path.exists(self._marker(oid))
        at, marked = self._damaged_cache  # one listing per half minute, not one request per write
        if time.time() - at > 30:
            try:
                marked = {p.rsplit("/", 1)[-1] for p in self.fs.ls(f"{self.root}/{DAMAGED}", detail=False)}
            except (FileNotFoundError, OSError):
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
        for path in self._files():
            rel = path[len(self.root):].lstrip("/")
            parts = rel.split("/")
            if parts[0] == DAMAGED or (len(parts) == 1 and parts[0].startswith(".nbtrack-")):
                continue  # damage marks; the encryption marker and rekey journal
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

    def _files(self) -> Iterator[str]:
        if self._local:
            for dirpath, dirnames, filenames in os.walk(self.root):  # lazily: a store may hold millions
                dirnames.sort()
                yield from (f"{dirpath}/{n}" for n in sorted(filenames))
        elif self.fs.exists(self.root):
            yield from sorted(p.rstrip("/") for p in self.fs.find(self.root))

    def size(self, oid: str) -> int:
        path = self.path(oid)
        return os.path.getsize(path) if self._local else self.fs.size(path)

    def file_size(self, path: str) -> int:
        try:
            return os.path.getsize(path) if self._local else self.fs.size(path)
        except (OSError, FileNotFoundError):
            return 0

    def delete(self, oid: str) -> None:
        path = self.path(check_oid(oid))
        self.remove_file(path)

    def remove_file(self, path: str) -> None:
        if self._local:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        else:
            try:
                self.fs.rm(path)
            except FileNotFoundError:
                pass

    def collect(self, oid: str, cutoff: float, referenced: Callable[[str], bool]) -> bool:
        """Delete ``oid`` unless it was adopted since gc looked (True if deleted).

        Locally the object is first renamed aside, atomically: a writer adopting it
        from then on finds no file and writes it anew, and one that adopted it just
        before left a fresh mtime on it. Only then are its age (``cutoff``) and its
        references checked again; if either says "in use", it is put back.
        On other stores the re-check happens right before the delete (a remote store
        has no atomic rename; its writers refresh objects older than :data:`REFRESH_S`).
        """
        path = self.path(check_oid(oid))
        if not self._local:
            m = self.mtime(oid)
            if m is None or m > cutoff or referenced(oid):
                return False
            self.remove_file(path)
            return True
        tomb = f"{os.path.dirname(path)}/{TOMB}{oid[2:]}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(path, tomb)
        except FileNotFoundError:
            return False
        try:
            keep = os.stat(tomb).st_mtime > cutoff or referenced(oid)
        except BaseException:
            self._restore(tomb, path)
            raise
        if keep:
            self._restore(tomb, path)
            return False
        os.unlink(tomb)
        return not os.path.exists(path)  # False: a writer stored it anew meanwhile

    def _restore(self, tomb: str, path: str) -> None:
        try:
            os.link(tomb, path)  # never over a copy a writer stored meanwhile
        except FileExistsError:
            pass
        os.unlink(tomb)

    def restore_tomb(self, oid: str, tomb: str) -> bool:
        """Put back an object a crashed gc left aside, if it is sound (True if restored)."""
        try:
            if self._open(oid, self._read(tomb)) is None:
                return False
            if self._local:
                self._restore(tomb, self.path(oid))
            else:
                self.fs.mv(tomb, self.path(oid))
            return True
        except OSError:
            return False
