"""One small exception hierarchy. Messages say what to do next.

Every error carries an ``exit_code`` (for the CLI) and an ``http_status`` (for the
Jupyter server extension), so boundaries translate them in one place.
"""

from __future__ import annotations


class NbtrackError(Exception):
    """Base class of every error nbtrack raises on purpose."""

    exit_code = 1
    http_status = 500

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    def __str__(self) -> str:
        return self.message


class NotFound(NbtrackError):
    """A run, object, dataset, model or alias that does not exist."""

    exit_code = 2
    http_status = 404


class InvalidInput(NbtrackError):
    """A wrong parameter, filter expression, id or file given by the caller."""

    exit_code = 2
    http_status = 400


class Conflict(NbtrackError):
    """Someone else changed the thing first (e.g. an alias moved concurrently)."""

    exit_code = 1
    http_status = 409


class StoreUnavailable(NbtrackError):
    """The workspace cannot be opened or written (read-only, full disk, locked)."""

    exit_code = 1
    http_status = 503


class CorruptObject(NbtrackError):
    """An object's bytes do not hash to its name."""

    exit_code = 1
    http_status = 500

    def __init__(self, oid: str, referrers: list[str] | None = None, detail: str = "", missing: bool = False) -> None:
        refs = ", ".join(referrers or []) or "nothing in the metadata"
        msg = (
            f"object {oid} is corrupt{': ' + detail if detail else ''} "
            f"(referred to by {refs}); run `nbtrack fsck` to list every damaged object"
        )
        super().__init__(msg, oid=oid, referrers=referrers or [])
        self.oid = oid
        self.referrers = referrers or []
        self.missing = missing  # no object at all (rather than one with the wrong bytes)


class UntrustedModel(NbtrackError):
    """A stored model holds types nobody said to trust (or is a pickle): not loaded."""

    exit_code = 2
    http_status = 403


class GateFailed(NbtrackError):
    """A promotion gate refused the candidate; ``result`` says which condition, with numbers."""

    exit_code = 1
    http_status = 409


class ContractViolation(NbtrackError):
    """Data failed its contract; ``result`` lists each failing column and check."""

    exit_code = 1
    http_status = 422


class ApprovalRequired(NbtrackError):
    """A pipeline version is revoked or missing: approve the notebook (again) first."""

    exit_code = 1
    http_status = 403


class Forbidden(NbtrackError):
    """The workspace's governance rules refuse this user the change (protected alias, four-eyes)."""

    exit_code = 1
    http_status = 403


class NotebookExecutionError(NbtrackError):
    """A pipeline notebook failed: a cell raised, the kernel died or a cell timed out.

    ``cell_index`` (in the approved notebook), ``first_line``, ``ename`` and ``evalue``
    name the failure; the executed notebook keeps papermill's error banner.
    """

    exit_code = 1
    http_status = 500


class TrialPruned(NbtrackError):
    """A tuned sweep's pruner stopped this trial (raised by ``nbtrack.log_metric(..., step=)``
    in the trial's notebook); the sweep records the trial and its runs as ``pruned``."""

    exit_code = 1
    http_status = 409


# -- optional extras -----------------------------------------------------------------------
EXTRAS = {  # top-level module -> (extra, what needs it); pyproject.toml [project.optional-dependencies]
    "psycopg": ("postgres", "PostgreSQL metadata"), "psycopg2": ("postgres", "PostgreSQL metadata"),
    "s3fs": ("s3", "objects on S3"), "aiobotocore": ("s3", "objects on S3"), "botocore": ("s3", "objects on S3"),
    "dask": ("dask", "Dask sweeps and batch scoring"), "distributed": ("dask", "Dask sweeps and batch scoring"),
    "starlette": ("serve", "model serving"), "uvicorn": ("serve", "model serving"),
    "prometheus_client": ("serve", "model serving"),
    "scipy": ("monitor", "drift monitoring"), "pandera": ("monitor", "data contracts"),
    "mlflow": ("mlflow", "MLflow export and import"),
}


class MissingExtra(NbtrackError):
    """An optional dependency is not installed; the message names the extra to install."""

    exit_code = 2
    http_status = 501


def missing_extra(error: BaseException) -> MissingExtra | None:
    """``MissingExtra`` for an ImportError of a module an extra provides, else None.

    ``No module named 'psycopg'`` becomes ``PostgreSQL metadata needs the postgres extra:
    pip install "nbtrack[postgres]" (No module named 'psycopg')``. fsspec's "Install s3fs to
    access S3" is recognised too.
    """
    seen: set[int] = set()
    e: BaseException | None = error
    while e is not None and id(e) not in seen:  # the ImportError may be the cause of another error
        seen.add(id(e))
        if isinstance(e, ImportError):
            name = (getattr(e, "name", None) or "").split(".")[0] if isinstance(e, ModuleNotFoundError) else ""
            text = str(e)
            if name not in EXTRAS and ("No module named" in text or "install" in text.lower()):
                # a wrapped "No module named 'psycopg'", or fsspec's "Install s3fs to access S3"
                name = next((m for m in EXTRAS if f"'{m}'" in text or f"install {m}" in text.lower()), "")
            elif name not in EXTRAS:
                name = ""  # e.g. "cannot import name 'x' from 'scipy'": installed, another problem
            if name:
                extra, what = EXTRAS[name]
                return MissingExtra(f'{what} needs the {extra} extra: pip install "nbtrack[{extra}]" ({e})',
                                    extra=extra, module=name)
        e = e.__cause__ or e.__context__
    return None
