"""Streaming helpers of the object store: chunks from any source, a verified reader, a spool."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any

CHUNK = 1 << 20  # bytes per read/write when streaming


def chunks_of(source: Any, size: int = CHUNK) -> Iterator[bytes]:
    """The bytes of ``source`` in pieces: a binary file object (``.read``), bytes, or an
    iterable of bytes-like chunks."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield bytes(source)
        return
    read = getattr(source, "read", None)
    if read is not None:
        while True:
            piece = read(size)
            if not piece:
                return
            yield piece
    else:
        for piece in source:
            if piece:
                yield piece


class ObjectReader(io.RawIOBase):
    """A readable binary stream over chunks whose last step checks them (raises at EOF).

    Bytes handed out before the end are not yet authenticated: a caller that must not act on
    unverified data reads to the end (or uses ``get``) before using them.
    """

    def __init__(self, chunks: Iterator[bytes], close: Callable[[], None] | None = None) -> None:
        self._chunks = chunks
        self._buf = memoryview(b"")
        self._close = close

    def readable(self) -> bool:
        return True

    def _next(self) -> bool:
        while not self._buf:
            try:
                self._buf = memoryview(next(self._chunks))
            except StopIteration:
                return False
        return True

    def readinto(self, b: Any) -> int:
        if not self._next():
            return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        out = bytearray()
        while len(out) < size and self._next():
            take = self._buf[:size - len(out)]
            out += take
            self._buf = self._buf[len(take):]
        return bytes(out)

    def readall(self) -> bytes:
        return b"".join(self.iter_chunks())

    def iter_chunks(self) -> Iterator[bytes]:
        """The remaining bytes in the pieces they were read in (no copy); checked at the end."""
        if self._buf:
            rest, self._buf = bytes(self._buf), memoryview(b"")
            yield rest
        yield from self._chunks

    def __iter__(self) -> Iterator[bytes]:
        return self.iter_chunks()

    def close(self) -> None:
        if not self.closed and self._close is not None:
            self._close()
        super().close()


class Spool:
    """A local temporary file holding a stream until its name is known (its hash).

    ``secret=True`` encrypts it under a throw-away key (AES-CTR), so an encrypted store's
    plaintext never rests in clear in the temporary folder.
    """

    def __init__(self, secret: bool = False) -> None:
        self.f = tempfile.TemporaryFile(prefix="nbtrack-spool-", dir=os.environ.get("NBTRACK_SPOOL_DIR"))
        self.size = 0
        self._key = os.urandom(32)
        self._nonce = os.urandom(16)
        self.secret = secret
        self._enc = self._ctr().encryptor() if secret else None

    def _ctr(self) -> Any:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        return Cipher(algorithms.AES(self._key), modes.CTR(self._nonce))

    def write(self, data: bytes) -> None:
        self.f.write(data if self._enc is None else self._enc.update(data))
        self.size += len(data)

    def chunks(self, size: int = CHUNK) -> Iterable[bytes]:
        self.f.seek(0)
        dec = self._ctr().decryptor() if self.secret else None
        for piece in chunks_of(self.f, size):
            yield piece if dec is None else dec.update(piece)

    def close(self) -> None:
        self.f.close()
