"""Values a pipeline notebook records with ``scrapbook.glue`` become the pipeline run's own.

``sb.glue("auc", 0.91)`` -> metric ``auc``; ``sb.glue("scores", df)`` -> artifact
``scraps/scores.parquet``; ``sb.glue("roc", fig, display=True)`` -> artifact
``scraps/roc.png``; any other value -> ``scraps/NAME.json`` or ``.txt``.

Scraps are read from the executed notebook's outputs, the way scrapbook itself
reads them (``scrapbook.models.Notebook``): a data output whose mime type is
``application/scrapbook.scrap.<encoder>+json`` carries ``{name, data, encoder,
version}``; a display output whose metadata says ``{"scrapbook": {"name": ...,
"display": true}}`` is the value's rendering. papermill's older
``application/papermill.record/<mime>`` outputs count too. scrapbook itself is not
imported here (the parent process needs neither it nor IPython).
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass
from typing import Any

GLUE_PREFIX = "application/scrapbook.scrap."
RECORD_PREFIX = "application/papermill.record/"
ARTIFACT_FOLDER = "scraps/"
_DISPLAY_MEDIA = (("image/png", ".png", True), ("image/svg+xml", ".svg", False), ("text/html", ".html", False),
                  ("text/plain", ".txt", False))


@dataclass
class Scrap:
    """One glued value: a metric (``value`` is a float) or an artifact (``data`` bytes)."""

    name: str
    kind: str  # "metric" | "artifact"
    value: float | None = None
    data: bytes = b""
    filename: str = ""
    media_type: str = ""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@-]+", "_", name).strip(".") or "scrap"


def _from_data(name: str, encoder: str, data: Any) -> Scrap:
    if encoder == "json":
        if isinstance(data, str):  # scrapbook's JsonEncoder also accepts a JSON text
            try:
                data = json.loads(data)
            except ValueError:
                pass
        number = _number(data)
        if number is not None:
            return Scrap(name, "metric", value=number)
        return Scrap(name, "artifact", data=json.dumps(data, indent=2, default=str).encode(),
                     filename=f"{_safe(name)}.json", media_type="application/json")
    if encoder == "pandas" and isinstance(data, str):
        return Scrap(name, "artifact", data=base64.b64decode(data), filename=f"{_safe(name)}.parquet",
                     media_type="application/vnd.apache.parquet")
    if encoder == "text":
        return Scrap(name, "artifact", data=str(data).encode(), filename=f"{_safe(name)}.txt",
                     media_type="text/plain")
    payload = json.dumps({"encoder": encoder, "data": data}, default=str).encode()  # an encoder of a plugin
    return Scrap(name, "artifact", data=payload, filename=f"{_safe(name)}.{_safe(encoder)}.json",
                 media_type="application/json")


def _from_display(name: str, bundle: dict) -> Scrap | None:
    for media, ext, is_b64 in _DISPLAY_MEDIA:
        if media in bundle:
            raw = bundle[media]
            text = "".join(raw) if isinstance(raw, list) else str(raw)
            data = base64.b64decode(text) if is_b64 else text.encode()
            return Scrap(name, "artifact", data=data, filename=f"{_safe(name)}{ext}", media_type=media)
    return None


def _data_scraps(output: dict) -> list[Scrap]:
    out = []
    for mime, payload in (output.get("data") or {}).items():
        if mime.startswith(GLUE_PREFIX) and isinstance(payload, dict) and "name" in payload:
            encoder = payload.get("encoder") or mime[len(GLUE_PREFIX):].split("+", 1)[0]
            out.append(_from_data(str(payload["name"]), encoder, payload.get("data")))
        elif mime.startswith(RECORD_PREFIX) and isinstance(payload, dict):
            for name, value in payload.items():  # papermill.record: {name: value}
                out.append(_from_data(str(name), "json", value))
    return out


def read_scraps(nb: dict) -> list[Scrap]:
    """Every scrap of an executed notebook (a parsed ``.ipynb`` dict), the last one of a name winning.

    A name glued with data counts as its data; a name glued only for display (a
    figure, ``display=True`` with the ``display`` encoder) counts as its rendering.
    """
    data: dict[str, Scrap] = {}
    shown: dict[str, Scrap] = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) or []:
            if output.get("output_type") not in ("display_data", "execute_result", "update_display_data"):
                continue
            for s in _data_scraps(output):
                data[s.name] = s
            meta = (output.get("metadata") or {}).get("scrapbook") or {}
            if meta.get("display") and meta.get("name"):
                s_or_none = _from_display(str(meta["name"]), output.get("data") or {})
                if s_or_none is not None:
                    shown[s_or_none.name] = s_or_none
    return list(data.values()) + [s for n, s in shown.items() if n not in data]


def has_scraps(notebook: bytes) -> bool:
    """A cheap test before parsing: does the notebook's text mention a scrap at all?"""
    return GLUE_PREFIX.encode() in notebook or RECORD_PREFIX.encode() in notebook


def record_scraps(run: Any, notebook: bytes) -> list[Scrap]:
    """Log the scraps of executed ``notebook`` on ``run`` (an ActiveRun): numbers as metrics
    (step 0), everything else as artifacts under ``scraps/``. Never raises for a bad scrap."""
    try:
        nb = json.loads(notebook)
    except ValueError:
        return []
    scraps = read_scraps(nb)
    for s in scraps:
        try:
            if s.kind == "metric":
                value = s.value if s.value is not None and math.isfinite(s.value) else None
                run.log_metric(s.name, value if value is not None else float("nan"), step=0)
            else:
                oid = run.put_object(s.data)
                kind = "figure" if s.media_type.startswith("image/") else "file"
                run.add_artifact(oid, ARTIFACT_FOLDER + s.filename, kind, s.media_type, len(s.data))
        except Exception as e:  # a name the store refuses: the run's other records still count
            run.set_tag(f"nbtrack.scrap_error.{_safe(s.name)}", f"{type(e).__name__}: {e}"[:500])
    return scraps
