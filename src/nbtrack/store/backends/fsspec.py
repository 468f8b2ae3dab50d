"""Any fsspec URL (``memory://``, ``gs://``, ...): each write is one call that stores the whole
file (atomic on object stores); a streamed write of a file whose name is not known yet is
spooled to a local temporary file first, then stored in one call."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any, BinaryIO

from .base import Backend, Stat, Writer

UPLOAD_PIECE = 8 << 20
SPOOL_DIR = os.environ.get("NBTRACK_SPOOL_DIR")  # where streamed writes wait for their name (default: $TMPDIR)


class DirectWriter(Writer):
    """Streams into the final name: the file appears when the upload completes, whole
    (for filesystems whose files can be abandoned: S3's ``discard`` aborts the upload)."""

    def __init__(self, backend: FsspecBackend, path: str) -> None:
        self.backend, self.path = backend, path
        backend.makedirs(path.rsplit("/", 1)[0])
        self.f: Any = backend.fs.open(path, "wb", **backend.open_options)

    def write(self, data: bytes | memoryview) -> None:
        self.f.write(data)

    def commit(self, path: str | None = None) -> None:
        if path is not None and path != self.path:
            raise ValueError(f"this writer writes {self.path}, not {path}")
        f, self.f = self.f, None
        f.close()

    def abort(self) -> None:
        f, self.f = self.f, None
        if f is None:
            return
        try:
            discard = getattr(f, "discard", None)  # s3fs: aborts the multipart upload
            if discard is not None:
                discard()
                f.closed = True
            else:  # cannot abandon it: let it land and remove it
                f.close()
                self.backend.remove(self.path)
        except Exception:
            pass


class SpoolWriter(Writer):
    """Spools to an anonymous local temporary file (gone with the process, however it ends);
    ``commit(path)`` uploads it to its final name."""

    def __init__(self, backend: FsspecBackend, path: str | None) -> None:
        self.backend, self.path = backend, path
        self.f: Any = tempfile.TemporaryFile(prefix="nbtrack-spool-", dir=SPOOL_DIR)

    def write(self, data: bytes | memoryview) -> None:
        self.f.write(data)

    def commit(self, path: str | None = None) -> None:
        path = path or self.path
        assert path is not None
        try:
            self.f.seek(0)
            self.backend.upload(self.f, path)
        finally:
            self.abort()

    def abort(self) -> None:
        self.f.close()


class FsspecBackend(Backend):
    open_options: dict = {}

    def __init__(self, url: str) -> None:
        import fsspec

        self.url = url
        try:
            # no listing cache: other processes write and delete here too
            self.fs, self.root = fsspec.core.url_to_fs(url, use_listings_cache=False)
        except ImportError as e:  # s3fs (or gcsfs...) not installed
            from ...errors import missing_extra

            raise (missing_extra(e) or e) from e
        self.root = self.root.rstrip("/")

    def makedirs(self, folder: str) -> None:
        self.fs.makedirs(folder, exist_ok=True)

    def read_bytes(self, path: str) -> bytes:
        return self.fs.cat_file(path)

    def open_read(self, path: str) -> BinaryIO:
        return self.fs.open(path, "rb")

    def stat(self, path: str) -> Stat:
        info = self.fs.info(path)
        if info.get("type") == "directory":
            raise FileNotFoundError(path)
        return Stat(int(info.get("size") or 0), self._mtime(path, info))

    def _mtime(self, path: str, info: dict) -> float:
        for key in ("LastModified", "mtime", "updated", "last_modified"):
            m = info.get(key)
            if m is not None:
                return _timestamp(m)
        return _timestamp(self.fs.modified(path))

    def files(self) -> Iterator[str]:
        if self.fs.exists(self.root):
            yield from sorted(p.rstrip("/") for p in self.fs.find(self.root))

    def listdir(self, folder: str) -> list[str]:
        try:
            return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(folder, detail=False))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def write_bytes(self, path: str, data: bytes, readonly: bool = True) -> None:
        self.makedirs(path.rsplit("/", 1)[0])
        self.fs.pipe_file(path, data)

    def writer(self, path: str | None, readonly: bool = True, size_hint: int | None = None) -> Writer:
        # a file an fsspec filesystem opens for writing may be visible before it is closed
        # (memory://) and may not be abandoned: spool, then store it whole in one call
        return SpoolWriter(self, path)

    def upload(self, source: BinaryIO, path: str) -> None:
        """Store the rest of ``source`` at ``path``, whole or (on failure) not at all."""
        w = DirectWriter(self, path)
        try:
            while piece := source.read(UPLOAD_PIECE):
                w.write(piece)
        except BaseException:
            w.abort()
            raise
        w.commit()

    def touch(self, path: str) -> None:
        # a re-write is the only portable "touch": streamed through a local spool, never whole in memory
        with self.open_read(path) as src:
            w = self.writer(path)
            try:
                while piece := src.read(UPLOAD_PIECE):
                    w.write(piece)
            except BaseException:
                w.abort()
                raise
        w.commit()

    def remove(self, path: str) -> None:
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            pass

    def set_aside(self, path: str, tomb: str) -> None:
        self.fs.copy(path, tomb)
        self.remove(path)

    def restore(self, tomb: str, path: str) -> None:
        if not self.exists(path):
            self.fs.copy(tomb, path)
        self.remove(tomb)


def _timestamp(m: Any) -> float:
    if isinstance(m, datetime):
        return (m if m.tzinfo else m.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(m, str):
        d = datetime.fromisoformat(m.replace("Z", "+00:00"))
        return (d if d.tzinfo else d.replace(tzinfo=timezone.utc)).timestamp()
    return float(m)
