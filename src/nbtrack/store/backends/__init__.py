"""Where an object store keeps its files: one interface, one backend per kind of storage.

:class:`~.base.Backend` is the interface :class:`~nbtrack.store.objects.ObjectStore` uses;
:func:`open_backend` picks the backend for a URL: a local folder (``/path``, ``file://``),
S3 (``s3://``) or any other fsspec URL (``memory://``, ``gs://``...).
"""

from __future__ import annotations

from .base import Backend, Stat, Writer

__all__ = ["Backend", "Stat", "Writer", "open_backend"]


def open_backend(url: str, durable: bool = False) -> Backend:
    if "://" not in url or url.startswith("file://"):
        from .local import LocalBackend

        return LocalBackend(url.removeprefix("file://"), durable=durable)
    if url.startswith(("s3://", "s3a://")):
        from .s3 import S3Backend

        return S3Backend(url)
    from .fsspec import FsspecBackend

    return FsspecBackend(url)
