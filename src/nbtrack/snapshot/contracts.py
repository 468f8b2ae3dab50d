"""Data contracts: a pandera ``DataFrameSchema`` inferred from a dataset version's
manifest, stored as a versioned object, checked wherever data enters.

Inferred from the stored statistics (no data read): the columns, their dtypes
(numbers coerced, so ``1`` passes for a float column), nullability (a column
with no missing value in the reference must have none), numeric ranges widened
by ``tolerance`` times the observed range on each side, and category sets where
the manifest lists every category. The schema is pandera's own object: inspect
it, edit it, pin it again with ``nbtrack.contract(schema, name=...)``.

Contracts are versioned per name (``customers@1``, ``customers@2``...); a
contract named after a dataset guards that dataset: pipelines check their pinned
inputs against it, ``nbtrack.snapshot(df, name, expect=...)`` checks before storing.
This module sits with the data (below registry and pipeline) so every stage that
lets data in can use it; :mod:`nbtrack.monitor.validate` is its public face.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select

from ..errors import ContractViolation, InvalidInput, NotFound
from ..store.schema import contracts as contracts_t
from ..workspace import Workspace, get_workspace
from .models import get_model_version

FORMAT = "nbtrack.contract/1"
MAX_EXAMPLES = 5


def pandera():
    try:
        import pandera.pandas as pa
    except ImportError:  # pragma: no cover - the extra is missing
        raise InvalidInput("data contracts need pandera: pip install 'nbtrack[monitor]'") from None
    return pa


# -- inference ---------------------------------------------------------------------------
def _numeric(dtype: str) -> bool:
    return dtype.lower().startswith(("int", "uint", "float"))


def _column(dtype: str, stats: dict[str, Any], tolerance: float):
    pa = pandera()
    checks = []
    nullable = bool(stats.get("nulls", 0)) or not stats.get("count", 0)
    d = dtype.lower()
    if _numeric(d):
        lo, hi = stats.get("min"), stats.get("max")
        if lo is not None and hi is not None:
            margin = tolerance * ((hi - lo) or abs(hi) or 1.0)
            lo, hi = (max(0, lo - margin) if lo >= 0 else lo - margin), hi + margin
            if d.startswith(("int", "uint")):
                lo, hi = int(lo // 1), int(-(-hi // 1))
            checks.append(pa.Check.in_range(lo, hi))
        # ints coerce to int64; an int column with missing values arrives as floats
        kind = "int64" if d.startswith(("int", "uint")) and not nullable else "float64"
        return pa.Column(kind, checks, nullable=nullable, coerce=True, required=True)
    cats = _categories(stats)
    if cats is not None:
        checks.append(pa.Check.isin(cats))
    if d.startswith("bool"):
        return pa.Column("bool", checks, nullable=nullable, required=True)
    return pa.Column(None, checks, nullable=nullable, required=True)


def _categories(stats: dict[str, Any]) -> list | None:
    """Every category, when the manifest lists them all (else None: no set check)."""
    top = stats.get("top")
    if top is None:
        return None
    values = [v for v, _ in top]
    if "categories" in stats:
        return values if stats["categories"] <= len(values) or sum(c for _, c in top) == stats.get("count") else None
    complete = (int(stats.get("distinct_in_sample") or len(values)) <= len(values)
                and int(stats.get("sample_every") or 1) == 1)
    return values if complete else None


def infer_schema(manifest: dict[str, Any], tolerance: float = 0.1, columns: list[str] | None = None):
    """The pandera ``DataFrameSchema`` a dataset manifest implies."""
    pa = pandera()
    if not isinstance(tolerance, (int, float)) or tolerance < 0:
        raise InvalidInput(f"tolerance must be a number >= 0 (a share of each numeric range), got {tolerance!r}")
    cols = {}
    for c in manifest["columns"]:
        name = str(c["name"])
        if columns is not None and name not in columns:
            continue
        if c["dtype"].startswith(("datetime", "timedelta", "period", "interval")):
            cols[name] = pa.Column(None, nullable=True, required=True)
            continue
        cols[name] = _column(c["dtype"], manifest["stats"].get(name, {}), tolerance)
    return pa.DataFrameSchema(cols, strict=False, coerce=False)


# -- the contract object ------------------------------------------------------------------
@dataclass
class Contract:
    """A pandera schema with a name and version once stored (``customers@2``)."""

    schema: Any
    name: str | None = None
    version: int | None = None
    source: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}" if self.name and self.version else (self.source or "unsaved contract")

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "source": self.source, "schema": json.loads(self.schema.to_json())},
                          sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes, name: str | None = None, version: int | None = None) -> Contract:
        doc = json.loads(text)
        if doc.get("format") != FORMAT:
            raise InvalidInput(f"unknown contract format {doc.get('format')!r}; upgrade nbtrack")
        schema = pandera().DataFrameSchema.from_json(json.dumps(doc["schema"]))
        return cls(schema, name, version, doc.get("source"))

    def validate(self, data: Any) -> ValidationResult:
        """Check a DataFrame (or chunks of one); never raises for bad data."""
        return check(self, data)

    def check(self, data: Any) -> ValidationResult:
        """Like :meth:`validate` but raise :class:`~nbtrack.errors.ContractViolation` on failure."""
        result = check(self, data)
        result.raise_for_failures()
        return result

    def __repr__(self) -> str:
        return f"<Contract {self.ref}: {len(self.schema.columns)} columns>"


@dataclass
class Failure:
    """One failing check of one column, with how many rows and a few examples."""

    column: str | None
    check: str
    rows: int
    examples: list = field(default_factory=list)

    def __str__(self) -> str:
        where = f"column {self.column!r}" if self.column else "frame"
        if self.check == "column_in_dataframe":
            return f"{where}: missing from the data (check column_in_dataframe)"
        ex = f" (e.g. {', '.join(map(repr, self.examples))})" if self.examples else ""
        return f"{where}: {self.check} failed for {self.rows} row{'s' if self.rows != 1 else ''}{ex}"


@dataclass
class ValidationResult:
    """What :func:`nbtrack.validate` found: ``ok``, the failures, the rows checked."""

    contract_ref: str
    n_rows: int
    failures: list[Failure] = field(default_factory=list)
    run_id: str | None = None

    @property
    def ok(self) -> bool:
        return not self.failures

    def __bool__(self) -> bool:
        return self.ok

    @property
    def messages(self) -> list[str]:
        return [str(f) for f in self.failures]

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([f.__dict__ for f in self.failures], columns=["column", "check", "rows", "examples"])

    def to_json(self) -> str:
        return json.dumps({"contract": self.contract_ref, "rows": self.n_rows, "ok": self.ok,
                           "failures": [f.__dict__ for f in self.failures]}, default=str, sort_keys=True)

    def raise_for_failures(self) -> None:
        if self.failures:
            raise ContractViolation(f"data fails contract {self.contract_ref}: " + "; ".join(self.messages),
                                    result=self)

    def __repr__(self) -> str:
        head = f"<ValidationResult {self.contract_ref}: {self.n_rows} rows, "
        return head + ("ok>" if self.ok else f"{len(self.failures)} failing checks: {'; '.join(self.messages[:3])}>")

    def _repr_html_(self) -> str:
        import html

        if self.ok:
            return f"<p>✅ {self.n_rows} rows pass contract <b>{html.escape(self.contract_ref)}</b></p>"
        items = "".join(f"<li>{html.escape(m)}</li>" for m in self.messages)
        return f"<p>❌ data fails contract <b>{html.escape(self.contract_ref)}</b>:</p><ul>{items}</ul>"


def failure_cases(schema: Any, frame: Any):
    """pandera's failure cases of ``frame`` (an empty DataFrame when it passes)."""
    import pandas as pd

    pa = pandera()
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as e:
        return e.failure_cases
    except pa.errors.SchemaError as e:  # non-lazy paths (e.g. a schema-wide check)
        return pd.DataFrame([{"column": getattr(e, "column_name", None), "check": str(e.check or e)[:200],
                              "failure_case": None, "index": None}])
    return pd.DataFrame(columns=["column", "check", "failure_case", "index"])


