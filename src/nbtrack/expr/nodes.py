"""The nodes of an expression tree: a :class:`Field`, a :class:`Compare` leaf, and/or/not."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Field:
    """A named value: ``metrics.acc`` (group ``metrics``, key ``acc``) or ``status`` (no group)."""

    group: str | None
    key: str
    type: str  # "number" | "int" | "text" | "time" | "any"

    @property
    def ref(self) -> str:
        """How to write the field: ``metrics.acc``, ``metrics["val/acc"]``, ``status``."""
        if self.group is None:
            return self.key
        return f"{self.group}.{self.key}" if _IDENT.match(self.key) else f"{self.group}[{self.key!r}]"

    def __str__(self) -> str:
        return self.ref


@dataclass(frozen=True)
class Compare:
    """``field op value``. ``op`` is one of ``== != < <= > >= in not-in contains not-contains``.

    ``value`` is a literal (``None`` for ``is None``), a tuple for ``in``, a string for
    ``contains`` (``'rf' in params.model``), or another :class:`Field`.
    """

    field: Field
    op: str
    value: Any
    text: str = ""

    def __str__(self) -> str:
        return self.text or f"{self.field} {self.op} {self.value!r}"


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Compare | And | Or | Not
