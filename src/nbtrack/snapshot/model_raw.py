"""A safe model archive with raw arrays: format ``nbtrack.model/1``.

skops spends its time in generic per-attribute state building, one ``.npy`` zip
member per array and a JSON schema that mirrors every node; loading rebuilds the
same tree twice. Fitted scikit-learn estimators are mostly a few plain objects
around large numeric arrays (tree node tables, coefficients, centroids), so this
archive stores exactly that:

    MAGIC (16 bytes) | header length (8 bytes, little-endian) | header (JSON) | pad to 64
    | array bytes, each array 64-byte aligned

The header is a small tree of tagged nodes describing the object graph; every
numeric array is a reference into the data block (dtype, shape, order, offset).
Nothing is pickled, numpy object arrays never come from raw bytes (their
elements are tree nodes), and no callable named by the archive is ever called.

Loading first walks the whole header and lists the classes it names; the caller
decides on that list (the same trusted-type rules as skops archives) and nothing
is constructed before it agreed. An object is then rebuilt as pickle would for a
plain class (``cls.__new__(cls)`` then ``__setstate__`` or ``__dict__.update``);
only the reviewed classes of :data:`CONSTRUCTED` (sklearn's ``Tree`` and its
Cython losses) are built by calling the class, with arguments checked first.
Decision-tree node tables are bounds-checked before they reach sklearn's Cython
code (skops cannot do that: it only checks types).

:func:`dumps` raises :class:`NotFast` for anything it cannot represent exactly
(functions, sparse matrices, ``__main__`` classes, custom ``__reduce__``...); the
caller then writes a skops archive, as before this format existed.
"""

from __future__ import annotations

import copyreg
import importlib
import json
import struct
import sys
from collections.abc import Callable
from typing import Any

FORMAT = "nbtrack.model/1"
MAGIC = b"\x93NBTRACK-MODEL\x01\x00"
_ALIGN = 64
_TREE = "sklearn.tree._tree.Tree"
_PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
_HGB = tuple(f"sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoosting{k}"
             for k in ("Classifier", "Regressor"))
_LOSSES = tuple(f"sklearn._loss._loss.Cy{n}" for n in (
    "AbsoluteError", "ExponentialLoss", "HalfBinomialLoss", "HalfGammaLoss", "HalfMultinomialLoss",
    "HalfPoissonLoss", "HalfSquaredError", "HalfTweedieLoss", "HalfTweedieLossIdentity", "HuberLoss",
    "PinballLoss"))
CONSTRUCTED: frozenset[str] = frozenset({_TREE, *_LOSSES})
"""Classes rebuilt by calling them (``cls(*args)``), as skops' ``TreeNode``/``LossNode`` do."""
_BUILTIN_TYPES = {"builtins.float": float, "builtins.int": int, "builtins.bool": bool, "builtins.str": str,
                  "builtins.complex": complex}
_NEWOBJ = copyreg.__newobj__  # type: ignore[attr-defined]  # what object.__reduce_ex__(2) names for plain classes
_BIT_GENERATORS = ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64")


class NotFast(Exception):
    """The object holds something this format does not represent exactly (use skops)."""


class Unreadable(Exception):
    """The bytes are not a well-formed archive of this format."""


class ObjectArray(Unreadable):
    """Raw bytes said to be a numpy object array (refused whatever the trust: it would need pickle)."""


def is_archive(data: bytes | memoryview) -> bool:
    return bytes(data[:len(MAGIC)]) == MAGIC


