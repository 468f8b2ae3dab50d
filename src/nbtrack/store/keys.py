"""The id a database gave to a row just inserted."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import CursorResult


def inserted_id(result: CursorResult[Any]) -> int:
    """The primary key of the single row an ``INSERT`` wrote (SQLite and PostgreSQL)."""
    key = result.inserted_primary_key
    if key is None:  # only for executemany or a non-INSERT statement: a bug in the caller
        raise RuntimeError("no primary key: the statement was not a single-row INSERT")
    return int(key[0])
