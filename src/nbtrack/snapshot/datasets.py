"""Dataset versions: ``snapshot`` a DataFrame under a name, ``load`` it back by ``name@N``.

Versions count from 1 per name. A new version is recorded only when the content
differs from the latest version's (same content returns the latest version).
Re-snapshotting a frame whose content was already encoded costs one fingerprint
pass over its buffers and one small query: the encoding is looked up by content
fingerprint (never by ``id()``) in memory, or after a kernel restart in the
workspace's ``cache/frames`` folder (see :mod:`.cache`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select

from ..errors import InvalidInput, NotFound
from ..store.schema import dataset_chunks, dataset_versions, datasets
from ..workspace import Workspace, get_workspace
from . import cache, frames, pending, rowchunks
from .chunkprint import ChunkMemo, chunk_reader
from .fingerprint import fingerprint
from ..store.keys import inserted_id

_cache = cache.memory  # the in-process cache (tests clear it to simulate a new kernel)


@dataclass(frozen=True)
class DatasetVersion:
    """One immutable version of a dataset; ``str()`` is ``name@version``."""

    name: str
    version: int
    id: int
    n_rows: int | None
    n_cols: int | None
    nbytes: int | None
    fingerprint: str
    manifest_oid: str
    run_id: str | None
    created: float
    workspace: Workspace | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"

    def __repr__(self) -> str:
        return f"<DatasetVersion {self} {self.n_rows} rows x {self.n_cols} cols>"

    @property
    def ref(self) -> str:
        return str(self)

    @property
    def manifest(self) -> dict[str, Any]:
        """The manifest: schema, pandas metadata, chunk ids, summary statistics."""
        return json.loads(_ws(self.workspace).objects.get(self.manifest_oid))

    def stats(self):
        """Summary statistics per column as a DataFrame (one row per column)."""
        import pandas as pd

        st = self.manifest["stats"]
        return pd.DataFrame.from_dict(st, orient="index")

    def load(self):
        """The DataFrame (or Series) of this version, exactly as it was snapshotted."""
        ws = _ws(self.workspace)
        return frames.decode(self.manifest, chunk_reader(ws.objects))


def _ws(workspace: Workspace | None, create: bool = False) -> Workspace:
    return workspace or get_workspace(create=create)


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 255 or "@" in name:
        raise InvalidInput(f"a dataset name must be a non-empty string without '@' (at most 255 characters), "
                           f"got {name!r}")
    return name.strip()


def _row_to_version(row: Any, name: str, ws: Workspace) -> DatasetVersion:
    return DatasetVersion(name, row.version, row.id, row.n_rows, row.n_cols, row.nbytes, row.fingerprint,
                          row.manifest_oid, row.run_id, row.created, ws)


def _latest(conn: Any, dataset_id: int) -> Any:
    return conn.execute(select(dataset_versions).where(dataset_versions.c.dataset_id == dataset_id)
                        .order_by(dataset_versions.c.version.desc()).limit(1)).first()


# -- write ---------------------------------------------------------------------------
def _encoded(obj: Any, name: str, ws: Workspace) -> frames.Encoded:
    """Encode ``obj``, or reuse the stored encoding of the same content (see :mod:`.cache`).

    A frame of plain-memory columns is fingerprinted chunk by chunk and only its changed chunks
    are converted and encoded (:mod:`.rowchunks`); anything else is encoded whole."""
    previous = _previous_chunk_rows(name, ws)
    p = rowchunks.plan(obj, previous)
    fp: str | None
    if p is not None:
        fp = "r" + p.fingerprint
    else:
        try:
            fp = fingerprint(obj)
        except Exception:  # an unusual column type: skip the cache, encode() says what is wrong
            fp = None
    hit = cache.lookup(ws, fp) if fp else None
    if hit is not None:
        return hit
    enc = None
    if p is not None:
        try:
            enc = rowchunks.encode(p, ws.objects.put_with_oid, name=ws.objects.name, memo=chunk_memo(ws))
        except rowchunks.Mismatch:
            enc = None
    if enc is None:
        enc = frames.encode(obj, ws.objects.put_with_oid, previous_rows=previous, name=ws.objects.name,
                            memo=chunk_memo(ws))
    enc.manifest_oid = ws.objects.put(enc.manifest_bytes)
    if fp:
        cache.remember(ws, fp, enc)
    return enc


def chunk_memo(ws: Workspace) -> ChunkMemo:
    """The chunks of ``ws`` already stored, by the fingerprint of their rows (checked in the store)."""
    return ChunkMemo(ws.objects.url, lambda oid, size: ws.objects.refresh([(oid, size)]))


def _previous_chunk_rows(name: str, ws: Workspace) -> int | None:
    with ws.meta.read() as conn:
        did = conn.execute(select(datasets.c.id).where(datasets.c.name == name)).scalar()
        row = _latest(conn, did) if did is not None else None
    if row is None:
        return None
    try:
        return int(json.loads(ws.objects.get(row.manifest_oid, verify=False)).get("chunk_rows") or 0) or None
    except Exception:
        return None


def snapshot_frame(obj: Any, name: str, run_id: str | None = None,
                   workspace: Workspace | None = None, reuse_any: bool = False) -> DatasetVersion:
    """Store a DataFrame/Series as the next version of dataset ``name``.

    Parameters
    ----------
    obj : pandas.DataFrame or pandas.Series
    name : str
        Dataset name (no ``@``).
    run_id : str, optional
        The run that produced this content (recorded on a new version).
    reuse_any : bool
        Return an older version with the same content rather than a new one.

    Returns
    -------
    DatasetVersion
        The new version, or the latest one when its content is identical. With
        ``reuse_any`` (inputs a cell reads), any version with identical content is
        returned instead of making a new one.
    """
    name = check_name(name)
    ws = _ws(workspace, create=True)
    enc = _encoded(obj, name, ws)
    pending.wait_for("dataset", name)  # versions keep their order: after one still being stored
    with ws.meta.write() as conn:
        return commit_frame(conn, ws, name, enc, run_id=run_id, reuse_any=reuse_any)


def encode_frame(obj: Any, name: str, workspace: Workspace) -> frames.Encoded:
    """Encode ``obj`` and store its chunks and manifest (or reuse a stored encoding of the same
    content); no version is recorded until :func:`commit_frame`. The background snapshot
    writer (:mod:`nbtrack.capture.background`) calls it off the cell's path."""
    return _encoded(obj, check_name(name), workspace)


