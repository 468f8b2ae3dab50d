"""The approved pipeline version a run executes, as the pipeline stage needs it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInput
from ..workspace import Workspace
from .parameters import Parameter, load_schema


@dataclass
class PipelineVersion:
    """One approved version of a pipeline: its frozen notebook, parameter schema and pins."""

    name: str
    version: int
    notebook_oid: str
    notebook_path: str | None
    parameters: list[Parameter]
    pins: dict[str, Any] = field(default_factory=dict)
    env_oid: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def notebook_bytes(self, ws: Workspace) -> bytes:
        return ws.objects.get(self.notebook_oid)


def split_name(name: str, version: int | str | None) -> tuple[str, int | None]:
    """``churn-train@3`` or (``churn-train``, 3) into (name, version)."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("a pipeline name is required; `nbtrack pipelines` lists them")
    base, sep, v = name.strip().partition("@")
    if sep and v not in ("", "latest"):
        if version is not None and str(version) != v:
            raise InvalidInput(f"pipeline {name!r} names version {v} but version={version} was given")
        version = v
    if version is None:
        return base, None
    try:
        return base, int(version)
    except (TypeError, ValueError):
        raise InvalidInput(f"a pipeline version is a number, got {version!r}") from None


def _get(row: Any, key: str) -> Any:
    return row[key] if isinstance(row, dict) else getattr(row, key)


def get_version(name: str, version: int | str | None = None, workspace: Workspace | None = None
                ) -> PipelineVersion:
    """The approved version ``version`` (default: the newest approved) of pipeline ``name``.

    Raises
    ------
    NotFound
        No such pipeline or version.
    ApprovalRequired
        The version was revoked, or the workspace requires signed approvals and its
        signature is missing or does not match (:mod:`nbtrack.registry.signing`).
    """
    from ..registry.approve import get_pipeline

    from ..registry.signing import check as check_signature
    from ..workspace import get_workspace

    base, number = split_name(name, version)
    row = get_pipeline(base, version=number, workspace=workspace)
    if hasattr(row, "signature"):  # an approve.Pipeline: the workspace may require a valid signature
        check_signature(workspace or get_workspace(), row)
    pins = _get(row, "pins")
    params = _get(row, "parameters")
    return PipelineVersion(
        name=base,
        version=int(_get(row, "version")),
        notebook_oid=_get(row, "notebook_oid"),
        notebook_path=_get(row, "notebook_path"),
        parameters=load_schema(params),
        pins=json.loads(pins) if isinstance(pins, str) else dict(pins or {}),
        env_oid=_get(row, "env_oid"),
    )

