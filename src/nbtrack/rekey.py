"""Change the encryption key of a workspace's objects (``nbtrack rekey --new-key-file F``).

Every object is decrypted with the current key and encrypted again with the new one, in
place: object names do not change (the store's naming key is kept, wrapped under the new
key in the marker), so nothing in the database, no dataset manifest, no signed approval and
no audit-log entry has to change.

Crash safety: before the first object, a journal (``<objects>/.nbtrack-rekey``) records the
new marker; object ids are appended as they are done. While the journal exists the
workspace does not open (one line saying to run ``rekey`` again). Running ``rekey`` again
with the same keys skips the journaled objects, and recognises an object re-encrypted just
before the crash but not yet journaled (it opens with the new key). The new marker is
written last, then the journal is removed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .store import crypto
from .store.objects import ObjectStore

BATCH = 100  # journal lines written together (a lost batch is recognised on resume)


@dataclass
class RekeyReport:
    objects: int = 0
    rekeyed: int = 0
    already: int = 0  # done before an interruption
    damaged: list[str] = field(default_factory=list)  # opens with neither key: left as is (see fsck)


def rekey(new_key_file: str, progress: Callable[[Iterable[str]], Iterator[str]] | None = None,
          fail_after: int | None = None) -> RekeyReport:
    """Re-encrypt every object of the current workspace under the key in ``new_key_file``.

    The current key comes from where it always does (``NBTRACK_KEY``, key file, keyring).
    ``fail_after`` stops with an error after that many objects (crash tests).
    """
    from .workspace import _read_config, resolve

    _meta, objects_url, folder, exists = resolve()
    if not exists:
        raise crypto.InvalidKey("no workspace here to change the key of")
    cfg = _read_config(Path(folder)) if folder else {}
    store = ObjectStore(objects_url)
    marker = store.read_marker()
    if marker is None:
        raise crypto.InvalidKey(f"the objects of {objects_url} are not encrypted: there is no key to change")
    new_key = crypto.read_key_file(os.path.expanduser(new_key_file))
    journal = store.read_file(crypto.JOURNAL)
    if journal is not None:
        first, *lines = journal.decode().splitlines()
        new_marker = first.encode()
        crypto.check_marker(new_marker, crypto.Cipher(new_key), f"{new_key_file} (the interrupted key change)")
        if marker == new_marker:  # only the journal's removal was left
            store.remove_file(f"{store.root}/{crypto.JOURNAL}")
            return RekeyReport()
        done = set(lines)
    else:
        done, lines = set(), []
    old_key = crypto.find_key(objects_url, cfg.get("key_file"))
    if old_key is None:
        raise crypto.InvalidKey("set the current key (NBTRACK_KEY, key file or OS keyring) to change it")
    old = crypto.open_cipher(old_key, marker, objects_url)
    if old_key == new_key:
        raise crypto.InvalidKey("the new key is the current key")
    new = crypto.Cipher(new_key, old.name_key)
    if journal is None:
        new_marker = crypto.marker_bytes(crypto.Cipher(new_key), crypto.Cipher(new_key).wrap_names(old.name_key))
        lines = []
        store.write_marker(new_marker + b"\n", crypto.JOURNAL)
    head = new_marker + b"\n"
    rep = RekeyReport()
    pending: list[str] = []

    def flush() -> None:
        if pending:
            lines.extend(pending)
            store.write_marker(head + "".join(f"{o}\n" for o in lines).encode(), crypto.JOURNAL)
            pending.clear()

    oids = list(store)
    for oid in (progress or (lambda xs: iter(xs)))(oids):
        rep.objects += 1
        if oid in done:
            rep.already += 1
            continue
        path = store.path(oid)
        blob = store._read(path)
        plain = old.decrypt(oid, blob)
        if plain is None:
            if new.decrypt(oid, blob) is not None:  # re-encrypted just before an interruption
                rep.already += 1
                pending.append(oid)
            else:
                rep.damaged.append(oid)
            continue
        sealed = new.encrypt(oid, plain)
        store.backend.write_bytes(path, sealed)
        rep.rekeyed += 1
        pending.append(oid)
        if len(pending) >= BATCH:
            flush()
        if fail_after is not None and rep.rekeyed >= fail_after:
            flush()
            raise RuntimeError(f"injected failure after {fail_after} objects")
    flush()
    store.write_marker(new_marker)
    store.remove_file(f"{store.root}/{crypto.JOURNAL}")
    _forget_open_workspaces()
    return rep


def _forget_open_workspaces() -> None:
    from . import workspace

    workspace.reset_cache()


def report_lines(rep: RekeyReport) -> list[str]:
    out = [f"re-encrypted {rep.rekeyed} of {rep.objects} objects"
           + (f" ({rep.already} done before an interruption)" if rep.already else "")]
    if rep.damaged:
        out.append(f"{len(rep.damaged)} object(s) open with neither key and were left as they are: "
                   "run `nbtrack fsck` (e.g. " + ", ".join(o[:12] for o in rep.damaged[:3]) + ")")
    out.append("from now on use the new key (NBTRACK_KEY, key_file in config.toml, or the OS keyring)")
    return out

