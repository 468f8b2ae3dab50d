"""The interface of an object store's storage: files under one root, written atomically."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO


@dataclass(frozen=True)
class Stat:
    size: int
    mtime: float  # seconds since the epoch: when the file was last written or touched


class Writer:
    """One file being written: visible under its final name only after :meth:`commit`."""

    def write(self, data: bytes | memoryview) -> None:
        raise NotImplementedError

    def commit(self, path: str | None = None) -> None:
        """Make the bytes visible, whole, at ``path`` (default: the path given when opened)."""
        raise NotImplementedError

    def abort(self) -> None:
        """Drop what was written; nothing becomes visible. Safe to call twice."""
        raise NotImplementedError


class Backend:
    """Files under :attr:`root`. Every path argument is a full path under the root.

    Missing files raise :class:`FileNotFoundError` (never an error matched on its text).
    ``atomic_rename`` says whether :meth:`set_aside` is one atomic step: where it is not
    (object stores), writers leave an adoption mark for gc (see ``ObjectStore.collect``).
    """

    url: str
    root: str
    local: bool = False
    atomic_rename: bool = False
    fs: Any = None

    def check(self) -> None:
        """Raise a one-line error if the storage cannot be used (default: nothing to check)."""

    # -- read --
    def read_bytes(self, path: str) -> bytes:
        raise NotImplementedError

    def open_read(self, path: str) -> BinaryIO:
        raise NotImplementedError

    def stat(self, path: str) -> Stat:
        raise NotImplementedError

    def exists(self, path: str) -> bool:
        try:
            self.stat(path)
        except FileNotFoundError:
            return False
        return True

    def files(self) -> Iterator[str]:
        """Every file under the root, sorted, lazily where the storage allows."""
        raise NotImplementedError

    def listdir(self, folder: str) -> list[str]:
        """The names of the files in ``folder`` ([] if it does not exist)."""
        raise NotImplementedError

    # -- write --
    def write_bytes(self, path: str, data: bytes, readonly: bool = True) -> None:
        """Write ``data`` at ``path`` atomically (whole or not at all)."""
        w = self.writer(path, readonly=readonly)
        try:
            w.write(data)
        except BaseException:
            w.abort()
            raise
        w.commit()

    def writer(self, path: str | None, readonly: bool = True, size_hint: int | None = None) -> Writer:
        """A :class:`Writer` for ``path`` (None: the path is given to ``commit``, when known)."""
        raise NotImplementedError

    def touch(self, path: str) -> None:
        """Make ``path`` young (its mtime now) without changing it; FileNotFoundError if gone.
        (S3 objects of 5 GB or more are left as they are: see :mod:`.s3`.)"""
        raise NotImplementedError

    def remove(self, path: str) -> None:
        """Delete ``path``; a missing file is not an error."""
        raise NotImplementedError

    def set_aside(self, path: str, tomb: str) -> None:
        """Move ``path`` to ``tomb`` (FileNotFoundError if it is gone)."""
        raise NotImplementedError

    def restore(self, tomb: str, path: str) -> None:
        """Put ``tomb`` back at ``path`` unless a copy is there already; remove ``tomb``."""
        raise NotImplementedError


def parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else os.path.dirname(path)
