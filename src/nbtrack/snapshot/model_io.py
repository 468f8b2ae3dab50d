"""Model objects <-> bytes: raw arrays (``nbtrack.model/1``), else skops (secure), else joblib (pickle, unsafe).

Estimators made only of scikit-learn classes (and nbtrack's reviewed list) are written by
:mod:`.model_raw` (arrays stored raw beside a small tree: no pickle, no callable
named by the file is called); anything it cannot represent exactly falls back to a
skops archive, as before that format existed (those keep loading unchanged).

skops writes memory addresses (``id()``) and timestamps into its zip file, so two
dumps of the same model differ. :func:`dumps` rewrites the archive canonically
(ids renumbered in order of appearance, fixed timestamps, sorted members): equal
models give equal bytes, hence equal object ids, which is how model versions are
deduplicated.

Loading checks skops' untrusted types against a trusted list: skops' own
defaults, the reviewed classes of :mod:`.trusted_types` (never functions), plus
whatever the caller names in ``trust``.
"""

from __future__ import annotations

import importlib
import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

from ..errors import InvalidInput, NbtrackError, UntrustedModel

SKOPS, JOBLIB = "skops", "joblib"
FAST = "nbtrack.model/1"
FAST_ARCHIVE = True  # write nbtrack.model/1 when the object allows it (False: skops, as before)
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


class UnsavableModel(Exception):
    """skops could not serialize the object (the caller may fall back to joblib)."""


def dumps(obj: Any, allow_pickle: bool = True) -> tuple[bytes, str]:
    """Serialize ``obj``; return ``(bytes, format)`` with format ``nbtrack.model/1``, ``skops`` or ``joblib``."""
    if FAST_ARCHIVE:
        from .model_raw import NotFast, dumps as raw_dumps

        try:
            return raw_dumps(obj, _fast_candidate), FAST
        except NotFast:
            pass
    try:
        return skops_dumps(obj), SKOPS
    except UnsavableModel as e:
        if not allow_pickle:
            raise InvalidInput(
                f"skops cannot save this {type(obj).__name__} ({e}); pass allow_pickle=True to store it "
                "with joblib (pickle) instead: such versions load only with trust=True"
            ) from None
    return joblib_dumps(obj), JOBLIB


def skops_dumps(obj: Any) -> bytes:
    """A canonical skops archive of ``obj`` (raises :class:`UnsavableModel`)."""
    try:
        state, files = _skops_state(obj)
    except Exception as e:  # skops raises TypeError, PicklingError, ... for unsupported objects
        raise UnsavableModel(f"{type(e).__name__}: {e}") from e
    return _archive(state, files)


