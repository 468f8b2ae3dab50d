"""Plain HTML and text building blocks shared by the widgets and the quick outputs.

Nothing here imports ipywidgets: the same tables render in a live widget, in
nbconvert HTML and as plain text (``__repr__``) where no frontend runs at all.
Styles are inline so the HTML survives being copied anywhere.
"""

from __future__ import annotations

import html
import math
from datetime import datetime, timezone
from typing import Any
from collections.abc import Iterable, Sequence

STATUS_COLORS = {
    "finished": "#1a7f37",
    "running": "#0969da",
    "snapshotting": "#54aeff",  # the cell ran; its snapshots are being stored in the background
    "failed": "#cf222e",
    "interrupted": "#9a6700",
    "capture_failed": "#8250df",
    "pruned": "#6e7781",  # a tuning trial the sweep stopped early
}
DIFF_BG = "#fff8c5"  # a value that differs between compared runs
TABLE_STYLE = "border-collapse:collapse;font-size:12px;font-family:var(--jp-ui-font-family, sans-serif)"
CELL_STYLE = "padding:2px 8px;border-bottom:1px solid #ddd;text-align:left;white-space:nowrap"


def esc(value: Any) -> str:
    """HTML-escape ``value`` (``None`` becomes an empty string)."""
    return "" if value is None else html.escape(str(value), quote=True)


def is_missing(value: Any) -> bool:
    """True for ``None``, NaN and pandas' ``NA``."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, pd.NA raises or is NA
    except (TypeError, ValueError):
        return True


def fmt_value(value: Any) -> str:
    """A param or metric value as short text (``0.9234``, ``12345.7``, ``rf``)."""
    if is_missing(value):
        return ""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()
    if isinstance(value, (bool, int)):
        return str(value)
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.4g}" if abs(value) < 1 else f"{value:.6g}"
    return str(value)


def fmt_duration(seconds: Any) -> str:
    """``0.42s``, ``12.3s``, ``4m05s``, ``2h03m``; empty when unknown."""
    if is_missing(seconds):
        return ""
    s = float(seconds)
    if s < 60:
        return f"{s:.2f}s" if s < 10 else f"{s:.1f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


def fmt_time(value: Any) -> str:
    """A UTC timestamp (pandas Timestamp, datetime or epoch seconds) as ``YYYY-MM-DD HH:MM:SS``."""
    if is_missing(value):
        return ""
    if isinstance(value, (int, float)):
        value = datetime.fromtimestamp(float(value), tz=timezone.utc)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def status_html(status: str | None) -> str:
    """The status word in its colour."""
    color = STATUS_COLORS.get(status or "", "#57606a")
    return f'<span style="color:{color};font-weight:600">{esc(status)}</span>'


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    row_styles: Sequence[str] | None = None,
    attrs: str = "",
) -> str:
    """An HTML table. ``headers`` are escaped; cells are HTML already (escape them first).

    Parameters
    ----------
    headers : sequence of str
        Column titles (plain text).
    rows : iterable of sequences of str
        Cells as HTML snippets.
    row_styles : sequence of str, optional
        Extra inline style per row (e.g. a highlight background).
    attrs : str
        Extra attributes of the ``<table>`` element (``class="..."``).
    """
    head = "".join(f'<th style="{CELL_STYLE};border-bottom:2px solid #888">{esc(h)}</th>' for h in headers)
    body = []
    for i, row in enumerate(rows):
        style = row_styles[i] if row_styles and i < len(row_styles) else ""
        cells = "".join(f'<td style="{CELL_STYLE}">{c}</td>' for c in row)
        body.append(f'<tr style="{style}">{cells}</tr>')
    return (f'<table {attrs} style="{TABLE_STYLE}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def text_table(headers: Sequence[str], rows: Iterable[Sequence[str]], max_width: int = 40) -> str:
    """The same table as aligned plain text, for ``__repr__`` outside HTML frontends."""
    rows = [[str(c)[:max_width] for c in r] for r in rows]
    heads = [str(h)[:max_width] for h in headers]
    widths = [max([len(h)] + [len(r[i]) for r in rows if i < len(r)]) for i, h in enumerate(heads)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    out = [line(heads), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)


def png_img(png: bytes, alt: str = "plot") -> str:
    """An ``<img>`` with the PNG inlined as base64, so the HTML is self-contained."""
    import base64

    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{data}"/>'


def figure_png(fig) -> bytes:
    """A matplotlib figure as PNG bytes."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    return buf.getvalue()


class Rich:
    """A quick output that renders as HTML in notebooks and as text everywhere else.

    Returned by ``%track_history`` and ``%track_compare``: nbconvert, VS Code and
    plain terminals get the same content without a live widget kernel.
    """

    def __init__(self, html_text: str, text: str, data: Any = None) -> None:
        self.html = html_text
        self.text = text
        self.data = data

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__