# -- saving ------------------------------------------------------------------------------
class _Encoder:
    def __init__(self) -> None:
        import numpy as np

        self.np = np
        self.memo: dict[int, int] = {}
        self.keep: list[Any] = []  # temporaries whose id() must stay unique while encoding
        self.arrays: list[list] = []
        self.blocks: list[Any] = []
        self.size = 0
        self.building: set[int] = set()  # objects constructed by a call, still being encoded
        self.classes: set[str] = set()
        self.dtypes: dict[Any, Any] = {}

    def enc(self, v: Any) -> Any:  # noqa: C901 - one dispatch on the exact type
        t = type(v)
        if v is None or t is str or t is bool or t is int or t is float:
            return v
        if t is tuple:
            return {"t": [self.enc(x) for x in v]}
        np = self.np
        if t is list or t is dict or t is np.ndarray or (t.__module__ != "builtins" and not isinstance(v, np.generic)
                                                          and not isinstance(v, (type, np.dtype))):
            ref = self.memo.get(id(v))
            if ref is not None:
                if ref in self.building:
                    raise NotFast("an object refers to itself through its constructor arguments")
                return {"r": ref}
            n = self.memo[id(v)] = len(self.memo)
            self.keep.append(v)
            if t is list:
                return {"l": [self.enc(x) for x in v]}
            if t is dict:
                return self.mapping(v)
            if t is np.ndarray:
                return self.array(v)
            return self.obj(v, n)
        if isinstance(v, np.generic):
            dt = v.dtype
            if t is not dt.type or dt.hasobject or dt.fields is not None:
                raise NotFast(f"numpy scalar {t.__name__}")
            return {"ns": dt.str, "x": v.tobytes().hex()}
        if t is np.dtype or isinstance(v, np.dtype):
            return {"dt": self.dtype(v)}
        if t is type:
            return {"ty": self.scalar_type(v)}
        if t is slice:
            return {"sl": [self.enc(v.start), self.enc(v.stop), self.enc(v.step)]}
        raise NotFast(f"{t.__module__}.{t.__qualname__}")

    def mapping(self, v: dict) -> dict:
        if all(type(k) is str for k in v):
            return {"m": {k: self.enc(x) for k, x in v.items()}}
        return {"d": [[self.enc(k), self.enc(x)] for k, x in v.items()]}

    def scalar_type(self, v: type) -> str:
        np = self.np
        for name, t in _BUILTIN_TYPES.items():
            if v is t:
                return name
        if issubclass(v, np.generic) and v is not np.object_ and v is not np.void:
            name = np.dtype(v).name
            if np.dtype(name).type is v:
                return f"numpy.{name}"
        raise NotFast(f"type {v!r}")

    def dtype(self, dt: Any) -> Any:
        spec = self.dtypes.get(dt)
        if spec is None:
            spec = self.dtypes[dt] = self._dtype(dt)
        return spec

    def _dtype(self, dt: Any) -> Any:
        np = self.np
        if dt.hasobject:
            raise NotFast("numpy object dtype")
        if dt.fields is None:
            if dt.subdtype is not None or dt.metadata:
                raise NotFast(f"dtype {dt}")
            return dt.str
        names = list(dt.names)
        spec = {"names": names, "formats": [], "offsets": [], "itemsize": dt.itemsize}
        for name in names:
            sub, offset = dt.fields[name][:2]
            if sub.fields is not None or sub.subdtype is not None or sub.metadata:
                raise NotFast(f"dtype {dt}")
            spec["formats"].append(sub.str)
            spec["offsets"].append(offset)
        if _dtype(spec, np) != dt:
            raise NotFast(f"dtype {dt}")
        return spec

    def array(self, a: Any) -> dict:
        np = self.np
        if a.dtype.hasobject:
            if a.dtype != object:
                raise NotFast("structured array with objects")
            items = []
            for x in a.reshape(-1, order="C"):
                if type(x) in (list, tuple, dict) or isinstance(x, np.ndarray):
                    raise NotFast("object array holding sequences")
                items.append(self.enc(x))
            return {"oa": list(a.shape), "i": items}
        spec = self.dtype(a.dtype)
        order = "C"
        if a.flags.c_contiguous:
            data = a
        elif a.flags.f_contiguous:
            data, order = a.T, "F"
        else:
            data = np.ascontiguousarray(a)
        pad = -self.size % _ALIGN
        if pad:
            self.blocks.append(b"\0" * pad)
            self.size += pad
        self.arrays.append([spec, list(a.shape), order, self.size, a.nbytes])
        if a.nbytes:
            self.blocks.append(data.reshape(-1).view(np.uint8))
        self.size += a.nbytes
        return {"a": len(self.arrays) - 1}

    def obj(self, v: Any, n: int) -> dict:
        t = type(v)
        np = self.np
        if t is np.random.RandomState:
            state = v.get_state(legacy=True)
            if type(state) is not tuple or state[0] != "MT19937":
                raise NotFast("RandomState without MT19937")
            return {"rs": self.enc(state)}
        if t is np.random.Generator:
            bits = v.bit_generator
            name = type(bits).__name__
            if name not in _BIT_GENERATORS or getattr(np.random, name) is not type(bits):
                raise NotFast(f"bit generator {name}")
            state = bits.state
            self.keep.append(state)
            return {"gen": name, "st": self.enc(state)}
        name = _class_name(t)
        self.classes.add(name)
        if name in CONSTRUCTED:
            return self.constructed(v, n, name)
        state = plain_state(v, t, name)
        if state is None:
            return {"o": name}
        self.keep.append(state)
        return {"o": name, "s": {k: self.enc(x) for k, x in state.items()}}

    def constructed(self, v: Any, n: int, name: str) -> dict:
        reduced, state = checked_reduce(v, name)
        self.building.add(n)
        node: dict[str, Any] = {"k": name, "args": [self.enc(x) for x in reduced[1]]}
        self.building.discard(n)
        if state:
            self.keep.append(state)
            node["s"] = {k: self.enc(x) for k, x in state.items()}
        return node


