"""The runs table of the browser: columns, one row as HTML, the header, the whole page.

Each row is a flex line of fixed-width cells, so rows drawn by separate widgets
(one per row, next to its checkbox) line up under one header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .html import esc, fmt_duration, fmt_time, fmt_value, status_html, text_table
from .pages import Page, parse_sort

CELL = ("display:inline-block;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;"
        "padding:0 6px;box-sizing:border-box;vertical-align:middle;")
ROW = ("display:inline-flex;align-items:center;vertical-align:middle;font-size:12px;line-height:22px;"
       "font-family:var(--jp-ui-font-family, sans-serif)")


@dataclass(frozen=True)
class Column:
    key: str  # DataFrame column, also the sort key
    title: str
    width: int
    kind: str = "text"  # text | status | time | duration | value


BASE = (
    Column("id", "run", 76, "id"),
    Column("name", "name", 170),
    Column("status", "status", 80, "status"),
    Column("started", "started (UTC)", 150, "time"),
    Column("duration", "duration", 70, "duration"),
    Column("cell_version", "v", 36),
)


def columns(page: Page) -> list[Column]:
    """The base columns, then the page's key params and metrics."""
    extra = [Column(c, c.split(".", 1)[1], 90, "value") for c in page.params + page.metrics]
    return list(BASE) + extra


def cell_text(col: Column, value: Any) -> str:
    """A cell's value as plain text."""
    if col.kind == "time":
        return fmt_time(value)
    if col.kind == "duration":
        return fmt_duration(value)
    if col.kind == "id":
        return str(value or "")[:8]
    if col.key == "cell_version":
        return "" if fmt_value(value) == "" else f"v{fmt_value(value)}"
    return fmt_value(value)


def cell_html(col: Column, value: Any) -> str:
    if col.kind == "status":
        return status_html(value)
    return esc(cell_text(col, value))


def row_html(cols: list[Column], record: dict) -> str:
    """One run as a flex row of fixed-width cells."""
    cells = []
    for col in cols:
        text = cell_text(col, record.get(col.key))
        align = "text-align:right;" if col.kind in ("value", "duration") else ""
        cells.append(f'<span title="{esc(text)}" style="{CELL}{align}width:{col.width}px">'
                     f'{cell_html(col, record.get(col.key))}</span>')
    # a <span>: the row is a checkbox label, where frontends keep phrasing content only
    return f'<span class="nbtrack-row" data-run-id="{esc(record.get("id"))}" style="{ROW}">{"".join(cells)}</span>'


def header_html(cols: list[Column], sort_by: str, indent: int = 0) -> str:
    """Column titles; the sorted column carries an arrow. ``indent`` leaves room for row controls."""
    key, desc = parse_sort(sort_by)
    cells = [f'<span style="{CELL}width:{indent}px"></span>'] if indent else []
    for col in cols:
        arrow = (" \u25bc" if desc else " \u25b2") if col.key == key else ""
        cells.append(f'<span title="{esc(col.key)}" style="{CELL}font-weight:600;width:{col.width}px">'
                     f'{esc(col.title)}{arrow}</span>')
    return f'<div class="nbtrack-header" style="{ROW};display:flex;border-bottom:2px solid #888">{"".join(cells)}</div>'


def records(page: Page) -> list[dict]:
    """The page's rows as dicts (column -> value)."""
    return page.frame.to_dict("records")


def page_html(page: Page, sort_by: str) -> str:
    """The whole page as HTML (for output formats without a widget frontend)."""
    cols = columns(page)
    rows = "".join(row_html(cols, r) for r in records(page))
    return f'<div class="nbtrack-runs">{header_html(cols, sort_by)}{rows}{pager_html(page)}</div>'


def page_text(page: Page) -> str:
    """The whole page as aligned text."""
    cols = columns(page)
    rows = [[cell_text(c, r.get(c.key)) for c in cols] for r in records(page)]
    return text_table([c.title for c in cols], rows, max_width=24) + "\n" + pager_text(page)


def pager_text(page: Page) -> str:
    """``runs 1–25 of 10,000 · page 1/400``."""
    if not page.total:
        return "no runs"
    first = page.page * page.page_size + 1
    last = min(page.total, first + page.page_size - 1)
    return f"runs {first:,}\u2013{last:,} of {page.total:,} \u00b7 page {page.page + 1:,}/{page.pages:,}"


def pager_html(page: Page) -> str:
    return f'<div class="nbtrack-pager" style="font-size:12px;color:#57606a">{esc(pager_text(page))}</div>'
