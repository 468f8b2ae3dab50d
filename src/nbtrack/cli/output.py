"""Printing tables and records: rich tables for people, JSON/CSV for programs."""

from __future__ import annotations

import json
import math
from typing import Any

import click


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return f"{v:.6g}"
    try:
        import pandas as pd

        if v is pd.NA or v is pd.NaT:
            return ""
        if isinstance(v, pd.Timestamp):
            return v.tz_convert(None).strftime("%Y-%m-%d %H:%M:%S") if v.tzinfo else v.strftime("%Y-%m-%d %H:%M:%S")
    except ImportError:
        pass
    return str(v)


def print_frame(df, fmt: str = "table", title: str | None = None) -> None:
    if fmt == "json":
        click.echo(df.to_json(orient="records", date_format="iso", indent=2))
        return
    if fmt == "csv":
        click.echo(df.to_csv(index=False), nl=False)
        return
    import sys

    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False, header_style="bold", title_justify="left")
    for col in df.columns:
        numeric = df[col].dtype.kind in "iuf" or str(df[col].dtype) in ("Float64", "Int64")
        table.add_column(str(col), overflow="ellipsis", no_wrap=True, justify="right" if numeric else "left")
    for row in df.itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    # A pipe or file gets the whole table; a terminal gets what fits.
    Console(width=None if sys.stdout.isatty() else 100_000).print(table)
    if df.empty:
        click.echo("(no rows)")


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))
