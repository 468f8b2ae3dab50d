"""A model's content fingerprint read the way :mod:`.model_raw` reads it: what makes re-logs cheap.

Re-logging an unchanged model must cost a small share of saving it, yet must never take a
model changed in place (a refit tree, an array edited) for the stored one. The generic
fingerprint (``pickle`` protocol 5 with out-of-band buffers, :func:`.model_io.fingerprint`)
spends its time in pickle's per-object machinery and in scikit-learn's Python
``__getstate__`` of every estimator. This walk visits the same object graph as
:class:`.model_raw._Encoder` (the same types, the same state, the same shared references)
and hashes it instead of building an archive:

* the structure goes into a flat token list: scalars as themselves, every container or object
  as a marker tuple carrying its kind, class name and length (a token list is therefore
  self-delimiting: equal lists mean equal structure), shared objects as back-references
  numbered in order of first visit, as the archive's memo ids are;
* every numeric array's marker carries its dtype, shape, order and byte count, and its bytes
  go straight from its buffer into one streaming xxh3-128 hash (no copy, except for an array
  that is neither C nor F contiguous, which the archive copies too);
* a scikit-learn estimator whose class keeps pickle's default reduction and
  ``BaseEstimator.__getstate__`` (its state is its ``__dict__`` plus the library version) is
  read from its ``__dict__`` directly; every other object is reduced exactly as the encoder
  reduces it (``__reduce_ex__(2)``, or ``__reduce__`` for the constructed ``Tree`` and losses).

Anything the archive format cannot hold raises :class:`.model_raw.NotFast` here too, and the
caller falls back to the pickle fingerprint, so a model gets this fingerprint exactly when it
would be written as ``nbtrack.model/1``. Fingerprints are in-process cache keys, never stored.
"""

from __future__ import annotations

import pickle
import weakref
from itertools import chain, repeat
from operator import attrgetter, is_, itemgetter
from typing import Any

import numpy as np
import xxhash

from . import model_columns
from .model_raw import _BIT_GENERATORS, CONSTRUCTED, _TREE, NotFast, _class_name, checked_reduce, plain_state

_ND = np.ndarray
_GENERIC = np.generic
_DTYPE = np.dtype
_RS = np.random.RandomState
_GEN = np.random.Generator
_HEAPTYPE = 1 << 9
_EST, _REDUCE = 1, 2  # how a class's state is read: its __dict__ (default sklearn pickling), or reduced
_KINDS: dict[type, tuple[int, str]] = {}
_SPECS: dict[Any, Any] = {}
_DTYPES: dict[int, tuple[Any, Any, Any]] = {}  # id(dtype) -> (the dtype, its field names, its spec)
_SPEC_OBJECTS: dict[bytes, Any] = {}  # pickled spec -> one object for it (tokens pickle alike: pickle shares objects)
_NONE = type(None)  # (a plan's "no shortcut" mark)
_TREE_STATE = ("max_depth", "node_count", "nodes", "values")
_PLAN, _HEAD, _TAIL, _KEYS, _VALS = map(attrgetter, ("plan", "head", "tail", "keys", "vals"))
_FIRST, _SECOND, _THIRD = itemgetter(0), itemgetter(1), itemgetter(2)
_SCALARS = frozenset({str, int, float, bool, type(None)})  # dtype -> the archive's dtype spec (or the NotFast message)


def fingerprint(obj: Any, trusted: Any) -> str | None:
    """The fingerprint of ``obj`` if it is an ``nbtrack.model/1`` candidate (classes passing
    ``trusted``), else None (the caller uses the generic fingerprint)."""
    w = _Walk(trusted)
    try:
        w.root(obj)
    except (NotFast, RecursionError):
        return None
    h = w.h
    h.update(pickle.dumps(w.tok, protocol=5))
    return f"raw:{len(w.tok)}:{h.hexdigest()}"


