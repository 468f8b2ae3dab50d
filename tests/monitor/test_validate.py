"""Data contracts: inferred from a manifest, versioned, every violation kind named by
column and check, enforced on snapshots and on pipeline inputs (exit 1, recorded)."""

from __future__ import annotations

import subprocess
import sys

import nbformat
import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

import nbtrack
from nbtrack.errors import ContractViolation
from nbtrack.monitor.validate import flag_rows
from monitor.shifts import cancer, resample

NOTEBOOKS = __import__("pathlib").Path(__file__).parent.parent / "notebooks"


@pytest.fixture
def ref(workspace):
    df = resample(cancer(), 1000, 1)[["mean radius", "mean area", "size band"]]
    df["count"] = np.arange(len(df)) % 7
    df.loc[::50, "mean area"] = np.nan  # nullable
    nbtrack.snapshot(df, "cells")
    return df


def test_contract_is_inferred_from_the_manifest_and_versioned(ref):
    c = nbtrack.contract("cells@1")
    assert c.ref == "cells@1" and c.source == "cells@1"
    cols = c.schema.columns
    assert str(cols["mean radius"].dtype) == "float64" and not cols["mean radius"].nullable
    assert cols["mean area"].nullable
    lo, hi = ref["mean radius"].min(), ref["mean radius"].max()
    (rng,) = cols["mean radius"].checks
    assert rng.statistics["min_value"] == pytest.approx(lo - 0.1 * (hi - lo))
    assert sorted(cols["size band"].checks[0].statistics["allowed_values"]) == sorted(ref["size band"].unique())
    assert nbtrack.contract("cells@1").version == 1  # same content: same version
    edited = c.schema.update_column("count", checks=[pa.Check.in_range(0, 3)])
    pinned = nbtrack.contract(edited, name="cells")
    assert pinned.ref == "cells@2"
    assert nbtrack.monitor.validate.contracts()["version"].tolist() == [1, 2]


def test_clean_frame_passes(ref):
    result = nbtrack.validate(ref, "cells@1")
    assert result.ok and result.n_rows == len(ref) and not result.messages
    assert nbtrack.get_run(result.run_id).kind == "monitor"


@pytest.mark.parametrize("kind,mutate,column,check", [
    ("missing column", lambda d: d.drop(columns=["mean radius"]), "mean radius", "column_in_dataframe"),
    ("dtype", lambda d: d.assign(count=["x"] * len(d)), "count", "coerce_dtype('int64')"),
    ("null", lambda d: d.assign(**{"mean radius": d["mean radius"].where(d.index != 3)}), "mean radius",
     "not_nullable"),
    ("range", lambda d: d.assign(**{"mean radius": d["mean radius"].where(d.index != 5, 1e6)}), "mean radius",
     "in_range"),
    ("category", lambda d: d.assign(**{"size band": d["size band"].where(d.index != 7, "huge")}), "size band",
     "isin"),
])
def test_each_violation_is_named_by_column_and_check(ref, kind, mutate, column, check):
    result = nbtrack.validate(mutate(ref.copy()), "cells", log=False)
    assert not result.ok, kind
    hits = [f for f in result.failures if f.column == column and f.check.startswith(check)]
    assert hits, result.messages
    assert any(column in m and check.split("(")[0] in m for m in result.messages)
    with pytest.raises(ContractViolation, match=column):
        nbtrack.validate(mutate(ref.copy()), "cells", log=False, raise_on_error=True)


def test_flag_rows_for_prediction_logs(ref):
    bad = ref.copy()
    bad.loc[5, "mean radius"] = 1e6
    bad.loc[7, "size band"] = "huge"
    flags = flag_rows(bad, nbtrack.contract("cells@1", save=False))
    assert flags[flags != ""].index.tolist() == [5, 7]
    assert "mean radius:in_range" in flags[5] and "size band:isin" in flags[7]


def test_snapshot_expect_refuses_bad_data_and_stores_nothing(ref):
    c = nbtrack.contract("cells@1")
    ok = nbtrack.snapshot(ref.head(100), "cells-new", expect=c)
    assert ok.version == 1
    with pytest.raises(ContractViolation, match="size band"):
        nbtrack.snapshot(ref.assign(**{"size band": "huge"}), "cells-new", expect="cells")
    assert nbtrack.dataset_versions("cells-new")["version"].tolist() == [1]


def test_validate_streams_a_dataset_version(ref):
    nbtrack.snapshot(pd.concat([ref] * 30, ignore_index=True).assign(count=9), "cells-big")
    result = nbtrack.validate("cells-big@1", nbtrack.contract("cells@1").schema.update_column(
        "count", checks=[pa.Check.in_range(0, 6)]), log=False)
    (f,) = result.failures
    assert f.column == "count" and f.rows == 30 * len(ref)


@pytest.mark.slow
def test_pipeline_with_a_failing_input_exits_1_and_records_why(run_notebook, workspace, tmp_path):
    nbtrack.snapshot(pd.DataFrame({"x": [1.0, 2.0, 3.0]}), "customers")
    run_notebook(nbformat.read(NOTEBOOKS / "pinned.ipynb", as_version=4).cells, name="pinned.ipynb")
    nbtrack.approve(str(tmp_path / "pinned.ipynb"), name="scoring", reason="test")
    nbtrack.contract("customers@1")
    nbtrack.snapshot(pd.DataFrame({"x": [1.0, 2.0, 300.0]}), "customers")  # newest data: out of range

    with pytest.raises(ContractViolation, match="customers@2") as e:
        nbtrack.run_pipeline("scoring", pins={"customers": 2})
    run = nbtrack.get_run(e.value.fields["run_id"])
    assert run.status == "failed" and run.kind == "pipeline"
    assert "column 'x': in_range" in run.tags["nbtrack.contract_failures"]

    # the CLI: the approved pin passes; a stricter pinned contract makes the same run fail with exit 1
    ok = nbtrack.run_pipeline("scoring")
    assert ok.passed and nbtrack.get_run(ok.run_id).status == "finished"
    strict = nbtrack.contract("customers@1", save=False).schema.update_column("x", checks=[pa.Check.le(2.5)])
    nbtrack.contract(strict, name="customers")
    out = subprocess.run([sys.executable, "-m", "nbtrack", "run", "scoring"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 1, out.stderr
    assert "column 'x': less_than_or_equal_to(2.5) failed for 1 row (e.g. 3.0)" in out.stderr
    failed = nbtrack.runs(kind="pipeline")
    assert (failed["status"] == "failed").sum() == 2
