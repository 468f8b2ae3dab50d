"""What MLflow export and import share: the client, names, statuses, times, signatures."""

from __future__ import annotations

import datetime as dt
import posixpath
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from ..errors import InvalidInput, MissingExtra

RUN_TAG = "nbtrack.run_id"  # on an MLflow run: the nbtrack run it was exported from
DIGEST_TAG = "nbtrack.digest"  # on an MLflow run: what was exported, to skip unchanged runs
VERSION_TAG = "nbtrack.version"  # on an MLflow model version: the nbtrack version number
OID_TAG = "nbtrack.oid"  # on an MLflow model version: the nbtrack object id of the model
MODEL_TAG = "nbtrack.model"  # on an MLflow registered model: created by nbtrack export
SOURCE_TAG = "mlflow.run_id"  # on an nbtrack run: the MLflow run it was imported from
SOURCE_URI_TAG = "mlflow.tracking_uri"  # on an nbtrack run: the MLflow store it was imported from
SOURCE_DIGEST_TAG = "mlflow.digest"  # on an nbtrack run: what was imported, to skip unchanged runs
PAGE = 5000  # runs per search page (MLflow allows up to 50,000)

# nbtrack status -> MLflow RunStatus; and back
TO_MLFLOW = {"running": "RUNNING", "finished": "FINISHED", "failed": "FAILED", "interrupted": "KILLED",
             "capture_failed": "FINISHED", "snapshotting": "RUNNING",  # snapshotting: frames still being stored
             "pruned": "KILLED"}  # a tuning trial its sweep stopped early
FROM_MLFLOW = {"RUNNING": "running", "SCHEDULED": "running", "FINISHED": "finished", "FAILED": "failed",
               "KILLED": "interrupted"}

T = TypeVar("T")
Progress = Callable[[Iterable[Any]], Iterable[Any]]


def client(tracking_uri: str, registry_uri: str | None = None) -> Any:
    """An ``MlflowClient`` for ``tracking_uri`` (MLflow is imported here, never by ``import nbtrack``)."""
    if not isinstance(tracking_uri, str) or not tracking_uri:
        raise InvalidInput("a tracking URI is needed, e.g. sqlite:///mlflow.db or http://host:5000")
    try:
        from mlflow import MlflowClient
    except ImportError as e:
        raise MissingExtra(f'MLflow export and import need the mlflow extra: pip install "nbtrack[mlflow]" ({e})',
                           extra="mlflow", module="mlflow") from e
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri or tracking_uri)


def ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(round(seconds * 1000))


def seconds(millis: int | None) -> float | None:
    return None if millis is None else millis / 1000.0


def since_seconds(since: Any) -> float | None:
    """``since`` (a date, datetime, ISO text or epoch seconds) as epoch seconds (naive = UTC)."""
    if since is None:
        return None
    if isinstance(since, (int, float)) and not isinstance(since, bool):
        return float(since)
    if isinstance(since, str):
        try:
            since = dt.datetime.fromisoformat(since.strip())
        except ValueError:
            raise InvalidInput(f"--since {since!r}: give a date or time like 2026-01-31 or 2026-01-31T12:00") from None
    if isinstance(since, dt.date) and not isinstance(since, dt.datetime):
        since = dt.datetime(since.year, since.month, since.day)
    if not isinstance(since, dt.datetime):
        raise InvalidInput(f"since must be a date, a datetime, ISO text or epoch seconds, got {type(since).__name__}")
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.timezone.utc)
    return since.timestamp()


def key(name: str) -> str:
    """``name`` as an MLflow param/metric/tag key: MLflow refuses keys that normalise as paths differently."""
    fixed = name[:250]
    if posixpath.normpath(fixed) != fixed or fixed in (".", "") or fixed.startswith(("..", "/")):
        fixed = "_".join(p for p in fixed.replace("\\", "/").split("/") if p not in ("", ".", "..")) or "_"
    return fixed


def artifact_path(name: str) -> str:
    """A relative path inside a run's artifacts for ``name`` (never escapes the folder)."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or "artifact"


def pages(search: Callable[..., Any], **kwargs: Any) -> Iterator[Any]:
    """Every item of a paged MLflow search."""
    token = None
    while True:
        page = search(page_token=token, **kwargs)
        yield from page
        token = getattr(page, "token", None)
        if not token:
            return


def chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def each(items: Iterable[T], progress: Progress | None) -> Iterable[T]:
    return items if progress is None else progress(items)


# -- signatures: nbtrack JSON <-> MLflow ColSpec types ---------------------------------------
_TO_COLSPEC = {"int64": "long", "int32": "integer", "int16": "integer", "int8": "integer", "uint8": "integer",
               "uint16": "integer", "uint32": "long", "float64": "double", "float32": "float", "bool": "boolean",
               "boolean": "boolean", "object": "string", "string": "string", "str": "string", "category": "string"}
_FROM_COLSPEC = {"long": "int64", "integer": "int32", "double": "float64", "float": "float32", "boolean": "bool",
                 "string": "object", "datetime": "datetime64[ns]", "binary": "object"}


def colspec_type(dtype: str | None) -> str:
    if not dtype:
        return "double"
    if dtype.startswith("datetime64"):
        return "datetime"
    return _TO_COLSPEC.get(dtype.lower(), "string")


def model_signature(sig: dict | None) -> Any:
    """An MLflow ``ModelSignature`` from an nbtrack model version's signature (None if it has no inputs)."""
    from mlflow.models.signature import ModelSignature
    from mlflow.types import ColSpec, Schema

    sig = sig or {}
    inputs = sig.get("inputs")
    if not inputs:
        return None
    outputs = None
    out = sig.get("output") or {}
    if out.get("kind") == "regressor":
        outputs = Schema([ColSpec("double")])
    elif out.get("kind") == "classifier" and out.get("classes"):
        classes = out["classes"]
        kind = ("boolean" if all(isinstance(c, bool) for c in classes) else
                "long" if all(isinstance(c, int) for c in classes) else
                "double" if all(isinstance(c, (int, float)) for c in classes) else "string")
        outputs = Schema([ColSpec(kind)])
    return ModelSignature(Schema([ColSpec(colspec_type(i.get("dtype")), i["name"]) for i in inputs]), outputs)


def frame_like(schema: Any) -> Any:
    """An empty DataFrame with an MLflow input schema's columns and dtypes (for nbtrack's signature)."""
    import pandas as pd

    cols = {}
    for spec in getattr(schema, "inputs", None) or []:
        name = getattr(spec, "name", None)
        if name is None:
            return None
        kind = getattr(getattr(spec, "type", None), "name", "double")
        cols[name] = pd.Series(dtype=_FROM_COLSPEC.get(kind, "object"))
    return pd.DataFrame(cols) if cols else None