def commit_frame(conn: Any, ws: Workspace, name: str, enc: frames.Encoded, run_id: str | None = None,
                 reuse_any: bool = False) -> DatasetVersion:
    """Record the stored encoding ``enc`` as the next version of ``name`` in the open write
    transaction ``conn`` (or return the latest / an equal version, see :func:`snapshot_frame`)."""
    m = enc.manifest
    did = conn.execute(select(datasets.c.id).where(datasets.c.name == name)).scalar()
    if did is None:
        did = inserted_id(conn.execute(insert(datasets).values(name=name, created=time.time())))
    latest = _latest(conn, did)
    if latest is not None and latest.fingerprint == enc.fingerprint:
        return _row_to_version(latest, name, ws)
    # Reading data identical to an older version (e.g. a pinned input loaded back): that version.
    same = None if not reuse_any else conn.execute(select(dataset_versions).where(
        dataset_versions.c.dataset_id == did, dataset_versions.c.fingerprint == enc.fingerprint)
        .order_by(dataset_versions.c.version.desc()).limit(1)).first()
    if same is not None:
        return _row_to_version(same, name, ws)
    row = {"dataset_id": did, "version": (latest.version if latest else 0) + 1,
           "manifest_oid": enc.manifest_oid, "fingerprint": enc.fingerprint, "n_rows": m["n_rows"],
           "n_cols": m["n_cols"], "nbytes": enc.nbytes, "run_id": run_id, "created": time.time()}
    vid = inserted_id(conn.execute(insert(dataset_versions).values(**row)))
    if enc.chunks:
        conn.execute(insert(dataset_chunks), [
            {"dataset_version_id": vid, "seq": i, "oid": oid, "n_rows": rows}
            for i, (oid, rows, _size) in enumerate(enc.chunks)])
    return DatasetVersion(name, row["version"], vid, row["n_rows"], row["n_cols"], row["nbytes"],
                          enc.fingerprint, row["manifest_oid"], run_id, row["created"], ws)


# -- read ----------------------------------------------------------------------------
def parse_ref(ref: str) -> tuple[str, int | None]:
    """``"name@3"`` -> ("name", 3); ``"name"`` / ``"name@latest"`` -> ("name", None)."""
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidInput(f"expected 'name@version', got {ref!r}")
    name, sep, v = ref.strip().rpartition("@")
    if not sep:
        return ref.strip(), None
    if v == "latest":
        return name, None
    try:
        n = int(v)
    except ValueError:
        raise InvalidInput(f"{ref!r}: the version after '@' must be a number or 'latest'") from None
    if n < 1:
        raise InvalidInput(f"{ref!r}: versions count from 1")
    return name, n


def pinned_version(name: str) -> int | None:
    """The version of ``name`` pinned for this pipeline run, if any.

    ``nbtrack run`` gives the kernel ``NBTRACK_PINS`` (JSON ``{dataset: version}``,
    the versions the approved notebook was validated with), so an unversioned
    ``load("customers")`` inside a pipeline reads the pinned version, not the latest.
    """
    import os

    try:
        v = json.loads(os.environ.get("NBTRACK_PINS") or "{}").get(name)
    except (ValueError, AttributeError):
        return None
    return None if v is None else int(v)