def _failures(cases: Any) -> dict[tuple, Failure]:
    out: dict[tuple, Failure] = {}
    for row in cases.itertuples(index=False):
        check = str(row.check)
        column = row.column if isinstance(row.column, str) else None
        if check == "column_in_dataframe":
            column = str(row.failure_case)
        key = (column, check)
        f = out.setdefault(key, Failure(column, check, 0))
        f.rows += 1
        case = row.failure_case
        if len(f.examples) < MAX_EXAMPLES and case is not None and case == case and case not in f.examples:
            f.examples.append(case.item() if hasattr(case, "item") else case)
    return out


def check(contract: Contract, data: Any) -> ValidationResult:
    """Validate a DataFrame or an iterable of chunks against ``contract``."""
    import pandas as pd

    chunks = [data] if isinstance(data, pd.DataFrame) else data
    merged: dict[tuple, Failure] = {}
    rows = 0
    for chunk in chunks:
        rows += len(chunk)
        for key, f in _failures(failure_cases(contract.schema, chunk)).items():
            m = merged.setdefault(key, Failure(f.column, f.check, 0))
            m.rows += f.rows
            m.examples = (m.examples + [e for e in f.examples if e not in m.examples])[:MAX_EXAMPLES]
    return ValidationResult(contract.ref, rows, list(merged.values()))


