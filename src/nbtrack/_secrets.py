"""Keys that look like secrets never reach the store."""

from __future__ import annotations

import re

SECRET_KEY = re.compile(r"pass(word|wd)|secret|token|api_?key|credential", re.IGNORECASE)
MASK = "***"


def is_secret_key(key: str) -> bool:
    return bool(SECRET_KEY.search(key))


def mask_value(key: str, value):
    return MASK if is_secret_key(key) else value