def plain_state(v: Any, t: type, name: str) -> dict | None:
    """The state of an object of a plain class (``object.__reduce_ex__(2)``: no constructor
    arguments, a dict of str keys or None), else :class:`NotFast`; the fingerprint
    (:mod:`.model_print`) reads objects through the same check."""
    try:
        reduced = v.__reduce_ex__(2)
    except Exception as e:
        raise NotFast(f"{name}: {e}") from None
    if (not isinstance(reduced, tuple) or len(reduced) < 2 or reduced[0] is not _NEWOBJ
            or reduced[1] != (t,) or any(x is not None for x in reduced[3:])):
        raise NotFast(f"{name} has its own __reduce__")
    state = reduced[2] if len(reduced) > 2 else None
    if state is not None and (type(state) is not dict or not all(type(k) is str for k in state)):
        raise NotFast(f"{name}: state is not a plain dict")
    return state


def checked_reduce(v: Any, name: str) -> tuple[tuple, dict | None]:
    """``v.__reduce__()`` of a :data:`CONSTRUCTED` object and its state, when the archive can rebuild
    it exactly (else :class:`NotFast`); the fingerprint (:mod:`.model_print`) makes the same check."""
    try:
        reduced = v.__reduce__()
    except Exception as e:
        raise NotFast(f"{name}: {e}") from None
    if type(reduced) is not tuple or reduced[0] is not type(v) or type(reduced[1]) is not tuple:
        raise NotFast(f"{name}: unexpected __reduce__")
    state = reduced[2] if len(reduced) > 2 else None
    if len(reduced) > 3 or (state is not None and type(state) is not dict):
        raise NotFast(f"{name}: unexpected __reduce__")
    if name != _TREE:  # a loss: its constructor arguments are its whole state; check it
        if state or type(v)(*reduced[1]).__reduce__()[1:] != reduced[1:]:
            raise NotFast(f"{name}: state not rebuilt by its constructor")
    return reduced, state


def _class_name(t: type) -> str:
    module, qual = t.__module__, t.__qualname__
    if getattr(sys.modules.get(module), qual, None) is t and module != "__main__" and "." not in qual:
        return f"{module}.{qual}"  # (the common case: its module is imported)
    return _find_name(t)


def _find_name(t: type) -> str:
    module, qual = t.__module__, t.__qualname__
    if module == "__main__" or "<" in qual or "." in qual:
        raise NotFast(f"{module}.{qual} is not importable by name")
    try:
        found = getattr(importlib.import_module(module), qual)
    except Exception:
        raise NotFast(f"{module}.{qual} is not importable by name") from None
    if found is not t:
        raise NotFast(f"{module}.{qual} is not importable by name")
    return f"{module}.{qual}"


