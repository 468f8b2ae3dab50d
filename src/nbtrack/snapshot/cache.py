"""Where encoded frames are remembered, keyed by their fast content fingerprint.

Two levels: an in-process LRU (an unchanged frame costs a fingerprint and no I/O)
and, for local workspaces, a folder ``<workspace>/cache/frames/<fingerprint>``
holding the manifest's object id, so a re-run after a kernel restart does not
encode the frame again either. A hit is used only when the manifest and every
chunk it names still exist (``gc`` may have removed them); anything unexpected
is a miss, never an error. The key is a hash of the values (see
:mod:`.fingerprint`), so a hit is the same content by construction.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections import OrderedDict

from ..workspace import Workspace
from . import frames

CACHE_SIZE = 256
memory: OrderedDict[tuple[str, str], frames.Encoded] = OrderedDict()
_lock = threading.Lock()


def _new_lock_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread of the parent may have held it at fork time


os.register_at_fork(after_in_child=_new_lock_in_child)


def _folder(ws: Workspace) -> str | None:
    return os.path.join(ws.root, "cache", "frames") if ws.root and ws.objects._local else None


def _entry(ws: Workspace, fp: str) -> str:
    """The file name of content ``fp``: keyed in an encrypted workspace (a plain hash of the
    values would let anyone confirm a guessed frame)."""
    return ws.objects.name(fp.encode()) if ws.objects.encrypted else fp


def lookup(ws: Workspace, fp: str) -> frames.Encoded | None:
    """The encoding of content ``fp`` in ``ws`` if it is still fully stored."""
    key = (ws.objects.url, fp)
    with _lock:
        hit = memory.get(key)
        if hit is not None:
            memory.move_to_end(key)
    if hit is not None:
        return hit if _adopt(ws, hit) else None
    hit = _from_disk(ws, fp)
    if hit is not None:
        _remember_in_memory(key, hit)
    return hit


def _from_disk(ws: Workspace, fp: str) -> frames.Encoded | None:
    folder = _folder(ws)
    if folder is None:
        return None
    try:
        with open(os.path.join(folder, _entry(ws, fp))) as f:
            oid = f.read().strip()
        data = ws.objects.get(oid)
        enc = frames.from_manifest(json.loads(data), data, oid)
    except Exception:  # missing, stale or damaged entry: encode again
        return None
    return enc if _adopt(ws, enc) else None


def _adopt(ws: Workspace, enc: frames.Encoded) -> bool:
    """Whether every object of ``enc`` is still stored; each is refreshed as if written
    again, so ``gc`` never deletes one under the version about to be committed."""
    return ws.objects.refresh([(enc.manifest_oid, len(enc.manifest_bytes)),
                               *((oid, size) for oid, _rows, size in enc.chunks)])


def remember(ws: Workspace, fp: str, enc: frames.Encoded) -> None:
    """Keep ``enc`` for content ``fp`` (memory, and disk for a local workspace)."""
    _remember_in_memory((ws.objects.url, fp), enc)
    folder = _folder(ws)
    if folder is None:
        return
    try:
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".tmp-{uuid.uuid4().hex}")
        with open(tmp, "w") as f:
            f.write(enc.manifest_oid)
        os.replace(tmp, os.path.join(folder, _entry(ws, fp)))
    except OSError:  # a read-only workspace just has no disk cache
        pass


def _remember_in_memory(key: tuple[str, str], enc: frames.Encoded) -> None:
    with _lock:
        memory[key] = enc
        memory.move_to_end(key)
        while len(memory) > CACHE_SIZE:
            memory.popitem(last=False)