class _Members:
    """Stands in for skops' ZipFile while it saves: keeps the array files in memory."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def namelist(self) -> Any:
        return self.files.keys()  # skops only asks ``name in namelist()``: a view answers in O(1)

    def writestr(self, name: str, data: Any) -> None:
        self.files[name] = bytes(data)


def _skops_state(obj: Any) -> tuple[dict, dict[str, bytes]]:
    """skops' schema and files, as ``skops.io.dumps`` builds them, without its zip/JSON round trip.

    skops serializes the schema with ``json.dumps(indent=2)``, which runs the pure-Python
    encoder and dominates the time for small models; taking the state directly (skops'
    private ``skops.io._utils``) saves that and our re-parse. Any failure there is retried
    on the public ``dumps`` path, so an object skops cannot save fails there, and a change
    inside skops costs speed, never a model stored differently (or pickled instead).
    """
    try:
        return _private_state(obj)
    except Exception:
        return _public_state(obj)


def _private_state(obj: Any) -> tuple[dict, dict[str, bytes]]:
    import skops
    from skops.io._utils import SaveContext, get_state

    members = _Members()
    ctx = SaveContext(zip_file=members)
    state = get_state(obj, ctx)
    ctx.clear_memo()
    state["protocol"] = ctx.protocol
    state["_skops_version"] = skops.__version__
    return state, members.files


def _public_state(obj: Any) -> tuple[dict, dict[str, bytes]]:
    import skops.io as sio

    with zipfile.ZipFile(io.BytesIO(sio.dumps(obj))) as src:
        state = json.loads(src.read("schema.json"))
        return state, {n: src.read(n) for n in src.namelist() if n != "schema.json"}


def joblib_dumps(obj: Any) -> bytes:
    import joblib

    buf = io.BytesIO()
    try:
        joblib.dump(obj, buf)
    except Exception as e:
        raise InvalidInput(f"cannot save this {type(obj).__name__} with skops nor joblib: {e}") from e
    return buf.getvalue()


def canonical_zip(raw: bytes) -> bytes:
    """Rewrite an archive written by ``skops.io.dumps`` canonically."""
    with zipfile.ZipFile(io.BytesIO(raw)) as src:
        state = json.loads(src.read("schema.json"))
        files = {n: src.read(n) for n in src.namelist() if n != "schema.json"}
    return _archive(state, files)


def _archive(schema: dict, files: dict[str, bytes]) -> bytes:
    """Ids renumbered in order of appearance, fixed timestamps, sorted members, compact JSON.

    ``schema`` is renumbered in place (it is built for this archive and not used afterwards)."""
    ids: dict[int, int] = {}
    names: dict[str, str] = {}
    _canonical(schema, ids, files, names)
    for name in files:  # (every array file is named after its node's id, so already renamed)
        if name not in names:
            names[name] = _rename(name, ids)
    members = [(new, files[old]) for old, new in sorted(names.items(), key=lambda kv: kv[1])]
    members.append(("schema.json", json.dumps(schema, separators=(",", ":")).encode()))
    fast = _stored_zip(members)
    if fast is not None:
        return fast
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as dst:
        for name, data in members:
            dst.writestr(zipfile.ZipInfo(name, _FIXED_TIME), data)
    return out.getvalue()


def _stored_zip(members: list[tuple[str, bytes]]) -> bytes | None:
    """The bytes ``zipfile`` writes for these members (stored, ``_FIXED_TIME``, on POSIX), built
    in one pass: ``zipfile`` costs ~0.1 ms of Python per member (a forest has hundreds). None
    when the archive would need what only ``zipfile`` does (zip64, non-ASCII names, Windows)."""
    import struct
    import sys
    import zlib

    if len(members) >= 0xFFFF or sys.platform == "win32":
        return None
    dt = _FIXED_TIME
    dosdate = (dt[0] - 1980) << 9 | dt[1] << 5 | dt[2]
    dostime = dt[3] << 11 | dt[4] << 5 | (dt[5] // 2)
    parts: list[bytes] = []
    central: list[bytes] = []
    offset = 0
    for name, data in members:
        if not name.isascii() or len(data) * 1.05 > zipfile.ZIP64_LIMIT:
            return None
        fn = name.encode("ascii")
        crc, size = zlib.crc32(data), len(data)
        parts += [struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, 0, dostime, dosdate, crc, size, size,
                              len(fn), 0), fn, data]
        central.append(struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, 0, dostime, dosdate, crc,
                                   size, size, len(fn), 0, 0, 0, 0, 0o600 << 16, offset) + fn)
        offset += 30 + len(fn) + size
        if offset > zipfile.ZIP64_LIMIT:
            return None
    directory = b"".join(central)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(directory), offset, 0)
    return b"".join(parts) + directory + end


def _canonical(node: dict, ids: dict[int, int], files: dict[str, bytes], names: dict[str, str]) -> None:
    """One in-place pass over a skops state: every ``__id__`` replaced by a small number in order
    of appearance (a node's own id before its children's, so memo references stay valid), and
    every string naming an array file replaced by the file's new name."""
    old = node.get("__id__")
    if type(old) is int:
        node["__id__"] = ids.setdefault(old, len(ids) + 1)
    for key, value in node.items():
        t = type(value)
        if t is dict:
            _canonical(value, ids, files, names)
        elif t is list or t is tuple:  # the in-memory state has tuples where the JSON has lists
            node[key] = _canonical_items(value, ids, files, names)
        elif t is str and value in files:
            node[key] = _file_name(value, ids, names)


def _canonical_items(seq: Any, ids: dict[int, int], files: dict[str, bytes], names: dict[str, str]) -> Any:
    out = seq if type(seq) is list else list(seq)
    for i, value in enumerate(out):
        t = type(value)
        if t is dict:
            _canonical(value, ids, files, names)
        elif t is list or t is tuple:
            out[i] = _canonical_items(value, ids, files, names)
        elif t is str and value in files:
            out[i] = _file_name(value, ids, names)
    return out


