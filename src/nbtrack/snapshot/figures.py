"""matplotlib figures -> PNG bytes."""

from __future__ import annotations

import io
from typing import Any


def figure_png(fig: Any, dpi: int = 100) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()
