"""One page of runs for the browser: filter and order expressions, paging, key columns.

Only the public API is used: ``nbtrack.runs(limit=, offset=)`` for the rows of
one page and ``nbtrack.count_runs()`` for the total, so a workspace with tens of
thousands of runs costs one small query per page, never a full load.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import nbtrack

from ..expr import all_of
from ..store.runs import RUN_STATUSES

STATUSES = tuple(RUN_STATUSES)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def this_notebook() -> str | None:
    """The notebook the kernel runs (the env variables ``%%track`` reads too)."""
    return os.environ.get("NBTRACK_NOTEBOOK") or os.environ.get("JPY_SESSION_NAME") or None


def field_ref(column: str) -> str:
    """The filter-language reference of a DataFrame column.

    ``"metrics.acc"`` stays as it is; ``"metrics.val/acc"`` becomes
    ``metrics["val/acc"]``; base columns (``"duration"``) are unchanged.
    """
    group, dot, key = column.partition(".")
    if not dot or group not in ("metrics", "params", "tags"):
        return column
    return f"{group}.{key}" if _IDENT.match(key) else f"{group}[{quote(key)}]"


def quote(text: str) -> str:
    """A Python string literal for the filter language."""
    return repr(str(text))


def text_filter(text: str) -> str | None:
    """Runs whose name or id contains ``text``, in any case (the text is quoted as a literal)."""
    text = (text or "").strip()
    if not text:
        return None
    return f"{quote(text)} in name or {quote(text)} in id"


def combine(*parts: str | None) -> str | None:
    """``(a) and (b)`` of the non-empty parts, each checked to be a whole expression on its own."""
    exprs = [_parse(p) for p in parts if p and p.strip()]
    combined = all_of(*exprs)
    return None if combined is None else combined.text


def _parse(text: str):
    from ..query.filters import parse_filter

    return parse_filter(text)


def page_filter(text: str = "", status: str = "", expression: str = ""):
    """The browser's filter as one tree: the name/id box, and the user's expression parsed
    on its own (the status box is a structured filter, see :func:`fetch_page`)."""
    return all_of(*(_parse(p) for p in (text_filter(text), expression) if p and p.strip()))


def build_filter(text: str = "", status: str = "", expression: str = "") -> str | None:
    """The filter expression text for the browser's three filter boxes (for display)."""
    status_expr = f"status == {quote(status)}" if status else None
    return combine(text_filter(text), status_expr, expression)


def parse_sort(sort_by: str) -> tuple[str, bool]:
    """``"-metrics.acc"`` or ``"metrics.acc desc"`` -> (``"metrics.acc"``, descending)."""
    s = (sort_by or "").strip() or "-started"
    desc = s.startswith("-")
    s = s.lstrip("-").strip()
    words = s.rsplit(None, 1)
    if len(words) == 2 and words[1].lower() in ("asc", "desc"):
        s, desc = words[0], words[1].lower() == "desc"
    return s, desc


def order_expr(sort_by: str) -> str:
    """The ``order_by`` argument of ``nbtrack.runs`` for a browser sort key."""
    column, desc = parse_sort(sort_by)
    return f"{field_ref(column)} {'desc' if desc else 'asc'}"


@dataclass
class Page:
    """The rows of one page and what is needed to draw and navigate it."""

    frame: Any  # pandas.DataFrame
    total: int
    page: int
    page_size: int
    params: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def ids(self) -> list[str]:
        return list(self.frame["id"])


def key_columns(frame, prefix: str, limit: int, prefer: tuple[str, ...] = ()) -> list[str]:
    """Up to ``limit`` ``params.*``/``metrics.*`` columns, the most filled first.

    Columns in ``prefer`` (e.g. the one being sorted on) always come first.
    """
    cols = [c for c in frame.columns if c.startswith(prefix)]
    filled = {c: int(frame[c].notna().sum()) for c in cols}
    ranked = sorted(cols, key=lambda c: (c not in prefer, -filled[c], c))
    return [c for c in ranked if filled[c] or c in prefer][:limit]


def fetch_page(
    notebook: str | None,
    filter: Any,
    sort_by: str,
    page: int,
    page_size: int,
    max_params: int = 4,
    max_metrics: int = 4,
    status: str | None = None,
) -> Page:
    """Query one page of runs (raises ``nbtrack.errors.InvalidInput`` for a bad filter).

    Parameters
    ----------
    notebook : str or None
        Only this notebook's runs; ``None`` for every run of the workspace.
    filter : str, Expr or None
        A filter expression (see :func:`page_filter`).
    sort_by : str
        ``"-started"``, ``"metrics.acc desc"``, ``"name"``...
    page, page_size : int
        Zero-based page number and rows per page; ``page`` is clamped to the last page.
    status : str, optional
        Only runs with this status (a structured filter).
    """
    where: dict[str, Any] = {"notebook": notebook or None, "status": status or None}
    total = nbtrack.count_runs(filter=filter, **where)
    pages = max(1, -(-total // page_size))
    page = min(max(0, page), pages - 1)
    frame = nbtrack.runs(filter=filter, order_by=order_expr(sort_by), limit=page_size,
                         offset=page * page_size, **where)
    column, _ = parse_sort(sort_by)
    return Page(frame, total, page, page_size,
                key_columns(frame, "params.", max_params, (column,)),
                key_columns(frame, "metrics.", max_metrics, (column,)))