def dumps(obj: Any, trusted: Callable[[str], bool]) -> bytes:
    """The archive of ``obj`` (deterministic: equal models give equal bytes), or :class:`NotFast`.

    Only objects whose every class passes ``trusted`` are written in this format (the others
    keep skops archives); loading applies the trust rules on its own."""
    enc = _Encoder()
    try:
        root = enc.enc(obj)
    except NotFast:
        raise
    except RecursionError:
        raise NotFast("object graph too deep") from None
    if type(root) is not dict or ("o" not in root and "k" not in root):
        raise NotFast("not an estimator object")
    untrusted = sorted(n for n in enc.classes if not trusted(n))
    if untrusted:
        raise NotFast(f"classes not trusted by default: {', '.join(untrusted)}")
    header = json.dumps({"arrays": enc.arrays, "root": root}, separators=(",", ":"),
                        ensure_ascii=True).encode()
    head = len(MAGIC) + 8 + len(header)
    parts: list[Any] = [MAGIC, struct.pack("<Q", len(header)), header, b" " * (-head % _ALIGN)]
    return b"".join(parts + enc.blocks)


# -- loading -----------------------------------------------------------------------------
def _dtype(spec: Any, np: Any) -> Any:
    if type(spec) is str:
        dt = np.dtype(spec)
    elif type(spec) is dict and set(spec) == {"names", "formats", "offsets", "itemsize"} and all(
            type(f) is str for f in spec["formats"]):
        dt = np.dtype({k: spec[k] for k in ("names", "formats", "offsets", "itemsize")})
    else:
        raise Unreadable(f"bad dtype {spec!r}")
    if dt.hasobject:
        raise ObjectArray("a numpy object array stored as raw bytes: loading it would need pickle, which "
                          "this format never does")
    return dt


def _parse(data: bytes | memoryview) -> tuple[dict, int]:
    view = memoryview(data)
    if not is_archive(view) or len(view) < len(MAGIC) + 8:
        raise Unreadable("no nbtrack.model header")
    (n,) = struct.unpack_from("<Q", view, len(MAGIC))
    start = len(MAGIC) + 8
    if n > len(view) - start:
        raise Unreadable("truncated header")
    try:
        header = json.loads(bytes(view[start:start + n]))
    except (ValueError, RecursionError) as e:
        raise Unreadable(f"header: {type(e).__name__}: {e}") from None
    if type(header) is not dict or type(header.get("arrays")) is not list or "root" not in header:
        raise Unreadable("header is not an archive description")
    body = start + n
    return header, body + (-body % _ALIGN)


def archive_types(data: bytes | memoryview) -> list[str]:
    """The classes an archive names (sorted), without constructing anything."""
    header, _ = _parse(data)
    return sorted(_classes(header["root"]))


def _classes(root: Any) -> set[str]:
    """Every class name the decoder could reach (a node's tag is its first key, as in :meth:`_Decoder.dec`)."""
    found: set[str] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if type(node) is not dict or not node:
            continue  # scalars; anything malformed is refused by the decoder
        tag = next(iter(node))
        value = node[tag]
        if tag in ("t", "l", "sl"):
            stack.extend(_list(value))
        elif tag == "m":
            stack.extend(_mapping(value).values())
        elif tag == "d":
            for pair in _list(value):
                stack.extend(_list(pair))
        elif tag == "oa":
            stack.extend(_list(node.get("i")))
        elif tag == "rs":
            stack.append(value)
        elif tag == "gen":
            stack.append(node.get("st"))
        elif tag in ("o", "k"):
            if type(value) is not str:
                raise Unreadable(f"bad class name {value!r:.80}")
            found.add(value)
            stack.extend(_mapping(node.get("s", {})).values())
            if tag == "k":
                stack.extend(_list(node.get("args")))
    return found


def _mapping(x: Any) -> dict:
    if type(x) is not dict:
        raise Unreadable("bad mapping")
    return x


