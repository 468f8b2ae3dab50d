"""Helpers shared by tests (import as `from nbhelpers import ...`)."""

from __future__ import annotations

import os
import time
from pathlib import Path


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


class Kernel:
    """A real IPython kernel (jupyter_client) whose workspace is ``folder``/.nbtrack."""

    def __init__(self, folder: Path) -> None:
        from jupyter_client.manager import start_new_kernel

        env = {**os.environ, "NBTRACK_URI": str(folder / ".nbtrack"), "NBTRACK_NOTEBOOK": str(folder / "nb.ipynb")}
        self.km, self.kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(folder))

    def run(self, code: str, on_stdout=None) -> tuple[float, str, str, str | None]:
        """(seconds, stdout, stderr, error name) of one execution."""
        t0 = time.monotonic()
        out, err, ename = [], [], None
        self.outputs: list[tuple[str, str]] = []  # (kind, text) of every output, in order
        msg_id = self.kc.execute(code)
        while True:
            m = self.kc.get_iopub_msg(timeout=120)
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            kind, c = m["msg_type"], m["content"]
            if kind in ("execute_result", "display_data"):
                self.outputs.append((kind, c["data"].get("text/plain", "")))
            elif kind == "error":
                self.outputs.append((kind, f"{c['ename']}: {c['evalue']}"))
            elif kind == "stream":
                self.outputs.append((c["name"], c["text"]))
            if kind == "stream":
                (out if c["name"] == "stdout" else err).append(c["text"])
                if on_stdout and c["name"] == "stdout":
                    on_stdout(c["text"])
            elif kind == "error":
                ename = c["ename"]
            elif kind == "status" and c["execution_state"] == "idle":
                return time.monotonic() - t0, "".join(out), "".join(err), ename

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)
