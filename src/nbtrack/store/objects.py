"""Content-addressed, immutable objects named by the hex BLAKE3 of their bytes.

Layout: ``<root>/ab/cdef...``. Writes go to a temporary name in the target folder
and are renamed into place, so a crash never leaves a half object under a real
name. Reads verify the hash unless the caller explicitly opts out.

The local filesystem takes a direct path (``os.replace``); any other fsspec URL
(``s3://``, ``memory://``...) goes through fsspec.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from blake3 import blake3

from ..errors import CorruptObject, NotFound, StoreUnavailable

HEX = set("0123456789abcdef")


def hash_bytes(data: bytes) -> str:
    return blake3(data).hexdigest()


def check_oid(oid: str) -> str:
    if len(oid) != 64 or not set(oid) <= HEX:
        raise NotFound(f"{oid!r} is not an object id (64 hex characters)")
    return oid


class ObjectStore:
    """Immutable blobs under one root, local folder or any fsspec URL."""

    def __init__(self, url: str, referrers: Callable[[str], list[str]] | None = None) -> None:
        self.url = url
        self._referrers = referrers or (lambda oid: [])
        self._local = "://" not in url or url.startswith("file://")
        self._known_dirs: set[str] = set()
        if self._local:
            self.root = url[len("file://"):] if url.startswith("file://") else url
            self.fs: Any = None
        else:
            import fsspec

            self.fs, self.root = fsspec.core.url_to_fs(url)

    # -- paths ---------------------------------------------------------------
    def path(self, oid: str) -> str:
        return f"{self.root}/{oid[:2]}/{oid[2:]}"

    # -- write ---------------------------------------------------------------
    def put(self, data: bytes) -> str:
        """Store ``data``; return its oid. Storing existing content is a no-op."""
        oid = hash_bytes(data)
        self.put_with_oid(oid, data)
        return oid

    def put_with_oid(self, oid: str, data: bytes) -> None:
        """Store bytes whose hash the caller already computed."""
        path = self.path(oid)
        try:
            if self._local:
                self._put_local(path, data)
            else:
                self._put_fsspec(path, data)
        except OSError as e:
            raise StoreUnavailable(
                f"cannot write object {oid[:12]} to {self.url}: {e.strerror or e}; "
                "check that the workspace is writable and the disk is not full"
            ) from e

    def _put_local(self, path: str, data: bytes) -> None:
        if os.path.exists(path):
            return
        parent = os.path.dirname(path)
        if parent not in self._known_dirs:
            os.makedirs(parent, exist_ok=True)
            self._known_dirs.add(parent)
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
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

    def _put_fsspec(self, path: str, data: bytes) -> None:
        if self.fs.exists(path):
            return
        parent = path.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        self.fs.pipe_file(tmp, data)
        try:
            self.fs.mv(tmp, path)
        except BaseException:
            try:
                self.fs.rm(tmp)
            except Exception:
                pass
            raise

    # -- read ----------------------------------------------------------------
    def exists(self, oid: str) -> bool:
        path = self.path(check_oid(oid))
        return os.path.exists(path) if self._local else self.fs.exists(path)

    def get(self, oid: str, verify: bool = True) -> bytes:
        """Return the bytes of ``oid``; raise CorruptObject if they do not match."""
        path = self.path(check_oid(oid))
        try:
            if self._local:
                with open(path, "rb") as f:
                    data = f.read()
            else:
                data = self.fs.cat_file(path)
        except FileNotFoundError:
            raise CorruptObject(oid, self._referrers(oid), "it is missing") from None
        if verify and hash_bytes(data) != oid:
            raise CorruptObject(oid, self._referrers(oid), "its content does not match its hash")
        return data

    def verify(self, oid: str) -> str | None:
        """Return None if the object is sound, else a short reason."""
        try:
            self.get(oid)
        except CorruptObject as e:
            return "missing" if "missing" in e.message else "hash mismatch"
        return None

    # -- enumerate / delete --------------------------------------------------
    def __iter__(self) -> Iterator[str]:
        if self._local:
            if not os.path.isdir(self.root):
                return
            for shard in sorted(os.listdir(self.root)):
                d = os.path.join(self.root, shard)
                if len(shard) != 2 or not os.path.isdir(d):
                    continue
                for rest in sorted(os.listdir(d)):
                    if not rest.startswith(".tmp-"):
                        yield shard + rest
        else:
            if not self.fs.exists(self.root):
                return
            for p in sorted(self.fs.find(self.root)):
                shard, rest = p.rstrip("/").split("/")[-2:]
                if len(shard) == 2 and not rest.startswith(".tmp-"):
                    yield shard + rest

    def size(self, oid: str) -> int:
        path = self.path(oid)
        return os.path.getsize(path) if self._local else self.fs.size(path)

    def delete(self, oid: str) -> None:
        path = self.path(check_oid(oid))
        if self._local:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        else:
            self.fs.rm(path)

    def stale_temporaries(self) -> list[str]:
        """Temp files left by a writer that died before renaming (safe to delete)."""
        out: list[str] = []
        if self._local and os.path.isdir(self.root):
            for shard in os.listdir(self.root):
                d = os.path.join(self.root, shard)
                if os.path.isdir(d):
                    out += [os.path.join(d, n) for n in os.listdir(d) if n.startswith(".tmp-")]
        return out