def loads(data: bytes | memoryview, decide: Callable[[list[str]], None], default_trusted: Callable[[str], bool]) -> Any:
    """Rebuild the object of an archive.

    ``default_trusted(name)`` says whether a class is trusted by default (skops' rules);
    ``decide`` gets the sorted list of the others and raises to refuse. Every array entry
    is checked and ``decide`` has agreed before anything is constructed.
    """
    import numpy as np

    header, base = _parse(data)
    specs = [_spec(np, s) for s in _list(header["arrays"])]
    end = base + max((s[3] + s[4] for s in specs), default=0)
    if end > len(data):
        raise Unreadable("truncated data block")
    names = _classes(header["root"])
    decide(sorted(n for n in names if not default_trusted(n)))
    classes = {n: _resolve(n) for n in sorted(names)}
    block = np.empty(end - base, dtype=np.uint8)  # one copy: arrays come back writable and aligned
    block[:] = np.frombuffer(data, dtype=np.uint8, count=end - base, offset=base)
    dec = _Decoder(np, classes, specs, block)
    try:
        return dec.dec(header["root"])
    except (KeyError, IndexError, TypeError, ValueError, RecursionError) as e:
        raise Unreadable(f"{type(e).__name__}: {e}") from None


def _spec(np: Any, entry: Any) -> tuple:
    """(dtype, shape, order, offset, nbytes) of an array entry, checked."""
    if type(entry) is not list or len(entry) != 5:
        raise Unreadable("bad array entry")
    spec, shape, order, offset, nbytes = entry
    dt = _dtype(spec, np)
    shape = tuple(_int(x) for x in _list(shape))
    count = 1
    for x in shape:
        count *= x
    if count * dt.itemsize != _int(nbytes) or order not in ("C", "F") or _int(offset) % _ALIGN:
        raise Unreadable("array entry does not match its shape")
    return dt, shape, order, offset, nbytes


def _int(x: Any) -> int:
    if type(x) is not int or x < 0:
        raise Unreadable(f"bad size {x!r}")
    return x


def _resolve(name: str) -> type:
    """A class by name (only called for names the caller trusted)."""
    module, _, qual = name.rpartition(".")
    if not module or not qual.isidentifier():
        raise Unreadable(f"bad class name {name!r}")
    try:
        found = getattr(importlib.import_module(module), qual)
    except Exception as e:
        raise Unreadable(f"cannot import {name}: {type(e).__name__}: {e}") from None
    if not isinstance(found, type):
        raise Unreadable(f"{name} is not a class (this format never loads functions)")
    return found