def as_contract(expect: Any, workspace: Workspace | None = None) -> Contract:
    """A :class:`Contract` from a contract, a pandera schema or a stored contract's name."""
    if isinstance(expect, Contract):
        return expect
    if isinstance(expect, str):
        return load(expect, workspace)
    if isinstance(expect, pandera().DataFrameSchema):
        return Contract(expect, source="schema")
    raise InvalidInput(f"expect= takes a Contract, a pandera DataFrameSchema or a contract name, "
                       f"got {type(expect).__name__}")


def flag_rows(frame: Any, contract: Contract):
    """Per row, which checks it fails (``""`` when it passes): for prediction logs.

    A failure that is not about particular rows (a wrong dtype, a missing column)
    flags every row.
    """
    import pandas as pd

    cases = failure_cases(contract.schema, frame)
    flags = pd.Series([""] * len(frame), index=frame.index, dtype=object)
    if cases.empty:
        return flags
    per_row: dict[Any, set] = {}
    every: set[str] = set()
    for row in cases.itertuples(index=False):
        col = row.column if isinstance(row.column, str) else str(row.failure_case)
        label = f"{col}:{row.check}"
        if row.index is None or row.index != row.index:
            every.add(label)
        else:
            per_row.setdefault(row.index, set()).add(label)
    for idx, labels in per_row.items():
        if idx in flags.index:
            flags.loc[idx] = "; ".join(sorted(labels | every))
    if every:
        text = "; ".join(sorted(every))
        flags[flags == ""] = text
    return flags


# -- storage -------------------------------------------------------------------------------
def save(contract: Contract, name: str, workspace: Workspace | None = None) -> Contract:
    """Store ``contract`` as the next version of ``name`` (the latest one if identical)."""
    from ..context import user

    if not isinstance(name, str) or not name or "@" in name or len(name) > 255:
        raise InvalidInput(f"a contract name is a non-empty string without '@', got {name!r}")
    ws = workspace or get_workspace(create=True)
    text = Contract(contract.schema, source=contract.source).to_json()
    oid = ws.objects.put(text.encode())
    with ws.meta.write() as conn:
        last = conn.execute(select(contracts_t).where(contracts_t.c.name == name)
                            .order_by(contracts_t.c.version.desc()).limit(1)).first()
        if last is not None and last.oid == oid:
            return Contract(contract.schema, name, last.version, contract.source)
        version = (last.version if last else 0) + 1
        conn.execute(insert(contracts_t).values(name=name, version=version, oid=oid, source=contract.source,
                                                creator=user(), created=time.time()))
    return Contract(contract.schema, name, version, contract.source)


