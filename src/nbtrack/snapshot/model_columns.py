"""The children of many estimators of one class read column by column, at C speed (for :mod:`.model_print`).

A forest holds a list of a hundred or more estimators of one class, each with the same few
mutable children: a ``classes_`` array and a ``Tree``. Walked one estimator at a time, each
child costs a dozen Python-level steps. :func:`columns` reads a whole column of them (the
``classes_`` of every tree, the ``Tree`` of every tree) with ``map`` over C-level callables
(``attrgetter``, ``itemgetter``, ``Tree.__reduce__``), checks what the one-at-a-time walk
checks, and returns the same information as a few column tokens plus the arrays to hash, in
the walk's order. Anything unusual returns None: the caller walks one estimator at a time.
"""

from __future__ import annotations

from itertools import chain, repeat
from operator import attrgetter, is_, itemgetter
from typing import Any

import numpy as np

_ND = np.ndarray
_DT = attrgetter("dtype")
_CONTIGUOUS = attrgetter("flags.c_contiguous")
_SHAPE = attrgetter("shape")
_NBYTES = attrgetter("nbytes")
_FIRST, _SECOND, _THIRD, _FOURTH, _FIFTH = (itemgetter(i) for i in range(5))
_DEPTH, _COUNT = itemgetter("max_depth"), itemgetter("node_count")
_NODES, _VALUES = itemgetter("nodes"), itemgetter("values")
_N_FEATURES, _N_OUTPUTS = attrgetter("n_features"), attrgetter("n_outputs")
TREE_STATE = ("max_depth", "node_count", "nodes", "values")
A_STAR, T_STAR = "A*", "T*"  # (one object each: the tokens pickle alike however they were made)


def arrays(col: Any, dtypes: dict) -> tuple | None:
    """``("A*", spec, shapes, byte counts)`` for a column of C-contiguous arrays of one remembered
    dtype (the very same dtype object, its field names unchanged), else None.

    The walk's token for each of them would be ``("A", spec, shape, "C", nbytes)`` and its bytes
    are what the walk hashes (a C-contiguous array's buffer, as it is)."""
    dts = list(map(_DT, col))
    dt = dts[0]
    c = dtypes.get(id(dt))
    if (c is None or c[0] is not dt or c[1] is not dt.names or not all(map(is_, dts, repeat(dt)))
            or not all(map(is_, map(type, col), repeat(_ND))) or not all(map(_CONTIGUOUS, col))):
        return None
    return (A_STAR, c[2], tuple(map(_SHAPE, col)), tuple(map(_NBYTES, col)))


def trees(col: Any, tree_type: type, dtypes: dict, known: list | None = None) -> tuple[list, list, list] | None:
    """The tokens, arrays (per lane) and reductions of a column of sklearn ``Tree`` objects read as
    :meth:`.model_print._Walk.tree` reads one: ``("T*", n_features, n_outputs, max_depth,
    node_count)`` (each a tuple over the column) then an :func:`arrays` token for each of the
    class counts, node tables and value arrays. None if any tree has another shape.

    ``known``: per tree, ``(n_outputs, class counts)`` from an earlier reduction of *that very
    tree*. ``Tree.__reduce__`` is ``(Tree, (n_features, class counts, n_outputs),
    __getstate__())``, its class counts a fresh copy of the first ``n_outputs`` entries of a
    buffer only ``Tree.__cinit__`` writes; so while a tree's ``n_outputs`` is what it was, its
    class counts are those bytes again, and ``__getstate__`` plus two attribute reads give
    what ``__reduce__`` would (without the copies). Any other tree is reduced."""
    if not all(map(is_, map(type, col), repeat(tree_type))):
        return None
    states: list[Any]
    if known is not None and len(known) == len(col) and tuple(map(_N_OUTPUTS, col)) == tuple(map(_FIRST, known)):
        states = list(map(tree_type.__getstate__, col))  # type: ignore[attr-defined]
        reds: list[Any] = states
        features, outputs = tuple(map(_N_FEATURES, col)), tuple(map(_FIRST, known))
        classes = list(map(_SECOND, known))
    else:
        reds = list(map(tree_type.__reduce__, col))  # type: ignore[arg-type]
        if (not all(map(is_, map(type, reds), repeat(tuple))) or set(map(len, reds)) != {3}
                or not all(map(is_, map(_FIRST, reds), repeat(tree_type)))):
            return None
        args, states = list(map(_SECOND, reds)), list(map(_THIRD, reds))
        if not all(map(is_, map(type, args), repeat(tuple))) or set(map(len, args)) != {3}:
            return None
        features, outputs, classes = tuple(map(_FIRST, args)), tuple(map(_THIRD, args)), list(map(_SECOND, args))
    if not all(map(is_, map(type, states), repeat(dict))) or set(map(tuple, states)) != {TREE_STATE}:
        return None
    ints = (features, outputs, tuple(map(_DEPTH, states)), tuple(map(_COUNT, states)))
    if not all(map(is_, map(type, chain.from_iterable(ints)), repeat(int))):
        return None
    lanes = [classes, list(map(_NODES, states)), list(map(_VALUES, states))]
    toks: list[Any] = [(T_STAR, *ints)]
    for lane in lanes:
        found = arrays(lane, dtypes)
        if found is None:
            return None
        toks.append(found)
    return toks, lanes, reds