def _file_name(name: str, ids: dict[int, int], names: dict[str, str]) -> str:
    new = names.get(name)
    if new is None:
        new = names[name] = _rename(name, ids)
    return new


def _rename(name: str, ids: dict[int, int]) -> str:
    stem, dot, ext = name.partition(".")
    if stem.isdigit():
        new = ids.setdefault(int(stem), len(ids) + 1)
        return f"{new}{dot}{ext}"
    return name


# -- loading -------------------------------------------------------------------------
def untrusted_types(data: bytes) -> list[str]:
    """Types in a skops archive that skops does not trust by default."""
    import skops.io as sio

    return list(sio.get_untrusted_types(data=data))


_SKOPS_DEFAULTS: frozenset[str] | None = None


def skops_trusted(name: str) -> bool:
    """Whether skops trusts the class ``name`` by default (its estimators, internal types, losses)."""
    global _SKOPS_DEFAULTS
    if _SKOPS_DEFAULTS is None:
        from .model_raw import CONSTRUCTED

        names = {n for n in CONSTRUCTED if n.startswith("sklearn._loss._loss.")}
        try:
            from skops.io._trusted_types import SKLEARN_ESTIMATOR_TYPE_NAMES, SKLEARN_INTERNAL_TYPE_NAMES

            names.update(SKLEARN_ESTIMATOR_TYPE_NAMES, SKLEARN_INTERNAL_TYPE_NAMES)
        except ImportError:  # skops without these lists: only nbtrack's list and trust= apply
            pass
        _SKOPS_DEFAULTS = frozenset(names)
    return name in _SKOPS_DEFAULTS


def _fast_candidate(name: str) -> bool:
    """Classes a ``nbtrack.model/1`` archive may hold: scikit-learn's and nbtrack's reviewed list.

    Deliberately without skops' exact lists (computing them imports every scikit-learn module,
    ~0.6 s on a first save): loading applies them, and a scikit-learn class skops does not trust
    is refused by name whether it sits in this archive or in a skops one."""
    return name.startswith("sklearn.") or default_trusted(name)


def archive_types(data: bytes, fmt: str) -> list[str]:
    """Types in a stored model that skops does not trust by default (what ``trust=`` may name)."""
    if fmt == FAST:
        from .model_raw import archive_types as raw_types

        return [n for n in raw_types(data) if not skops_trusted(n)]
    return untrusted_types(data) if fmt == SKOPS else []


def default_trusted(name: str) -> bool:
    """Whether ``name`` is on the reviewed list of :mod:`.trusted_types` (and is a class)."""
    from .trusted_types import TRUSTED_TYPES

    if name not in TRUSTED_TYPES:
        return False
    module, _, attr = name.rpartition(".")
    try:
        return isinstance(getattr(importlib.import_module(module), attr), type)
    except Exception:
        return False


def loads(data: bytes, fmt: str, trust: bool | list[str] | None = None, what: str = "this model") -> Any:
    """Load bytes written by :func:`dumps`.

    ``trust=True`` trusts everything (and allows pickle); a list trusts those
    fully qualified type names in addition to the defaults.
    """
    if fmt == JOBLIB:
        if trust is not True:
            raise UntrustedModel(
                f"{what} was stored with joblib (pickle) because skops could not save it; loading pickle "
                "can run arbitrary code. Load it only if you trust its author: load_model(..., trust=True)",
                types=[],
            )
        import joblib

        return joblib.load(io.BytesIO(data))
    def decide(untrusted: list[str]) -> None:
        if trust is True:
            return
        extra = set(trust or [])
        refused = [t for t in untrusted if t not in extra and not default_trusted(t)]
        if refused:
            names = ", ".join(refused)
            raise UntrustedModel(
                f"{what} contains types that are not trusted by default: {names}. If you trust them, "
                f"load with trust={refused!r} (or trust=True to trust everything in it)",
                types=refused,
            )

    if fmt == FAST:
        from .model_raw import ObjectArray, Unreadable, loads as raw_loads

        def trusted_by_default(name: str) -> bool:  # skops' rules; its lists imported only when needed
            if _SKOPS_DEFAULTS is None:
                from .skops_rules import listed

                if listed(name):  # (provably on skops' list)
                    return True
                if trust is True or name in (trust or ()) or default_trusted(name):
                    return False  # (decide() accepts it whatever skops says: same outcome)
            return skops_trusted(name)

        try:
            return raw_loads(data, decide, trusted_by_default)
        except ObjectArray as e:
            raise UntrustedModel(f"{what} is refused: {e}", types=["numpy.object_"]) from None
        except Unreadable as e:
            raise NbtrackError(
                f"{what} is not a readable {FAST} archive ({e}): the stored object is not what its "
                "version row says; run `nbtrack fsck` and register the model again", reason=str(e),
            ) from None
    import skops.io as sio

    try:
        return _load_once(data, decide)
    except _Unreadable as e:
        raise NbtrackError(
            f"{what} is not a readable skops file ({e}): the stored object is not what its "
            "version row says; run `nbtrack fsck` and register the model again", reason=str(e),
        ) from None
    except _NoPrivateApi:
        pass
    try:  # skops without the internals used above: audit, then parse again
        untrusted = untrusted_types(data)
    except (zipfile.BadZipFile, KeyError, ValueError, json.JSONDecodeError) as e:
        raise NbtrackError(
            f"{what} is not a readable skops file ({type(e).__name__}: {e}): the stored object is not what its "
            "version row says; run `nbtrack fsck` and register the model again", reason=str(e),
        ) from None
    decide(untrusted)
    return sio.loads(data, trusted=untrusted)