def _kind(t: type, trusted: Any) -> tuple[int, str]:
    """How objects of class ``t`` are read (cached per class; raises NotFast like the encoder)."""
    found = _KINDS.get(t)
    if found is None:
        name = _class_name(t)  # (raises NotFast for classes not importable by name)
        if not trusted(name):
            raise NotFast(f"class not trusted by default: {name}")
        found = _KINDS[t] = (_EST if _plain_estimator(t) else _REDUCE, name)
    return found


def _plain_estimator(t: type) -> bool:
    """Whether ``t.__reduce_ex__(2)`` is ``(copyreg.__newobj__, (t,), __dict__ + _sklearn_version)``
    for every instance: a scikit-learn class with pickle's default reduction, scikit-learn's
    ``__getstate__``, no ``__getnewargs__`` and only Python classes (no slots) above it."""
    from sklearn.base import BaseEstimator

    if not t.__module__.startswith("sklearn.") or _class_name(t) in CONSTRUCTED:
        return False
    if (t.__reduce_ex__ is not object.__reduce_ex__ or t.__reduce__ is not object.__reduce__
            or getattr(t, "__getstate__", None) is not BaseEstimator.__getstate__
            or hasattr(t, "__getnewargs__") or hasattr(t, "__getnewargs_ex__")):
        return False
    for c in t.__mro__[:-1]:  # (the last is object)
        if not c.__flags__ & _HEAPTYPE or c.__dict__.get("__slots__") or c.__module__ == "builtins":
            return False
    return t.__mro__[-1] is object


class _Entry:
    __slots__ = ("ref", "t", "head", "keys", "vals", "plan", "tail", "lists", "__weakref__")

    ref: Any
    t: type
    head: tuple
    keys: tuple
    vals: tuple
    plan: list
    tail: tuple
    lists: dict | None  # id(list child) -> its _Batch (the entry holds the list itself in vals)


class _Batch:
    """A list of plain estimators of one class, as its last walk found it (see :meth:`_Walk.items`).

    It holds every item, every key and every value of their ``__dict__`` (so identity checks
    stay exact while it lives); its owner's entry holds it, so it goes with the owner."""

    __slots__ = ("v", "items", "t", "lens", "keys", "vals", "kinds", "cols", "ids", "head", "known")

    v: list
    items: tuple
    t: type
    lens: list
    keys: tuple
    vals: tuple
    kinds: tuple  # per child of an item: numpy.ndarray or the Tree class
    cols: tuple  # per child: the column of those children, item by item
    ids: tuple  # id() of each item then of its children, in the walk's (memo) order
    head: tuple  # ("LB", class name, items, child kinds, digest of the items' own tokens)
    known: list  # per child: for a column of trees, each one's (n_outputs, class counts) (see model_columns.trees)


_CACHE: dict[int, _Entry] = {}  # id(estimator) -> what its last walk found (dropped when it is freed)
_CACHE_MAX = 1 << 16


def _remember(v: Any, t: type, head: tuple, keys: tuple, vals: tuple, plan: list, tail: tuple,
              lists: dict | None) -> _Entry:
    """The entry for ``v``, remembered while ``v`` lives (if it can be weakly referenced)."""
    key = id(v)
    e = _Entry()
    e.t, e.head, e.keys, e.vals, e.plan, e.tail, e.lists = t, head, keys, vals, plan, tail, lists
    entry = weakref.ref(e)

    def forget(_: Any, key: int = key, entry: Any = entry) -> None:
        if _CACHE.get(key) is entry():  # (a newer object at the same address keeps its entry)
            _CACHE.pop(key, None)

    try:
        e.ref = weakref.ref(v, forget)
    except TypeError:  # not weak-referenceable: not remembered
        return e
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[key] = e
    return e


def _digest(chunk: list) -> tuple:
    """One token standing for a run of immutable tokens (its xxh3-128 digest, with its length)."""
    return ("C", len(chunk), xxhash.xxh3_128_digest(pickle.dumps(chunk, protocol=5)))


def _immutable(x: Any) -> bool:
    """Whether ``x``'s tokens depend on nothing that can change in place (so identity suffices)."""
    t = type(x)
    if x is None or t is str or t is int or t is float or t is bool or t is type:
        return True
    if t is tuple:
        return all(_immutable(y) for y in x)
    return isinstance(x, _GENERIC)