class _Decoder:
    def __init__(self, np: Any, classes: dict[str, type], specs: list, block: Any) -> None:
        self.np, self.classes, self.specs, self.block = np, classes, specs, block
        self.memo: list[Any] = []

    def dec(self, node: Any) -> Any:  # noqa: C901 - one dispatch on the tag
        t = type(node)
        if node is None or t is str or t is bool or t is int or t is float:
            return node
        if t is not dict or len(node) == 0:
            raise Unreadable(f"bad node {node!r:.80}")
        tag = next(iter(node))
        value = node[tag]
        if tag == "r":
            if type(value) is not int or not 0 <= value < len(self.memo) or self.memo[value] is _PENDING:
                raise Unreadable(f"bad reference {value!r}")
            return self.memo[value]
        if tag == "a":
            a = self.array(value)
            self.memo.append(a)
            return a
        if tag == "o":
            return self.obj(node)
        if tag == "m":
            d: dict = {}
            self.memo.append(d)
            for k, x in _mapping(value).items():
                d[k] = self.dec(x)
            return d
        if tag == "t":
            return tuple([self.dec(x) for x in _list(value)])
        if tag == "l":
            out: list = []
            self.memo.append(out)
            out.extend([self.dec(x) for x in _list(value)])
            return out
        if tag == "d":
            d = {}
            self.memo.append(d)
            for pair in _list(value):
                k, x = _list(pair)
                d[self.dec(k)] = self.dec(x)
            return d
        if tag == "k":
            return self.constructed(node)
        if tag == "oa":
            i = len(self.memo)
            self.memo.append(_PENDING)
            shape = tuple(_int(x) for x in _list(value))
            items = _list(node["i"])
            flat = self.np.empty(len(items), dtype=object)
            for j, x in enumerate(items):
                flat[j] = self.dec(x)
            a = flat.reshape(shape)
            self.memo[i] = a
            return a
        if tag == "ns":
            dt = _dtype(value, self.np)
            raw = bytes.fromhex(node["x"])
            if len(raw) != dt.itemsize:
                raise Unreadable("bad numpy scalar")
            return self.np.frombuffer(raw, dtype=dt)[0]
        if tag == "dt":
            return _dtype(value, self.np)
        if tag == "ty":
            return self.scalar_type(value)
        if tag == "sl":
            start, stop, step = _list(value)
            return slice(self.dec(start), self.dec(stop), self.dec(step))
        if tag == "rs" or tag == "gen":
            return self.random(node, tag, value)
        raise Unreadable(f"unknown node {tag!r:.80}")

    def random(self, node: dict, tag: str, value: Any) -> Any:
        """A numpy RandomState (MT19937) or Generator, rebuilt from its bit generator's state."""
        np = self.np
        i = len(self.memo)
        self.memo.append(_PENDING)
        if tag == "rs":
            state = self.dec(value)
            if type(state) is not tuple or len(state) != 5 or state[0] != "MT19937":
                raise Unreadable("bad RandomState")
            out: Any = np.random.RandomState()
            out.set_state(state)
        else:
            if value not in _BIT_GENERATORS:
                raise Unreadable(f"bad bit generator {value!r:.80}")
            bits = getattr(np.random, value)()
            bits.state = self.dec(node["st"])
            out = np.random.Generator(bits)
        self.memo[i] = out
        return out

    def scalar_type(self, name: Any) -> type:
        if name in _BUILTIN_TYPES:
            return _BUILTIN_TYPES[name]
        np = self.np
        if type(name) is str and name.startswith("numpy."):
            dt = np.dtype(name[6:])
            if not dt.hasobject and dt.fields is None:
                return dt.type
        raise Unreadable(f"bad scalar type {name!r}")

    def array(self, i: Any) -> Any:
        if type(i) is not int or not 0 <= i < len(self.specs):
            raise Unreadable(f"bad array {i!r}")
        dt, shape, order, offset, nbytes = self.specs[i]
        flat = self.block[offset:offset + nbytes].view(dt)
        if order == "F":
            return flat.reshape(shape[::-1]).T
        return flat.reshape(shape)

    def obj(self, node: dict) -> Any:
        if node["o"] in CONSTRUCTED:
            raise Unreadable(f"{node['o']} is only built from its arguments")
        cls = self.classes[node["o"]]
        i = len(self.memo)
        self.memo.append(_PENDING)
        inst = cls.__new__(cls)  # type: ignore[call-overload]
        self.memo[i] = inst
        if "s" in node:
            state = self.state(node["s"])
            if node["o"] == _PREDICTOR:
                _check_predictor(self.np, state)
            elif node["o"] in _HGB:
                _check_hgb_features(self.np, state)
            setstate = getattr(inst, "__setstate__", None)
            if setstate is not None:
                setstate(state)
            else:
                inst.__dict__.update(state)
        return inst

    def state(self, items: Any) -> dict:
        return {k: self.dec(x) for k, x in _mapping(items).items()}

    def constructed(self, node: dict) -> Any:
        name = node["k"]
        if name not in CONSTRUCTED:
            raise Unreadable(f"{name} is not built by a call in this format")
        cls = self.classes[name]
        i = len(self.memo)
        self.memo.append(_PENDING)
        args = [self.dec(x) for x in _list(node["args"])]
        state = self.state(node["s"]) if "s" in node else None
        if name == _TREE:
            _check_tree(self.np, args, state)
        elif not all(type(a) in (int, float) for a in args):
            raise Unreadable(f"bad arguments for {name}")
        inst = cls(*args)
        if state:
            inst.__setstate__(state)
        self.memo[i] = inst
        return inst


_PENDING = object()


def _list(x: Any) -> list:
    if type(x) is not list:
        raise Unreadable("bad list")
    return x


