"""``nbtrack.contract`` and ``nbtrack.validate``: data contracts inferred from the
training data's manifest, pinned as versioned objects, checked where data enters.

See :mod:`nbtrack.snapshot.contracts` for the inference rules and storage; this
module resolves what the user names (a model version, a dataset version, a stored
contract, a pandera schema) and records validations as ``monitor`` runs.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInput
from ..snapshot import contracts as _c
from ..snapshot.contracts import Contract, ValidationResult, flag_rows
from ..workspace import Workspace, get_workspace
from .sources import iter_current, resolve_reference

__all__ = ["Contract", "ValidationResult", "contract", "contracts", "flag_rows", "validate"]


def contract(
    source: Any,
    name: str | None = None,
    *,
    tolerance: float = 0.1,
    columns: list[str] | None = None,
    save: bool = True,
    workspace: Workspace | None = None,
) -> Contract:
    """Infer (or pin) a data contract and store it as the next version of ``name``.

    Parameters
    ----------
    source : str, DatasetVersion, ModelVersion, Contract or pandera.DataFrameSchema
        ``"churn@production"`` (the model version's training data, from lineage),
        ``"customers@3"``, or a schema you edited (pinned as given).
    name : str, optional
        The contract's name; by default the dataset's name, so it guards that dataset
        (pipeline inputs and ``snapshot(..., expect=...)``).
    tolerance : float
        Numeric ranges are widened by this share of the observed range on each side.
    columns : list of str, optional
        Only these columns (default: the model's inputs, else every column).
    save : bool
        Store it (default) or only return it.

    Returns
    -------
    Contract
        ``.schema`` is a ``pandera.DataFrameSchema``; ``.ref`` is ``name@version`` once stored.
    """
    pa = _c.pandera()
    if isinstance(source, Contract):
        found = Contract(source.schema, source=source.source or source.ref)
    elif isinstance(source, pa.DataFrameSchema):
        found = Contract(source, source="schema")
    else:
        ws = workspace or get_workspace()
        ref = resolve_reference(source, ws)
        cols = columns or ref.features
        found = Contract(_c.infer_schema(ref.dataset.manifest, tolerance, cols), source=str(ref.dataset))
        name = name or ref.dataset.name
    if not save:
        found.name = name
        return found
    if not name:
        raise InvalidInput("pinning a schema needs a name: nbtrack.contract(schema, name='customers')")
    return _c.save(found, name, workspace)


def _resolve(against: Any, ws: Workspace | None) -> Contract:
    pa = _c.pandera()
    if isinstance(against, Contract):
        return against
    if isinstance(against, pa.DataFrameSchema):
        return Contract(against, source="schema")
    if isinstance(against, str):
        ws = ws or get_workspace()
        if _c.exists(against.partition("@")[0], ws):
            return _c.load(against, ws)
    return contract(against, save=False, workspace=ws)


def validate(
    data: Any,
    against: Any,
    *,
    log: bool = True,
    raise_on_error: bool = False,
    workspace: Workspace | None = None,
) -> ValidationResult:
    """Check data against a contract; every failing check names its column.

    Parameters
    ----------
    data : DataFrame, str or iterable of DataFrames
        A frame, a dataset reference (checked one stored chunk at a time) or chunks.
    against : str, Contract or pandera.DataFrameSchema
        A stored contract (``"customers"``, ``"customers@2"``), else a model or
        dataset reference whose contract is inferred now (``"churn@production"``).
    log : bool
        Record the validation as a run of kind ``monitor``.
    raise_on_error : bool
        Raise :class:`~nbtrack.errors.ContractViolation` when a check fails.

    Returns
    -------
    ValidationResult
        ``ok``, ``failures`` (column, check, rows, examples), ``messages``.
    """
    import pandas as pd

    ws = workspace
    if not isinstance(data, pd.DataFrame) or isinstance(against, str):
        ws = ws or get_workspace()
    c = _resolve(against, ws)
    chunks, version = iter_current(data, None, ws)
    result = _c.check(c, chunks)
    if log:
        from .record import record_validation

        target = str(version) if version is not None else "DataFrame"
        result.run_id = record_validation(result, ws or get_workspace(create=True), target)
    if raise_on_error:
        result.raise_for_failures()
    return result


def contracts(workspace: Workspace | None = None):
    """Every stored contract version (``name, version, source, creator, created``)."""
    return _c.listing(workspace)
