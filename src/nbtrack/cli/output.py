"""Printing tables and records: rich tables for people, JSON/CSV for programs.

Everything printed may hold user text (run names, params, tags, reasons, sources),
so nothing is ever interpreted: table cells are rich ``Text`` (no markup), and
terminal control characters (escape sequences, OSC hyperlinks and titles, bidi
overrides) are shown as visible escapes such as ``\\x1b`` instead of reaching the
terminal. :func:`echo` is ``click.echo`` with that cleaning.
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any

import click

# C0 controls but tab and newline, DEL, C1 controls, bidi marks, embeddings, overrides and isolates
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe(text: Any) -> str:
    """``text`` with every terminal control character replaced by its visible escape."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def echo(message: Any = "", err: bool = False, nl: bool = True) -> None:
    """``click.echo`` for text that may come from a user: control characters made visible."""
    click.echo(safe(message), err=err, nl=nl)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return f"{v:.6g}"
    pd = sys.modules.get("pandas")  # a value can only be a pandas one if pandas is loaded
    if pd is not None:
        if v is pd.NA or v is pd.NaT:
            return ""
        if isinstance(v, pd.Timestamp):
            return v.tz_convert(None).strftime("%Y-%m-%d %H:%M:%S") if v.tzinfo else v.strftime("%Y-%m-%d %H:%M:%S")
    return str(v)


def print_frame(df, fmt: str = "table", title: str | None = None, width: int | None = None,
                max_col: int | None = None) -> None:
    if fmt == "json":
        echo(df.to_json(orient="records", date_format="iso", indent=2))
        return
    if fmt == "csv":
        echo(df.to_csv(index=False), nl=False)
        return
    numeric = [df[c].dtype.kind in "iuf" or str(df[c].dtype) in ("Float64", "Int64") for c in df.columns]
    print_rows(list(df.columns), df.itertuples(index=False), title=title, numeric=numeric, width=width,
               max_col=max_col)


def print_rows(columns: list, rows, title: str | None = None, numeric: list[bool] | None = None,
               width: int | None = None, max_col: int | None = None) -> None:
    """A rich table of plain rows (no pandas needed: ``nbtrack sweep`` prints its report this way).

    ``numeric`` says which columns to right-align; by default, those whose values are all numbers.
    ``width`` is the console width (default: the terminal's, unlimited for a pipe); ``max_col``
    caps each column (longer values end with an ellipsis).
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    rows = [tuple(r) for r in rows]
    if numeric is None:
        numeric = [all(isinstance(r[i], (int, float)) and not isinstance(r[i], bool) for r in rows
                       if r[i] is not None) and any(r[i] is not None for r in rows) for i in range(len(columns))]
    table = Table(show_lines=False, header_style="bold")
    for col, num in zip(columns, numeric):
        table.add_column(Text(safe(col)), overflow="ellipsis", no_wrap=True, justify="right" if num else "left",
                         max_width=max_col)
    for row in rows:
        table.add_row(*(Text(safe(_cell(v))) for v in row))
    # A pipe or file gets the whole table; a terminal gets what fits. The title is a line of its
    # own (never wrapped to the table's width) and no line ends with padding.
    import io

    tty = sys.stdout.isatty()
    buf = io.StringIO()
    Console(file=buf, width=width or (Console().width if tty else 100_000), force_terminal=tty,
            color_system="auto" if tty else None).print(table)
    if title is not None:
        click.echo(safe(title))
    click.echo("\n".join(line.rstrip() for line in buf.getvalue().rstrip("\n").split("\n")))
    if not rows:
        click.echo("(no rows)")


def print_json(data: Any) -> None:
    echo(json.dumps(data, indent=2, default=str))
