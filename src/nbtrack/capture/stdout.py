"""A bounded tee of sys.stdout: the cell's output still goes where it went."""

from __future__ import annotations

import sys
from typing import Any

MAX_STDOUT = 1_000_000  # characters kept per run; the rest is counted, not stored


class Tee:
    def __init__(self, stream: Any, limit: int = MAX_STDOUT) -> None:
        self._stream = stream
        self._parts: list[str] = []
        self._size = 0
        self._limit = limit
        self.dropped = 0

    def write(self, s: str) -> int:
        try:
            if isinstance(s, str):
                room = self._limit - self._size
                if room > 0:
                    self._parts.append(s[:room])
                    self._size += min(len(s), room)
                self.dropped += max(0, len(s) - max(room, 0))
        except Exception:
            pass
        return self._stream.write(s)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def text(self) -> str:
        out = "".join(self._parts)
        if self.dropped:
            out += f"\n[nbtrack: {self.dropped} more characters not kept]\n"
        return out


class capture_stdout:
    """Install a Tee on sys.stdout; ``stop()`` restores the previous stream."""

    def __init__(self) -> None:
        self.tee: Tee | None = None
        self._prev: Any = None

    def start(self) -> None:
        self._prev = sys.stdout
        self.tee = Tee(sys.stdout)
        sys.stdout = self.tee

    def stop(self) -> str:
        if self.tee is None:
            return ""
        if sys.stdout is self.tee:
            sys.stdout = self._prev
        text = self.tee.text()
        self.tee = None
        return text
