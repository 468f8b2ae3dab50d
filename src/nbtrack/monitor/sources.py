"""Where drift and validation get their data: references resolved through lineage,
current data streamed chunk by chunk.

``"churn@production"`` names a model version; its training dataset version is the
one the version recorded when it was logged (``%%track`` links the frame ``fit``
was called on), so the user never hands the reference over. ``"customers@3"``
names a dataset version directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput, NotFound
from ..workspace import Workspace, get_workspace


@dataclass
class Reference:
    """A resolved reference: the dataset version, and the model version when one was named."""

    dataset: Any  # DatasetVersion
    model: Any = None  # ModelVersion or None
    text: str = ""

    @property
    def features(self) -> list[str] | None:
        """The model's input columns (its signature), if known."""
        sig = getattr(self.model, "signature", None) or {}
        inputs = sig.get("inputs") or []
        names = [i["name"] for i in inputs if i.get("name")]
        return names or None


def _is_model(ref: str, ws: Workspace) -> bool:
    from ..snapshot.models import model_id

    name = ref.partition("@")[0]
    try:
        with ws.meta.read() as conn:
            return model_id(conn, name) is not None
    except Exception:
        return False


def resolve_reference(ref: Any, workspace: Workspace | None = None) -> Reference:
    """A model reference (training data from lineage), a dataset reference or version."""
    from ..snapshot.datasets import DatasetVersion, get_version, version_by_id
    from ..snapshot.models import ModelVersion, get_model_version

    ws = workspace or get_workspace()
    if isinstance(ref, DatasetVersion):
        return Reference(ref, None, str(ref))
    if isinstance(ref, ModelVersion):
        mv = ref
    elif isinstance(ref, str) and _is_model(ref, ws):
        mv = get_model_version(ref, ws)
    elif isinstance(ref, str):
        return Reference(get_version(ref, ws), None, ref)
    else:
        raise InvalidInput(f"reference must be 'model@alias', 'model@N' or 'dataset@N', got {type(ref).__name__}")
    if mv.dataset_version_id is None:
        raise NotFound(f"model {mv.ref} has no recorded training dataset: snapshot the training frame in the "
                       "cell that fits it (or pass dataset_version= to nbtrack.log_model), or give a dataset "
                       "reference such as 'customers@3'")
    return Reference(version_by_id(mv.dataset_version_id, ws), mv, str(ref) if isinstance(ref, str) else mv.ref)


def column_names(version: Any) -> list[str]:
    return [str(c["name"]) for c in version.manifest["columns"]]


def iter_version(version: Any, columns: list[str] | None = None) -> Iterator[Any]:
    """The rows of a dataset version as pandas DataFrames, one stored chunk at a time
    (only ``columns`` are read), so a version larger than memory can be streamed."""
    import base64

    import pyarrow as pa
    import pyarrow.parquet as pq

    manifest = version.manifest
    ws = version.workspace or get_workspace()
    schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(manifest["schema"])))
    if columns is not None:
        have = set(schema.names)
        columns = [c for c in columns if c in have]
    for oid in manifest["chunks"]:
        table = pq.read_table(pa.BufferReader(ws.objects.get(oid)), columns=columns, schema=schema)
        yield table.to_pandas()


def iter_current(current: Any, columns: list[str] | None, workspace: Workspace | None = None) -> tuple[Iterable, Any]:
    """(chunks of the current data, its DatasetVersion or None)."""
    import pandas as pd

    from ..snapshot.datasets import DatasetVersion, get_version

    if isinstance(current, pd.DataFrame):
        return [current], None
    if isinstance(current, (str, DatasetVersion)):
        v = get_version(current, workspace or get_workspace())
        return iter_version(v, columns), v
    if isinstance(current, Iterable):
        return current, None
    raise InvalidInput("current must be a DataFrame, a dataset reference such as 'churn.predictions@latest', "
                       f"or an iterable of DataFrame chunks; got {type(current).__name__}")