class _Unreadable(Exception):
    pass


class _NoPrivateApi(Exception):
    pass


def _load_once(data: bytes, decide: Callable[[list[str]], None]) -> Any:
    """Parse a skops archive once: audit its types (``decide`` raises to refuse), then build it.

    What ``skops.io.get_untrusted_types`` followed by ``skops.io.loads(data, trusted=those)``
    do, with one read of the zip and one tree: ``get_tree(trusted=None)`` marks every type
    skops does not trust by default, ``decide`` sees exactly that list, and the tree is
    constructed only if it returns. (skops' ``loads`` would audit the same tree against the
    same list and find nothing left.)
    """
    try:
        from skops.io._audit import get_tree
        from skops.io._utils import read_schema
    except ImportError as e:
        raise _NoPrivateApi() from e
    try:
        zf = zipfile.ZipFile(io.BytesIO(data), "r")
    except (zipfile.BadZipFile, ValueError) as e:
        raise _Unreadable(f"{type(e).__name__}: {e}") from None
    with zf:
        try:
            schema, load_context = read_schema(zf)
            tree = get_tree(schema, load_context=load_context, trusted=None)
            untrusted = sorted(tree.get_unsafe_set())
        except (zipfile.BadZipFile, KeyError, ValueError, json.JSONDecodeError) as e:
            raise _Unreadable(f"{type(e).__name__}: {e}") from None
        decide(untrusted)
        return tree.construct()


# -- fingerprint ----------------------------------------------------------------------
_raw_print: Callable[[Any, Callable[[str], bool]], str | None] | None = None


def _load_raw_print() -> Callable[[Any, Callable[[str], bool]], str | None]:
    """:func:`.model_print.fingerprint`, imported on first use (numpy and xxhash are not needed before)."""
    global _raw_print
    from .model_print import fingerprint

    _raw_print = fingerprint
    return fingerprint


def fingerprint(obj: Any) -> str | None:
    """A content fingerprint of a model object, far cheaper than building its archive.

    ``pickle`` protocol 5 with out-of-band buffers: the pickle stream holds the
    structure (classes, parameters, small values) and every contiguous numpy array is
    handed over as a buffer without a copy; xxh3-128 hashes both. Equal pickles mean
    equal state, hence an equal archive. None when the object cannot be pickled (the
    caller then builds the archive as usual).

    A model that would be written as ``nbtrack.model/1`` is fingerprinted by
    :mod:`.model_print` instead: the same state, read without pickle's machinery.
    """
    if FAST_ARCHIVE:
        found = (_raw_print or _load_raw_print())(obj, _fast_candidate)
        if found is not None:
            return found
    import pickle

    import xxhash

    buffers: list[pickle.PickleBuffer] = []
    try:
        head = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    except Exception:
        return None
    h = xxhash.xxh3_128(head)
    for b in buffers:
        try:
            h.update(b.raw())
        except BufferError:  # not contiguous: hash a copy
            h.update(bytes(b))
    return f"{type(obj).__module__}.{type(obj).__qualname__}:{len(buffers)}:{h.hexdigest()}"
