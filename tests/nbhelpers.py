"""Helpers shared by tests (import as `from nbhelpers import ...`)."""

from __future__ import annotations


def outputs_text(cell) -> str:
    """All text a cell showed (streams, results, errors), for assertions."""
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            parts.append(out["text"])
        elif out["output_type"] in ("execute_result", "display_data"):
            parts.append(out["data"].get("text/plain", ""))
        elif out["output_type"] == "error":
            parts.append(f"{out['ename']}: {out['evalue']}")
    return "".join(parts)
