"""Find and open a workspace: where metadata and objects live.

Resolution, like git finds a repository:

1. ``NBTRACK_URI``: a workspace folder (path or ``file://``), or a database URL
   (``postgresql+psycopg://...``) together with ``NBTRACK_OBJECTS`` (any fsspec URL);
2. the nearest ``.nbtrack/`` folder from the working directory upward, if it is
   safe to use (see :mod:`nbtrack.safety`: owned by you, writable by nobody else);
3. otherwise ``./.nbtrack`` is created on the first write.

A workspace folder may hold ``config.toml`` pointing metadata and objects elsewhere::

    [store]
    meta = "postgresql+psycopg://user@db/nbtrack"
    objects = "s3://bucket/nbtrack"
    durability = "full"   # SQLite: fsync every commit (default "normal"; docs/benchmarks.md)
    encryption = true     # objects encrypted at rest (docs/security.md)
    key_file = "~/.config/nbtrack/key"
"""

from __future__ import annotations

import os
import sys
import threading
from typing import overload
from pathlib import Path

from .errors import InvalidInput, NotFound, StoreUnavailable
from .safety import check_discovered
from .store.meta import MetaStore
from .store.objects import ObjectStore

DIRNAME = ".nbtrack"
_cache: dict[tuple[str, str], Workspace] = {}
_lock = threading.Lock()
_explicit: str | None = None


class Workspace:
    """One metadata database plus one object store."""

    def __init__(self, meta_url: str, objects_url: str, root: str | None = None) -> None:
        self.root = root
        self.meta_url = meta_url
        self.objects_url = objects_url
        durability = _durability(root)
        self.objects = ObjectStore(objects_url, referrers=self.referrers, durable=durability == "full")
        open_encryption(self.objects, _read_config(Path(root)) if root else {})
        self.meta = MetaStore(meta_url, empty_ok=self.objects.is_empty, durability=durability)
        # values this process derived from the workspace (the environment's object id,
        # experiment ids, ...): they live and die with this object, never keyed by id()
        self.memo: dict = {}

    def __repr__(self) -> str:
        return f"Workspace({self.root or self.meta_url!r})"

    def referrers(self, oid: str) -> list[str]:
        from .store.refs import referrers  # SQLAlchemy: imported when an object is checked

        try:
            with self.meta.read() as conn:
                return referrers(conn, oid)
        except Exception:
            return []

    def close(self) -> None:
        self.meta.dispose()


def open_encryption(objects: ObjectStore, cfg: dict, create: bool = False) -> None:
    """Give ``objects`` its cipher if the store is encrypted (or must become so).

    The store says it is encrypted (its marker file); ``create`` (``nbtrack init --encrypt``)
    or ``encryption = true`` in the config encrypts an empty store. A missing or wrong key
    raises :class:`~nbtrack.store.crypto.InvalidKey` before anything is written.
    """
    from .store import crypto

    marker = objects.read_marker()
    wanted = create or cfg.get("encryption") is True
    if marker is None and not wanted:
        return
    key = crypto.find_key(objects.url, cfg.get("key_file"))
    if key is None:
        raise crypto.InvalidKey(
            f"the objects of {objects.url} are {'to be ' if marker is None else ''}encrypted and no key is set: "
            "set NBTRACK_KEY (64 hex characters), a key file (--key-file / key_file in config.toml) "
            "or the OS keyring")
    if objects.read_file(crypto.JOURNAL) is not None:
        raise crypto.InvalidKey(f"a key change (`nbtrack rekey`) of {objects.url} was interrupted: run the same "
                                "`nbtrack rekey --new-key-file F` again (with the old key set) to finish it")
    cipher = crypto.Cipher(key)
    if marker is not None:
        cipher = crypto.open_cipher(key, marker, objects.url)
    else:
        if not objects.is_empty():
            raise crypto.InvalidKey(
                f"{objects.url} already holds objects in clear; encryption can only be set up on a new, empty "
                "workspace (`nbtrack init --encrypt` in a new folder); this one stays unencrypted")
        try:
            objects.write_marker(crypto.marker_bytes(cipher))
        except OSError as e:
            raise StoreUnavailable(f"cannot write the encryption marker to {objects.url}: {e.strerror or e}") from e
    objects.cipher = cipher


def _durability(root: str | None) -> str:
    """``[store] durability`` of the workspace folder's config.toml: "normal" (default) or "full"."""
    value = _read_config(Path(root)).get("durability", "normal") if root else "normal"
    if value not in ("normal", "full"):
        raise InvalidInput(f"{Path(root or '.') / 'config.toml'}: durability must be \"normal\" or \"full\", "
                           f"got {value!r}")
    return value


def _read_config(folder: Path) -> dict:
    cfg = folder / "config.toml"
    if not cfg.is_file():
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(cfg.read_text()).get("store", {})
    except Exception as e:
        raise InvalidInput(f"{cfg} is not valid TOML: {e}") from e


def _from_folder(folder: Path) -> tuple[str, str, str]:
    cfg = _read_config(folder)
    meta = cfg.get("meta") or f"sqlite:///{folder / 'meta.db'}"
    objects = cfg.get("objects") or str(folder / "objects")
    return meta, objects, str(folder)


def find_folder(start: str | os.PathLike | None = None) -> Path | None:
    """The nearest ``.nbtrack`` folder from ``start`` (default: cwd) upward."""
    here = Path(start or os.getcwd()).resolve()
    for d in (here, *here.parents):
        candidate = d / DIRNAME
        if candidate.is_dir():
            return candidate
    return None


_resolved: dict[tuple, tuple[str, str, str | None, bool]] = {}


