"""Where alerts go: the log, a JSON-lines file, a webhook.

``log`` writes one line per alert to stderr (and the ``nbtrack.monitor`` logger);
``jsonl:PATH`` (or any path ending in ``.jsonl``) appends one JSON object per
alert; an ``http(s)://`` URL receives the same JSON by POST, retried with
exponential backoff on connection errors and 5xx answers, each try bounded by a
timeout. A sink that fails is reported, never fatal: the check goes on.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput

log = logging.getLogger("nbtrack.monitor")
RETRIES = 3
BACKOFF_S = 0.5
TIMEOUT_S = 5.0


@dataclass
class Delivery:
    sink: str
    ok: bool
    detail: str = ""
    attempts: int = 1


def parse_sink(text: str) -> tuple[str, str]:
    """``("log", "")``, ``("jsonl", path)`` or ``("webhook", url)``."""
    t = str(text).strip()
    if t == "log":
        return "log", ""
    if t.startswith(("http://", "https://")):
        return "webhook", t
    if t.startswith("jsonl:"):
        return "jsonl", t[len("jsonl:"):]
    if t.endswith(".jsonl"):
        return "jsonl", t
    raise InvalidInput(f"unknown alert sink {text!r}: use 'log', 'jsonl:PATH' (or a .jsonl path) or an http(s):// URL")


def send(sink: str, payload: dict[str, Any], retries: int = RETRIES, backoff: float = BACKOFF_S,
         timeout: float = TIMEOUT_S) -> Delivery:
    kind, target = parse_sink(sink)
    if kind == "log":
        line = f"nbtrack monitor ALERT {payload.get('model')}: " + "; ".join(payload.get("alerts", []))
        log.info(line)
        print(line, file=sys.stderr)
        return Delivery(sink, True)
    body = json.dumps(payload, sort_keys=True, default=str)
    if kind == "jsonl":
        try:
            os.makedirs(os.path.dirname(os.path.abspath(target)) or ".", exist_ok=True)
            with open(target, "a", encoding="utf-8") as f:
                f.write(body + "\n")
        except OSError as e:
            return Delivery(sink, False, f"cannot append to {target}: {e}")
        return Delivery(sink, True)
    return post(target, body.encode(), retries, backoff, timeout)


def post(url: str, data: bytes, retries: int = RETRIES, backoff: float = BACKOFF_S,
         timeout: float = TIMEOUT_S) -> Delivery:
    """POST JSON; retry connection errors, timeouts and 5xx with backoff (not 4xx)."""
    detail = ""
    for attempt in range(1, retries + 1):
        req = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "nbtrack-monitor"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return Delivery(url, True, f"HTTP {resp.status}", attempt)
        except urllib.error.HTTPError as e:
            detail = f"HTTP {e.code}"
            if e.code < 500:
                return Delivery(url, False, detail, attempt)
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            detail = str(getattr(e, "reason", e))
        if attempt < retries:
            time.sleep(backoff * 2 ** (attempt - 1))
    log.warning("webhook %s failed after %d attempts: %s", url, retries, detail)
    return Delivery(url, False, detail, retries)
