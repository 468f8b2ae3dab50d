"""``nbtrack predict --dask`` on a real cluster (`dask scheduler` + two `dask worker` processes)
whose workers share nothing with the client: the model comes from the PostgreSQL + S3 store
(its bytes are sent to the workers), the input is read by the workers from S3."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest
from click.testing import CliRunner

import nbtrack
from nbtrack.cli import cli
from nbtrack.errors import InvalidInput
from servehelpers import pipeline, train_frame

pytest.importorskip("distributed")
pytest.importorskip("s3fs")
pytestmark = pytest.mark.slow


def test_predictions_from_the_cluster_are_identical_to_local_ones(team_ws, cluster, tmp_path):
    import fsspec

    X, y = train_frame()
    model = pipeline(1.0).fit(X, y)
    nbtrack.log_model(model, "churn", X=X)
    nbtrack.set_alias("churn", "production", 1)
    big, _ = train_frame(4000, seed=5)
    big.insert(0, "id", range(len(big)))
    big.to_parquet(tmp_path / "in.parquet", row_group_size=500)
    s3 = fsspec.filesystem("s3")
    bucket = f"scoring-{uuid.uuid4().hex[:8]}"
    s3.mkdir(bucket)
    s3.put(str(tmp_path / "in.parquet"), f"{bucket}/in/part-0.parquet")
    big.iloc[:700].to_parquet(tmp_path / "small.parquet", row_group_size=300)
    s3.put(str(tmp_path / "small.parquet"), f"{bucket}/in/part-1.parquet")

    res = CliRunner().invoke(cli, ["predict", "churn@production", f"s3://{bucket}/in/", "-o", "cluster.parquet",
                                   "--proba", "--keep", "id", "--chunk-rows", "1000", "--dask", cluster.address],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output + cluster.logs()
    both = pd.concat([big, big.iloc[:700]], ignore_index=True)
    both.to_parquet(tmp_path / "both.parquet", row_group_size=500)
    local = nbtrack.predict("churn@production", tmp_path / "both.parquet", tmp_path / "local.parquet", proba=True,
                            keep=["id"])
    assert local.rows == 4700
    remote = pd.read_parquet(tmp_path / "cluster.parquet")
    pd.testing.assert_frame_equal(remote, pd.read_parquet(tmp_path / "local.parquet"))
    nbtrack.predict("churn@production", f"s3://{bucket}/in/", tmp_path / "local-s3.parquet", proba=True, keep=["id"])
    pd.testing.assert_frame_equal(remote, pd.read_parquet(tmp_path / "local-s3.parquet"))
    assert remote["prediction"].tolist() == model.predict(both.drop(columns="id")).tolist()


def test_a_local_input_the_workers_cannot_see_is_refused(team_ws, cluster, tmp_path):
    if not cluster.isolated:
        pytest.skip("the workers share this machine's disk without namespaces (needs root + unshare)")
    X, y = train_frame()
    nbtrack.log_model(pipeline(1.0).fit(X, y), "churn", X=X)
    X.to_parquet(tmp_path / "in.parquet")
    with pytest.raises(InvalidInput, match=r"Dask workers cannot read .*in\.parquet.*s3://"):
        nbtrack.predict("churn@1", tmp_path / "in.parquet", tmp_path / "out.parquet", dask=cluster.address)
    assert not (tmp_path / "out.parquet").exists()