def exists(name: str, workspace: Workspace | None = None) -> bool:
    ws = workspace or get_workspace()
    with ws.meta.read() as conn:
        return conn.execute(select(contracts_t.c.id).where(contracts_t.c.name == name).limit(1)).first() is not None


def load(ref: str, workspace: Workspace | None = None) -> Contract:
    """A stored contract: ``"customers"`` (latest) or ``"customers@2"``."""
    ws = workspace or get_workspace()
    name, _, spec = ref.partition("@")
    q = select(contracts_t).where(contracts_t.c.name == name)
    if spec and spec != "latest":
        if not spec.isdigit():
            raise InvalidInput(f"{ref!r}: a contract version is a number")
        q = q.where(contracts_t.c.version == int(spec))
    with ws.meta.read() as conn:
        row = conn.execute(q.order_by(contracts_t.c.version.desc()).limit(1)).first()
        if row is None:
            n = conn.execute(select(func.max(contracts_t.c.version)).where(contracts_t.c.name == name)).scalar()
            have = f"versions 1..{n}" if n else "no versions"
            raise NotFound(f"no contract {ref!r} ({name!r} has {have}); create one with nbtrack.contract(...)")
    return Contract.from_json(ws.objects.get(row.oid), row.name, row.version)


def listing(workspace: Workspace | None = None):
    """Every stored contract version as a DataFrame."""
    import pandas as pd

    ws = workspace or get_workspace()
    with ws.meta.read() as conn:
        rows = conn.execute(select(contracts_t).order_by(contracts_t.c.name, contracts_t.c.version)).mappings().all()
    return pd.DataFrame([{"name": r["name"], "version": r["version"], "source": r["source"], "creator": r["creator"],
                          "created": pd.Timestamp(r["created"], unit="s", tz="UTC")} for r in rows],
                        columns=["name", "version", "source", "creator", "created"])


# -- where data enters -------------------------------------------------------------------
def model_contract(model_ref: str, workspace: Workspace | None = None) -> Contract | None:
    """The stored contract guarding a model version's training dataset (same name), restricted
    to the model's input columns; None when there is none (or no training dataset is known)."""
    from .datasets import version_by_id

    ws = workspace or get_workspace()
    mv = get_model_version(model_ref, ws)
    if mv.dataset_version_id is None:
        return None
    name = version_by_id(mv.dataset_version_id, ws).name
    if not exists(name, ws):
        return None
    c = load(name, ws)
    inputs = [i["name"] for i in ((mv.signature or {}).get("inputs") or []) if i.get("name")]
    if inputs:
        cols = {k: v for k, v in c.schema.columns.items() if k in inputs}
        c = Contract(pandera().DataFrameSchema(cols, strict=False), c.name, c.version, c.source)
    return c



def check_pins(pins: dict[str, Any], workspace: Workspace | None = None) -> list[str]:
    """Validate each pinned dataset version that has a contract of the same name.

    Returns one message per failing check (empty: all pass or no contracts)."""
    names = [n for n in pins if pins[n] is not None]
    if not names:
        return []  # before any import: `nbtrack run` of an unpinned pipeline never loads pyarrow
    from .datasets import get_version

    ws = workspace or get_workspace()
    with ws.meta.read() as conn:
        guarded = set(conn.execute(select(contracts_t.c.name).where(contracts_t.c.name.in_(names))).scalars())
    messages = []
    for name in sorted(guarded):
        version = get_version(f"{name}@{pins[name]}", ws)
        result = check(load(name, ws), version.load())
        messages += [f"{version}: {m} (contract {result.contract_ref})" for m in result.messages]
    return messages
