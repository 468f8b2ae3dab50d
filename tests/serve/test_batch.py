"""Batch scoring of files: chunked, validated, identical to model.predict; on a Dask cluster too."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import nbtrack
from nbtrack.errors import InvalidInput
from servehelpers import train_frame


def test_predict_parquet_in_chunks(churn, tmp_path):
    X, m1, _ = churn
    big, _ = train_frame(5000, seed=3)
    big.insert(0, "customer", np.arange(len(big)))
    big.to_parquet(tmp_path / "in.parquet", row_group_size=700)
    res = nbtrack.predict("churn@production", tmp_path / "in.parquet", tmp_path / "out.parquet", chunk_rows=1000,
                          keep=["customer"], proba=True)
    assert (res.rows, res.version) == (5000, 1)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert list(out.columns) == ["customer", "prediction", "proba_0", "proba_1"]
    assert out["customer"].tolist() == list(range(5000))
    feats = big.drop(columns="customer")
    assert out["prediction"].tolist() == m1.predict(feats).tolist()
    np.testing.assert_allclose(out["proba_1"], m1.predict_proba(feats)[:, 1])


def test_predict_csv_and_bad_rows(churn, tmp_path):
    X, m1, _ = churn
    X.to_csv(tmp_path / "in.csv", index=False)
    nbtrack.predict("churn@1", tmp_path / "in.csv", tmp_path / "out.csv", chunk_rows=64)
    out = pd.read_csv(tmp_path / "out.csv")
    assert out["prediction"].tolist() == m1.predict(X).tolist()
    X.drop(columns="plan").to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(InvalidInput, match="'plan' is missing"):
        nbtrack.predict("churn@1", tmp_path / "bad.parquet", tmp_path / "bad-out.parquet")
    assert not (tmp_path / "bad-out.parquet").exists()


def test_cli_predict(churn, tmp_path):
    X, m1, _ = churn
    X.to_parquet(tmp_path / "in.parquet")
    out = subprocess.run([sys.executable, "-m", "nbtrack", "predict", "churn@production", str(tmp_path / "in.parquet"),
                          "-o", str(tmp_path / "out.parquet")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "300 rows scored with churn@1" in out.stdout
    assert pd.read_parquet(tmp_path / "out.parquet")["prediction"].tolist() == m1.predict(X).tolist()
    bad = subprocess.run([sys.executable, "-m", "nbtrack", "predict", "churn@nope", str(tmp_path / "in.parquet"),
                          "-o", str(tmp_path / "x.parquet")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "nope" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_predict_on_a_dask_cluster(churn, tmp_path):
    distributed = pytest.importorskip("distributed")
    X, m1, _ = churn
    big, _ = train_frame(4000, seed=5)
    big.to_parquet(tmp_path / "in.parquet", row_group_size=500)
    # worker threads (no processes: start-up in seconds); tasks still get the model's bytes, never a path
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cl:
        res = nbtrack.predict("churn@production", tmp_path / "in.parquet", tmp_path / "out.parquet",
                              chunk_rows=1000, dask=cl.scheduler_address)
    assert res.rows == 4000
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert out["prediction"].tolist() == m1.predict(big).tolist()