def _spec(dt: Any) -> Any:
    """The archive's spec of dtype ``dt`` (the encoder's rules), remembered per dtype value."""
    key = (dt, dt.names)  # (a dtype's hash is cached and its field names can be changed in place)
    spec = _SPECS.get(key)
    if spec is None:
        from .model_raw import _Encoder

        try:
            spec = ("ok", _freeze(_Encoder._dtype(_Encoder(), dt)))
        except NotFast as e:
            spec = ("no", str(e))
        if len(_SPECS) < 256:
            _SPECS[key] = spec
    if spec[0] == "no":
        raise NotFast(spec[1])
    return spec[1]


def _freeze(spec: Any) -> Any:
    if type(spec) is dict:
        return tuple((k, _freeze(v)) for k, v in spec.items())
    if type(spec) is list:
        return tuple(_freeze(v) for v in spec)
    return spec


class _Walk:
    __slots__ = ("h", "tok", "memo", "keep", "building", "trusted", "made", "reds")

    def __init__(self, trusted: Any) -> None:
        self.h = xxhash.xxh3_128()
        self.tok: list[Any] = []
        self.memo: dict[int, int] = {}
        self.keep: list[Any] = []  # temporaries whose id() must stay unique while walking
        self.building: set[int] = set()
        self.trusted = trusted
        self.made: dict[int, _Batch] = {}  # id(list) -> the _Batch its walk made (for its owner's entry)
        self.reds: dict[int, tuple] = {}  # id(tree) -> its __reduce__() in this walk (kept alive in keep)

    def root(self, obj: Any) -> None:
        t = type(obj)
        if (t.__module__ == "builtins" or isinstance(obj, (_GENERIC, type, _DTYPE, _ND))
                or t is _RS or t is _GEN):
            raise NotFast("not an estimator object")  # (the encoder's root must be an object)
        self.walk(obj)

    def walk(self, v: Any) -> None:  # noqa: C901 - one dispatch on the exact type, as the encoder's
        t = type(v)
        tok = self.tok
        if t is _ND:
            ref = self.memo.get(id(v))
            if ref is None:
                self.memo[id(v)] = len(self.memo)
                self.keep.append(v)
                self.array(v)
            else:
                tok.append(("R", ref))
            return
        if v is None or t is str or t is int or t is float or t is bool:
            tok.append(v)
            return
        k = _KINDS.get(t)
        if k is not None and k[0] == _EST:  # (a plain estimator class seen before: straight to its dict)
            memo = self.memo
            ref = memo.get(id(v))
            if ref is not None:
                if ref in self.building:
                    raise NotFast("an object refers to itself through its constructor arguments")
                tok.append(("R", ref))
                return
            memo[id(v)] = len(memo)
            self.keep.append(v)
            self.estimator(v, t, k[1])
            return
        if t is tuple:
            tok.append(("T", len(v)))
            for x in v:
                tok.append(x) if type(x) in _SCALARS else self.walk(x)
            return
        if t is list or t is dict or t is _ND or (t.__module__ != "builtins" and not isinstance(v, _GENERIC)
                                                  and not isinstance(v, (type, _DTYPE))):
            memo = self.memo
            ref = memo.get(id(v))
            if ref is not None:
                if ref in self.building:
                    raise NotFast("an object refers to itself through its constructor arguments")
                tok.append(("R", ref))
                return
            n = memo[id(v)] = len(memo)
            self.keep.append(v)
            if t is _ND:
                self.array(v)
            elif t is list:
                tok.append(("L", len(v)))
                self.items(v, None)
            elif t is dict:
                tok.append(("D", len(v)))
                for k, x in v.items():
                    tok.append(k) if type(k) in _SCALARS else self.walk(k)
                    tok.append(x) if type(x) in _SCALARS else self.walk(x)
            else:
                self.obj(v, t, n)
            return
        if isinstance(v, _GENERIC):
            dt = v.dtype
            if t is not dt.type or dt.hasobject or dt.fields is not None:
                raise NotFast(f"numpy scalar {t.__name__}")
            tok.append(("NS", dt.str, v.tobytes()))
            return
        if isinstance(v, _DTYPE):
            tok.append(("DT", _spec(v)))
            return
        if t is type:
            from .model_raw import _Encoder

            tok.append(("TY", _Encoder.scalar_type(_Encoder(), v)))
            return
        if t is slice:
            tok.append(("SL",))
            self.walk(v.start)
            self.walk(v.stop)
            self.walk(v.step)
            return
        raise NotFast(f"{t.__module__}.{t.__qualname__}")

    def array(self, a: Any) -> None:
        dt = a.dtype
        c = _DTYPES.get(id(dt))
        if c is not None and c[0] is dt and c[1] is dt.names:  # (names: the same tuple unless replaced)
            try:
                self.h.update(a)  # (takes a plain buffer only from a C-contiguous array)
            except (BufferError, ValueError, TypeError):
                pass
            else:
                self.tok.append(("A", c[2], a.shape, "C", a.nbytes))
                return
        self.array_slow(a, dt)

    def array_slow(self, a: Any, dt: Any) -> None:
        if dt.hasobject:
            if dt != object:
                raise NotFast("structured array with objects")
            self.tok.append(("OA", a.shape, a.size))
            items = a.reshape(-1, order="C").tolist()  # (an object array's items are its objects)
            if all(map(is_, map(type, items), repeat(str))):  # (strings: tokens as walk() makes them)
                self.tok += items
                return
            for x in items:
                if type(x) in (list, tuple, dict) or isinstance(x, _ND):
                    raise NotFast("object array holding sequences")
                self.walk(x)
            return
        spec = dt.str if dt.fields is None and dt.subdtype is None and not dt.metadata else _spec(dt)
        if len(_SPEC_OBJECTS) < 256:  # (keyed by its pickle: 1, 1.0 and True are not one spec)
            spec = _SPEC_OBJECTS.setdefault(pickle.dumps(spec, protocol=5), spec)
        if len(_DTYPES) < 256:  # (a dtype's field names can be changed in place: checked on use)
            _DTYPES[id(dt)] = (dt, dt.names, spec)
        flags = a.flags
        if flags.c_contiguous:
            data, order = a, "C"
        elif flags.f_contiguous:
            data, order = a.T, "F"
        else:
            data, order = np.ascontiguousarray(a), "C"
        nbytes = a.nbytes
        self.tok.append(("A", spec, a.shape, order, nbytes))
        if nbytes:
            self.h.update(data.reshape(-1).view(np.uint8))

    def obj(self, v: Any, t: type, n: int) -> None:
        if t is _RS:
            state = v.get_state(legacy=True)
            if type(state) is not tuple or state[0] != "MT19937":
                raise NotFast("RandomState without MT19937")
            self.tok.append(("RS",))
            self.walk(state)
            return
        if t is _GEN:
            bits = v.bit_generator
            name = type(bits).__name__
            if name not in _BIT_GENERATORS or getattr(np.random, name) is not type(bits):
                raise NotFast(f"bit generator {name}")
            state = bits.state
            self.keep.append(state)
            self.tok.append(("GEN", name))
            self.walk(state)
            return
        kind, name = _kind(t, self.trusted)
        tok = self.tok
        if kind == _EST:
            self.estimator(v, t, name)
            return
        if name in CONSTRUCTED:
            if name != _TREE or not self.tree(v):
                self.constructed(v, n, name)
            return
        state = plain_state(v, t, name)
        if state is None:
            tok.append(("O", name, -1))
            return
        self.keep.append(state)
        tok.append(("O", name, len(state)))
        for k, x in state.items():
            tok.append(k)
            tok.append(x) if type(x) in _SCALARS else self.walk(x)

    def estimator(self, v: Any, t: type, name: str) -> _Entry:
        """A plain scikit-learn estimator: its ``__dict__``, the immutable part remembered (the
        entry that describes the tokens it emitted is returned: :meth:`rebatch` reads them).

        The tokens of its immutable values (scalars, numpy scalars, tuples of them) are kept
        per object with strong references to every value; while the object still holds
        exactly those values (same keys, each value the very same object), they are emitted
        again as they are, and only its mutable values (arrays, trees, lists, dicts, nested
        estimators) are walked again."""
        d = v.__dict__
        tok = self.tok
        e = _CACHE.get(id(v))
        if (e is not None and e.ref() is v and e.t is t and len(d) == len(e.keys)
                and all(map(is_, d, e.keys)) and all(map(is_, d.values(), e.vals))):
            tok.append(e.head)  # (("O", name, len(d)), as below)
            memo = self.memo
            for done, child, ct in e.plan:  # (what walk() does, without its dispatch)
                tok.append(done)
                if type(child) is not ct or ct is _NONE:
                    self.walk(child)
                    continue
                ref = memo.get(id(child))
                if ref is not None:
                    if ct is not _ND and ref in self.building:  # (as walk() does)
                        raise NotFast("an object refers to itself through its constructor arguments")
                    tok.append(("R", ref))
                    continue
                n = memo[id(child)] = len(memo)  # (child is alive: e.vals holds it)
                if ct is list:
                    tok.append(("L", len(child)))
                    self.items(child, e)
                elif ct is _ND:
                    dt = child.dtype
                    c = _DTYPES.get(id(dt))
                    if c is not None and c[0] is dt and c[1] is dt.names:  # (array(), inlined)
                        try:
                            self.h.update(child)
                        except (BufferError, ValueError, TypeError):
                            pass
                        else:
                            tok.append(("A", c[2], child.shape, "C", child.nbytes))
                            continue
                    self.array_slow(child, dt)
                elif not self.tree(child):
                    self.keep.append(child)
                    self.constructed(child, n, _TREE)
            tok.append(e.tail)
            return e
        head = ("O", name, len(d))
        tok.append(head)
        plan: list[tuple[tuple, Any, type]] = []
        lists: dict[int, _Batch] | None = None
        chunk: list[Any] = []
        for k, x in d.items():
            if type(k) is not str:
                raise NotFast(f"{name}: state is not a plain dict")
            chunk.append(k)
            if _immutable(x):
                start = len(tok)
                self.walk(x)
                chunk.extend(tok[start:])
                del tok[start:]
            else:
                done = _digest(chunk)
                tok.append(done)
                chunk = []
                self.walk(x)
                tx = type(x)
                if tx is list and id(x) in self.made:
                    lists = lists or {}
                    lists[id(x)] = self.made.pop(id(x))
                plan.append((done, x, tx if tx is _ND or tx is list or _KINDS.get(tx, (0, ""))[1] == _TREE
                             else _NONE))
        tail = _digest(chunk)
        tok.append(tail)
        return _remember(v, t, head, tuple(d), tuple(d.values()), plan, tail, lists)

    def items(self, v: list, owner: _Entry | None) -> None:
        """The items of list ``v`` (its ``("L", n)`` token is out), in column form when they are
        plain estimators of one class whose mutable children are all arrays and trees.

        Column form: one ``("LB", class, n, kinds, digest)`` token (the digest covers every
        item's own tokens: its head, the digests of its immutable values, its tail), then per
        child the columns of :func:`.model_columns.columns`, and the children's bytes hashed
        item by item as the walk hashes them. It is used exactly when the walk of the items
        produced what the columns stand for (checked token by token in :meth:`rebatch`), so it
        is a function of the walk's tokens: the same state, the same print, however it is read.
        Once made, it is remembered with the list's owner and later walks check it with a few
        C-level passes (:meth:`batch`) instead of walking every item."""
        b = owner.lists.get(id(v)) if owner is not None and owner.lists else None
        if b is not None and b.v is v and self.batch(b):
            return
        start = len(self.tok)
        tok, memo, keep, kinds = self.tok, self.memo, self.keep, _KINDS
        entries: list[_Entry] = []  # (of the items read as plain estimators, in order)
        for x in v:
            tx = type(x)
            if tx in _SCALARS:
                tok.append(x)
                continue
            k = kinds.get(tx)
            if k is None or k[0] != _EST or id(x) in memo:
                self.walk(x)
                continue
            memo[id(x)] = len(memo)  # (a plain estimator seen before, as walk() would: its dict)
            keep.append(x)
            entries.append(self.estimator(x, tx, k[1]))
        b = self.rebatch(v, start, entries) if len(entries) == len(v) else None
        if owner is None:
            if b is not None:
                self.made[id(v)] = b
        elif b is not None:
            owner.lists = owner.lists or {}
            owner.lists[id(v)] = b
        elif owner.lists:
            owner.lists.pop(id(v), None)

    def batch(self, b: _Batch) -> bool:
        """Emit list ``b.v``'s column form if its items, their dicts and the children's kinds are
        as :meth:`rebatch` found them (identity checks), else False having emitted nothing."""
        v = b.v
        if (len(v) != len(b.items) or not all(map(is_, v, b.items))
                or not all(map(is_, map(type, v), repeat(b.t)))):
            return False
        dicts: list[dict] = list(map(vars, v))
        if (not all(map(is_, map(type, dicts), repeat(dict))) or list(map(len, dicts)) != b.lens
                or not all(map(is_, chain.from_iterable(dicts), b.keys))
                or not all(map(is_, chain.from_iterable(map(dict.values, dicts)), b.vals))):
            return False
        memo = self.memo
        if not memo.keys().isdisjoint(b.ids):  # (a back-reference: the walk's tokens would differ)
            return False
        try:
            found = model_columns.columns(b.cols, b.kinds, _DTYPES, b.known)
        except Exception:
            return False
        if found is None:
            return False
        toks, lanes, keep = found
        self.keep.append(keep)
        if any(kind is not _ND and known is None for kind, known in zip(b.kinds, b.known)):
            self.learn(b, keep)
        n = len(memo)
        memo.update(zip(b.ids, range(n, n + len(b.ids))))
        self.tok.append(b.head)
        self.tok += toks
        try:  # (the arrays were checked C-contiguous: their plain buffers, as the walk hashes them)
            any(map(self.h.update, chain.from_iterable(zip(*lanes))))
        except Exception as e:
            raise NotFast(f"hash: {e}") from None
        return True

    @staticmethod
    def learn(b: _Batch, keep: list) -> None:
        """Note the class counts of ``b``'s trees that :func:`.model_columns.columns` just reduced
        (``keep``: per column of trees, its reductions, or states where they were known)."""
        reds = iter(keep)
        known = list(b.known)
        for j, kind in enumerate(b.kinds):
            if kind is _ND:
                continue
            col = next(reds)
            if known[j] is None:
                known[j] = [(r[1][2], r[1][1]) for r in col]
        b.known = known

    def rebatch(self, v: list, start: int, entries: list[_Entry]) -> _Batch | None:
        """After the walk of list ``v``'s items (tokens from ``start``): if they are plain estimators
        of one class whose children are arrays and trees, and the walk's tokens are in the form
        :func:`.model_columns.from_walk` reads, put the column form in their place and return the
        _Batch. (The column form is read from the walk's tokens, so it is a function of them; a
        later :meth:`batch` makes the same tokens from the objects: the tests compare the two.)"""
        n = len(v)
        if n < 2:
            return None
        t = type(v[0])
        k = _KINDS.get(t)
        if k is None or k[0] != _EST or not all(map(is_, map(type, v), repeat(t))):
            return None
        if not all(map(is_, map(type, map(vars, v)), repeat(dict))):
            return None
        plans = list(map(_PLAN, entries))
        kinds = tuple(p[2] for p in plans[0])
        m = len(kinds)
        if (not m or any(ct is not _ND and _KINDS.get(ct, (0, ""))[1] != _TREE for ct in kinds)
                or set(map(len, plans)) != {m}):
            return None
        steps = [list(map(itemgetter(j), plans)) for j in range(m)]  # (per child: each item's plan step)
        if not all(all(map(is_, map(_THIRD, step), repeat(ct))) for step, ct in zip(steps, kinds)):
            return None
        tok = self.tok
        seq = tok[start:]
        size = 2 + sum(2 if kind is _ND else 5 for kind in kinds)  # (tokens per item, if in that form)
        heads, tails = list(map(_HEAD, entries)), list(map(_TAIL, entries))
        dones = [list(map(_FIRST, step)) for step in steps]
        if (len(seq) != n * size or not all(map(is_, seq[0::size], heads))
                or not all(map(is_, seq[size - 1::size], tails))):
            return None
        pos = 1
        for done, kind in zip(dones, kinds):  # (the digests of each item's values before each child)
            if not all(map(is_, seq[pos::size], done)):
                return None
            pos += 2 if kind is _ND else 5
        toks = model_columns.from_walk(seq, n, kinds)
        if toks is None:
            return None
        batch = _Batch()
        batch.v, batch.items, batch.t, batch.kinds = v, tuple(v), t, kinds
        batch.cols = tuple(tuple(map(_SECOND, step)) for step in steps)
        batch.known = [None if kind is _ND else model_columns.known_classes(col, self.reds)
                       for kind, col in zip(kinds, batch.cols)]
        keys = list(map(_KEYS, entries))
        batch.lens = list(map(len, keys))
        batch.keys = tuple(chain.from_iterable(keys))
        batch.vals = tuple(chain.from_iterable(map(_VALS, entries)))
        batch.ids = tuple(chain.from_iterable(zip(map(id, v), *(map(id, col) for col in batch.cols))))
        own = pickle.dumps((heads, *dones, tails), protocol=5)
        batch.head = ("LB", k[1], n, tuple("A" if ct is _ND else "T" for ct in kinds), xxhash.xxh3_128_digest(own))
        del tok[start:]
        tok.append(batch.head)
        tok += toks
        return batch

    def tree(self, v: Any) -> bool:
        """sklearn's ``Tree`` in its usual shape, read with one ``__reduce__`` (False: other shape).

        Its arrays (node table, values, class counts) are made afresh by every ``__reduce__``,
        so they can share nothing with the rest of the graph: hashed directly, not memoized."""
        try:
            r = v.__reduce__()
        except Exception as e:
            raise NotFast(f"{_TREE}: {e}") from None
        if type(r) is not tuple or len(r) != 3:
            return False
        cls, args, state = r
        if (cls is not type(v) or type(args) is not tuple or len(args) != 3 or type(state) is not dict
                or tuple(state) != _TREE_STATE):
            return False
        features, classes, outputs = args
        depth, count, nodes, values = state.values()
        if (type(features) is not int or type(classes) is not _ND or type(outputs) is not int or type(depth) is not int
                or type(count) is not int or type(nodes) is not _ND or type(values) is not _ND):
            return False
        self.keep.append(r)
        self.reds[id(v)] = r
        tok = self.tok
        tok.append(("TREE", features, outputs, depth, count))
        update: Any = self.h.update
        known = _DTYPES.get
        for a in (classes, nodes, values):  # (what array() does, inlined: three arrays per tree)
            dt = a.dtype
            c = known(id(dt))
            if c is not None and c[0] is dt and c[1] is dt.names:  # (names: the same tuple unless replaced)
                try:
                    update(a)
                except (BufferError, ValueError, TypeError):
                    pass
                else:
                    tok.append(("A", c[2], a.shape, "C", a.nbytes))
                    continue
            self.array_slow(a, dt)
        return True

    def constructed(self, v: Any, n: int, name: str) -> None:
        reduced, state = checked_reduce(v, name)
        self.keep.append(reduced)
        self.building.add(n)
        tok = self.tok
        tok.append(("K", name, len(reduced[1])))
        for x in reduced[1]:
            tok.append(x) if type(x) in _SCALARS else self.walk(x)
        self.building.discard(n)
        if state:
            tok.append(("S", len(state)))
            for k, x in state.items():
                tok.append(k) if type(k) in _SCALARS else self.walk(k)
                tok.append(x) if type(x) in _SCALARS else self.walk(x)
        else:
            tok.append(("S", -1))