def _check_tree(np: Any, args: list, state: dict | None) -> None:
    """A decision tree's node table points only forward, inside itself, at existing features.

    sklearn's Cython code follows these indices without bounds checks; a crafted table
    could read outside its memory or loop forever."""
    if len(args) != 3 or type(args[0]) is not int or type(args[2]) is not int or args[0] < 0 or args[2] < 1:
        raise Unreadable("bad Tree arguments")
    n_classes = args[1]
    if type(n_classes) is not np.ndarray or n_classes.dtype != np.intp or n_classes.shape != (args[2],):
        raise Unreadable("bad Tree arguments")
    if state is None:
        return
    nodes: Any = state.get("nodes")
    count: Any = state.get("node_count")
    if type(nodes) is not np.ndarray or nodes.dtype.names is None or type(count) is not int:
        raise Unreadable("bad Tree state")
    if nodes.ndim != 1 or count != len(nodes) or not {"left_child", "right_child", "feature"} <= set(nodes.dtype.names):
        raise Unreadable("bad Tree state")
    left, right, feature = nodes["left_child"], nodes["right_child"], nodes["feature"]
    if left.dtype.kind != "i" or right.dtype.kind != "i" or feature.dtype.kind != "i":
        raise Unreadable("bad Tree state")
    after = np.arange(1, count + 1, dtype=np.int64)
    room = (count - after).view(np.uint64)  # a child of node i lies in (i, count): one unsigned compare each
    split = left != -1
    inside = (((left - after).view(np.uint64) < room) & ((right - after).view(np.uint64) < room)
              & (feature.astype(np.uint64) < args[0]))
    ok = not np.where(split, ~inside, right != -1).any()
    if not ok:
        raise Unreadable("Tree node table points outside itself (crafted or damaged)")


def _check_predictor(np: Any, state: dict) -> None:
    """A histogram-gradient-boosting predictor's nodes point forward, inside the table and its bitsets."""
    nodes: Any = state.get("nodes")
    if type(nodes) is not np.ndarray or nodes.ndim != 1 or nodes.dtype.names is None:
        raise Unreadable("bad TreePredictor state")
    fields = set(nodes.dtype.names)
    if not {"left", "right", "is_leaf", "feature_idx"} <= fields:
        raise Unreadable("bad TreePredictor state")
    count = len(nodes)
    idx = np.arange(count)
    split = nodes["is_leaf"] == 0
    left, right = nodes["left"][split], nodes["right"][split]
    ok = (np.all((left > idx[split]) & (left < count)) and np.all((right > idx[split]) & (right < count))
          and np.all(nodes["feature_idx"][split] >= 0))
    if ok and "is_categorical" in fields and "bitset_idx" in fields:
        cat = split & (nodes["is_categorical"] != 0)
        for key in ("raw_left_cat_bitsets", "binned_left_cat_bitsets"):
            bitsets: Any = state.get(key)
            if cat.any() and (type(bitsets) is not np.ndarray or bitsets.ndim < 1
                              or not np.all(nodes["bitset_idx"][cat] < len(bitsets))):
                ok = False
    if not ok:
        raise Unreadable("TreePredictor node table points outside itself (crafted or damaged)")


def _check_hgb_features(np: Any, state: dict) -> None:
    """Every split of a fitted histogram gradient boosting reads a column the model has."""
    predictors: Any = state.get("_predictors")
    if predictors is None:
        return
    n_features: Any = state.get("_n_features")
    if type(n_features) is not int or type(predictors) is not list:
        raise Unreadable("bad HistGradientBoosting state")
    for row in predictors:
        for predictor in (row if type(row) is list else [row]):
            nodes: Any = getattr(predictor, "nodes", None)
            if type(nodes) is not np.ndarray or nodes.dtype.names is None or "feature_idx" not in nodes.dtype.names:
                raise Unreadable("bad HistGradientBoosting state")
            split = nodes["is_leaf"] == 0
            if not np.all(nodes["feature_idx"][split] < n_features):
                raise Unreadable("TreePredictor node table reads a column the model does not have (crafted or "
                                 "damaged)")