def known_classes(trees: Any, reductions: dict) -> list | None:
    """``known`` for :func:`trees`: per tree, ``(n_outputs, class counts)`` from its reduction in
    ``reductions`` (id(tree) -> that tree's ``__reduce__()``, kept alive by the caller), or None."""
    out = []
    for t in trees:
        r = reductions.get(id(t))
        if r is None:
            return None
        args = r[1]
        out.append((args[2], args[1]))
    return out


def columns(cols: tuple, kinds: tuple, dtypes: dict, known: list | None = None) -> tuple[list, list, list] | None:
    """Tokens, lanes of arrays to hash (item by item: ``zip(*lanes)``) and objects to keep alive,
    for children columns ``cols`` whose kinds are ``numpy.ndarray`` or a ``Tree`` class (``known``: per
    column, what :func:`trees` may take for it)."""
    toks: list[Any] = []
    lanes: list[Any] = []
    keep: list[Any] = []
    for j, (kind, col) in enumerate(zip(kinds, cols)):
        if kind is _ND:
            found = arrays(col, dtypes)
            if found is None:
                return None
            toks.append(found)
            lanes.append(col)
            continue
        tree = trees(col, kind, dtypes, known[j] if known is not None else None)
        if tree is None:
            return None
        toks += tree[0]
        lanes += tree[1]
        keep.append(tree[2])
    return toks, lanes, keep


def from_walk(seq: list, n: int, kinds: tuple) -> list | None:
    """The tokens of :func:`columns` read from the walk's own tokens of ``n`` items, or None if they
    are not in that form. ``seq`` is, item after item: the item's head, then per child (``kinds``)
    a digest token and the child's tokens (an array: one ``("A", spec, shape, "C", nbytes)``; a
    tree: ``("TREE", n_features, n_outputs, max_depth, node_count)`` and three of those), then
    the item's tail (the caller checks heads, digests and tails). Every position of an item is
    a slice ``seq[p::k]`` of the list: each check runs over a whole column in C."""
    sizes = [1 if kind is _ND else 4 for kind in kinds]
    k = 2 + sum(1 + s for s in sizes)
    if len(seq) != n * k:
        return None
    toks: list[Any] = []
    pos = 1
    for size in sizes:
        pos += 1  # (the digest of the values before this child)
        if size == 4:
            col = seq[pos::k]
            if not _shaped(col, "TREE"):
                return None
            toks.append((T_STAR, tuple(map(_SECOND, col)), tuple(map(_THIRD, col)), tuple(map(_FOURTH, col)),
                         tuple(map(_FIFTH, col))))
            pos += 1
        for _lane in range(1 if size == 1 else 3):
            col = seq[pos::k]
            if not _shaped(col, "A") or not all(map(is_, map(_FOURTH, col), repeat("C"))):
                return None
            specs = list(map(_SECOND, col))
            if not all(map(is_, specs, repeat(specs[0]))):
                return None
            toks.append((A_STAR, specs[0], tuple(map(_THIRD, col)), tuple(map(_FIFTH, col))))
            pos += 1
    return toks


def _shaped(col: list, head: str) -> bool:
    """Whether every token of ``col`` is a 5-tuple starting with ``head``."""
    return (all(map(is_, map(type, col), repeat(tuple))) and set(map(len, col)) == {5}
            and set(map(_FIRST, col)) == {head})