def resolve(start: str | os.PathLike | None = None) -> tuple[str, str, str | None, bool]:
    """Return (meta_url, objects_url, folder, exists) without touching anything.

    Found workspaces are cached per (explicit, NBTRACK_URI, start directory):
    tracked cells resolve on every run and walking up the tree costs more than the run.
    """
    uri = os.environ.get("NBTRACK_URI")
    where = _explicit or uri
    if where and "://" in where and not where.startswith("file://"):
        folder = ""  # a database URL: the working directory plays no part (no getcwd per run)
    else:
        folder = str(start or os.getcwd())
    key = (_explicit, uri, os.environ.get("NBTRACK_OBJECTS"), folder)
    hit = _resolved.get(key)
    if hit is not None:
        return hit
    found = _resolve(start)
    if found[3]:
        _resolved[key] = found
    return found


def _resolve(start: str | os.PathLike | None) -> tuple[str, str, str | None, bool]:
    uri = _explicit or os.environ.get("NBTRACK_URI")
    if uri:
        if "://" in uri and not uri.startswith("file://"):
            objects = os.environ.get("NBTRACK_OBJECTS")
            if not objects:
                raise InvalidInput(
                    f"NBTRACK_URI is a database URL ({uri.split('://')[0]}://...); "
                    "set NBTRACK_OBJECTS to the object store URL (a folder or s3://bucket/prefix)"
                )
            return uri, objects, None, True
        folder = Path(uri.removeprefix("file://")).expanduser().resolve()
        return (*_from_folder(folder), folder.is_dir())
    found = find_folder(start)
    if found is not None:
        check_discovered(found)  # never adopt (or follow config.toml of) a folder others control
        return (*_from_folder(found), True)
    folder = Path(start or os.getcwd()).resolve() / DIRNAME
    return (*_from_folder(folder), False)


def get_workspace(create: bool = False, start: str | os.PathLike | None = None) -> Workspace:
    """The workspace for the current directory (or ``NBTRACK_URI``).

    With ``create=False`` a missing local workspace raises NotFound instead of
    being created, so reading never leaves a ``.nbtrack`` folder behind.
    """
    meta, objects, folder, exists = resolve(start)
    if not exists:
        if not create:
            raise NotFound(
                f"no nbtrack workspace in {Path(start or os.getcwd()).resolve()} or above; "
                "run `nbtrack init` or track a cell first"
            )
        init_folder(folder)
    key = (meta, objects)
    ws = _cache.get(key)
    if ws is None:
        with _lock:
            ws = _cache.get(key)
            if ws is None:
                ws = _cache[key] = Workspace(meta, objects, folder)
    return ws


def init_folder(folder: str | os.PathLike | None) -> Path:
    if folder is None:
        raise InvalidInput("no folder given for the workspace")
    folder = Path(folder)
    try:
        (folder / "objects").mkdir(parents=True, exist_ok=True)
        gi = folder / ".gitignore"
        if not gi.exists():
            gi.write_text("# nbtrack workspace: metadata and objects\n*\n")
    except OSError as e:
        raise StoreUnavailable(f"cannot create workspace {folder}: {e.strerror or e}") from e
    return folder


def init(path: str | os.PathLike | None = None, encrypt: bool = False, key_file: str | None = None,
         meta: str | None = None, objects: str | None = None) -> Workspace:
    """Create (or open) the workspace ``<path>/.nbtrack`` and its schema.

    ``meta`` (a database URL, e.g. ``postgresql+psycopg://user@db/nbtrack``) and ``objects``
    (a folder or fsspec URL, e.g. ``s3://bucket/prefix``) put metadata and objects elsewhere:
    they are written to ``config.toml``. Endpoints and credentials never are: S3 takes them
    from the standard AWS environment and files (``AWS_ENDPOINT_URL``, ``AWS_PROFILE``,
    ``~/.aws/config``), PostgreSQL from ``PGPASSWORD`` or ``~/.pgpass``.
    ``encrypt=True`` encrypts its objects at rest with the key from ``NBTRACK_KEY``,
    ``key_file`` or the OS keyring (see docs/security.md).
    """
    from .store.config import check_meta_url, check_objects_url, write_store_config

    base = Path(path or os.getcwd()).resolve()
    folder = base if base.name == DIRNAME else base / DIRNAME
    if meta is not None:
        check_meta_url(meta)
    if objects is not None:
        check_objects_url(objects)
        ObjectStore(objects).backend.check()  # the bucket exists and these credentials may use it
    if key_file:
        os.environ["NBTRACK_KEY_FILE"] = str(Path(key_file).expanduser().resolve())
    if encrypt:
        _meta, objects_url, _f = _from_folder(folder)
        store = ObjectStore(objects or objects_url)
        open_encryption(store, _read_config(folder), create=True)  # key errors before anything is created
    init_folder(folder)
    if meta is not None or objects is not None:
        write_store_config(folder / "config.toml", meta=meta, objects=objects)
    ws = use_workspace(folder)
    ws.meta.migrate()
    return ws


@overload
def use_workspace(path: None) -> None: ...
@overload
def use_workspace(path: str | os.PathLike) -> Workspace: ...
def use_workspace(path: str | os.PathLike | None) -> Workspace | None:
    """Pin this process to a workspace folder (``None`` goes back to discovery)."""
    global _explicit
    _explicit = None if path is None else str(Path(path).resolve())
    return None if path is None else get_workspace(create=True)


def _after_fork_in_child() -> None:
    """A forked child opens its own workspaces: the parent's are dropped, not closed (the
    parent still uses their connections), and a lock another thread held is replaced."""
    global _lock
    _lock = threading.Lock()
    _cache.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def reset_cache() -> None:
    """Close every open workspace (tests; after fork)."""
    global _explicit
    with _lock:
        for ws in _cache.values():
            ws.close()
        _cache.clear()
        _resolved.clear()
    _explicit = None
