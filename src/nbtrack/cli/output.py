"""Printing tables and records: rich tables for people, JSON/CSV for programs."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import click


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


def print_frame(df, fmt: str = "table", title: str | None = None) -> None:
    if fmt == "json":
        click.echo(df.to_json(orient="records", date_format="iso", indent=2))
        return
    if fmt == "csv":
        click.echo(df.to_csv(index=False), nl=False)
        return
    numeric = [df[c].dtype.kind in "iuf" or str(df[c].dtype) in ("Float64", "Int64") for c in df.columns]
    print_rows(list(df.columns), df.itertuples(index=False), title=title, numeric=numeric)


def print_rows(columns: list, rows, title: str | None = None, numeric: list[bool] | None = None) -> None:
    """A rich table of plain rows (no pandas needed: ``nbtrack sweep`` prints its report this way).

    ``numeric`` says which columns to right-align; by default, those whose values are all numbers.
    """
    from rich.console import Console
    from rich.table import Table

    rows = [tuple(r) for r in rows]
    if numeric is None:
        numeric = [all(isinstance(r[i], (int, float)) and not isinstance(r[i], bool) for r in rows
                       if r[i] is not None) and any(r[i] is not None for r in rows) for i in range(len(columns))]
    table = Table(title=title, show_lines=False, header_style="bold", title_justify="left")
    for col, num in zip(columns, numeric):
        table.add_column(str(col), overflow="ellipsis", no_wrap=True, justify="right" if num else "left")
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    # A pipe or file gets the whole table; a terminal gets what fits.
    Console(width=None if sys.stdout.isatty() else 100_000).print(table)
    if not rows:
        click.echo("(no rows)")


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))