def get_version(ref: str | DatasetVersion, workspace: Workspace | None = None) -> DatasetVersion:
    """The dataset version named by ``ref`` (``name@N``, ``name`` or ``name@latest``)."""
    if isinstance(ref, DatasetVersion):
        return ref
    name, version = parse_ref(ref)
    if version is None and "@" not in ref:
        version = pinned_version(name)  # inside `nbtrack run`: the approved pin, not the latest
    pending.wait_for("dataset", name)  # a tracked cell's frame still being stored: its version
    ws = _ws(workspace)
    with ws.meta.read() as conn:
        did = conn.execute(select(datasets.c.id).where(datasets.c.name == name)).scalar()
        if did is None:
            raise NotFound(f"no dataset {name!r}; nbtrack.datasets() (or `nbtrack datasets`) lists them")
        if version is None:
            row = _latest(conn, did)
        else:
            row = conn.execute(select(dataset_versions).where(dataset_versions.c.dataset_id == did,
                                                              dataset_versions.c.version == version)).first()
        if row is None:
            last = _latest(conn, did)
            have = f"versions 1..{last.version}" if last else "no versions"
            raise NotFound(f"dataset {name!r} has no version {version} (it has {have})")
    return _row_to_version(row, name, ws)


def version_by_id(version_id: int, workspace: Workspace | None = None) -> DatasetVersion:
    ws = _ws(workspace)
    with ws.meta.read() as conn:
        row = conn.execute(select(dataset_versions, datasets.c.name.label("dataset_name"))
                           .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
                           .where(dataset_versions.c.id == version_id)).first()
    if row is None:
        raise NotFound(f"no dataset version with id {version_id}")
    return _row_to_version(row, row.dataset_name, ws)


def load(ref: str | DatasetVersion, workspace: Workspace | None = None):
    """Load a dataset version back as the DataFrame (or Series) that was snapshotted.

    Inside a run (a ``%%track`` cell, ``with nbtrack.track():``, a pipeline's
    cells) the version becomes an input of that run in its lineage.

    Parameters
    ----------
    ref : str or DatasetVersion
        ``"name@3"``, ``"name"`` or ``"name@latest"``.
    """
    version = get_version(ref, workspace)
    frame = version.load()
    _note_input(version, frame)
    return frame


def _note_input(version: DatasetVersion, frame: Any) -> None:
    from ..context import active_run

    run = active_run()
    if run is None or run.ended or run.ws.meta_url != getattr(version.workspace, "meta_url", None):
        return
    if run.kind == "cell":  # the data hook links it under the variable that holds it
        try:
            fp = fingerprint(frame)
        except Exception:
            fp = None
        run.use_dataset(version.id, frame=frame, fingerprint=fp)
    else:
        run.use_dataset(version.id)


def list_datasets(workspace: Workspace | None = None):
    """Every dataset with its number of versions and its latest version's shape."""
    import pandas as pd

    pending.wait_for("dataset", None)
    ws = _ws(workspace)
    dv = dataset_versions
    last = (select(dv.c.dataset_id, func.max(dv.c.version).label("latest"), func.count().label("versions"))
            .group_by(dv.c.dataset_id).subquery())
    q = (select(datasets.c.name, last.c.versions, last.c.latest, dv.c.n_rows, dv.c.n_cols, dv.c.nbytes,
                dv.c.created.label("updated"))
         .join(last, last.c.dataset_id == datasets.c.id)
         .join(dv, (dv.c.dataset_id == datasets.c.id) & (dv.c.version == last.c.latest))
         .order_by(datasets.c.name))
    with ws.meta.read() as conn:
        rows = conn.execute(q).all()
    df = pd.DataFrame(rows, columns=["name", "versions", "latest", "n_rows", "n_cols", "nbytes", "updated"])
    df["updated"] = pd.to_datetime(df["updated"], unit="s", utc=True)
    return df


def list_versions(name: str, workspace: Workspace | None = None):
    """The versions of dataset ``name``, oldest first, with the bytes each one added."""
    import pandas as pd

    pending.wait_for("dataset", name)
    ws = _ws(workspace)
    with ws.meta.read() as conn:
        did = conn.execute(select(datasets.c.id).where(datasets.c.name == name)).scalar()
        if did is None:
            raise NotFound(f"no dataset {name!r}; nbtrack.datasets() lists them")
        rows = conn.execute(select(dataset_versions).where(dataset_versions.c.dataset_id == did)
                            .order_by(dataset_versions.c.version)).all()
        chunks = conn.execute(select(dataset_chunks.c.dataset_version_id, dataset_chunks.c.oid)
                              .where(dataset_chunks.c.dataset_version_id.in_([r.id for r in rows]))).all()
    by_version: dict[int, set[str]] = {}
    for vid, oid in chunks:
        by_version.setdefault(vid, set()).add(oid)
    seen: set[str] = set()
    new_chunks = []
    for r in rows:
        mine = by_version.get(r.id, set())
        new_chunks.append(len(mine - seen))
        seen |= mine
    df = pd.DataFrame({
        "version": [r.version for r in rows], "ref": [f"{name}@{r.version}" for r in rows],
        "n_rows": [r.n_rows for r in rows], "n_cols": [r.n_cols for r in rows],
        "nbytes": [r.nbytes for r in rows], "chunks": [len(by_version.get(r.id, ())) for r in rows],
        "new_chunks": new_chunks, "run_id": [r.run_id for r in rows],
        "created": pd.to_datetime([r.created for r in rows], unit="s", utc=True), "id": [r.id for r in rows],
    })
    return df
