"""A local folder: temporary file in the target folder, then ``os.replace`` (atomic)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import BinaryIO

from .base import Backend, Stat, Writer

TMP = ".tmp-"


class LocalWriter(Writer):
    def __init__(self, backend: LocalBackend, path: str | None, readonly: bool, fsync: bool) -> None:
        self.backend, self.path, self.readonly, self.fsync = backend, path, readonly, fsync
        folder = os.path.dirname(path) if path else backend.root
        backend.makedirs(folder)
        self.tmp = f"{folder}/{TMP}{uuid.uuid4().hex}"
        self.f: BinaryIO | None = open(self.tmp, "wb")

    def write(self, data: bytes | memoryview) -> None:
        assert self.f is not None
        self.f.write(data)

    def commit(self, path: str | None = None) -> None:
        path = path or self.path
        assert self.f is not None and path is not None
        try:
            if self.fsync:
                self.f.flush()
                os.fsync(self.f.fileno())
            self.f.close()
            self.f = None
            if self.readonly:
                os.chmod(self.tmp, 0o444)
            folder = os.path.dirname(path)
            if not self.path and os.path.dirname(self.tmp) != folder:
                self.backend.makedirs(folder)
            os.replace(self.tmp, path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        if self.f is not None:
            self.f.close()
            self.f = None
        try:
            os.unlink(self.tmp)
        except OSError:
            pass


class LocalBackend(Backend):
    local = True
    atomic_rename = True

    def __init__(self, root: str, durable: bool = False) -> None:
        self.url = root
        self.root = root
        self.durable = durable  # fsync every object before renaming it into place
        self._known_dirs: set[str] = set()

    def makedirs(self, folder: str) -> None:
        if folder not in self._known_dirs:
            os.makedirs(folder, exist_ok=True)
            self._known_dirs.add(folder)

    def read_bytes(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def open_read(self, path: str) -> BinaryIO:
        return open(path, "rb")

    def stat(self, path: str) -> Stat:
        st = os.stat(path)
        return Stat(st.st_size, st.st_mtime)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def files(self) -> Iterator[str]:
        for dirpath, dirnames, filenames in os.walk(self.root):  # lazily: a store may hold millions
            dirnames.sort()
            yield from (f"{dirpath}/{n}" for n in sorted(filenames))

    def listdir(self, folder: str) -> list[str]:
        try:
            return sorted(os.listdir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def write_bytes(self, path: str, data: bytes, readonly: bool = True) -> None:
        # the hot path of every snapshot chunk: one open, one write, one rename
        parent = os.path.dirname(path)
        self.makedirs(parent)
        tmp = f"{parent}/{TMP}{uuid.uuid4().hex}"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                if self.durable:
                    f.flush()
                    os.fsync(f.fileno())
            if readonly:
                os.chmod(tmp, 0o444)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def writer(self, path: str | None, readonly: bool = True, size_hint: int | None = None) -> Writer:
        return LocalWriter(self, path, readonly, fsync=True)  # streamed objects are large: always fsynced

    def touch(self, path: str) -> None:
        os.utime(path)

    def remove(self, path: str) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    def set_aside(self, path: str, tomb: str) -> None:
        os.rename(path, tomb)

    def restore(self, tomb: str, path: str) -> None:
        try:
            os.link(tomb, path)  # never over a copy a writer stored meanwhile
        except FileExistsError:
            pass
        os.unlink(tomb)
