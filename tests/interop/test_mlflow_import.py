"""Import from a tracking store that MLflow itself wrote (SQLite, in-process)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import nbtrack

mlflow = pytest.importorskip("mlflow")
pytestmark = pytest.mark.slow


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch):
    """Runs (a parent and two children with metric histories and artifacts) and two registered models:
    ``clf`` (skops, MLflow's default, alias ``champion``) and ``pickled`` (cloudpickle), written by MLflow."""
    from mlflow.models import infer_signature
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("churn")
    X, y = load_iris(return_X_y=True, as_frame=True)
    with mlflow.start_run(run_name="search") as parent:
        for depth in (2, 3):
            with mlflow.start_run(run_name=f"depth={depth}", nested=True):
                mlflow.log_params({"max_depth": depth, "criterion": "gini", "lr": 0.05})
                for step in range(5):
                    mlflow.log_metric("loss", 1.0 / (depth + step), step=step)
                mlflow.set_tag("team", "churn")
                mlflow.log_text("hello", "notes/readme.txt")
                model = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X, y)
                mlflow.log_metric("acc", model.score(X, y))
                mlflow.sklearn.log_model(model, name="model", registered_model_name="clf",
                                         signature=infer_signature(X, model.predict(X)),
                                         skops_trusted_types=["sklearn.tree._tree.Tree"],
                                         pip_requirements=["scikit-learn"])
        mlflow.sklearn.log_model(model, name="pickled", registered_model_name="pickled",
                                 serialization_format="cloudpickle", pip_requirements=["scikit-learn"])
    client = mlflow.MlflowClient(uri)
    client.set_registered_model_alias("clf", "champion", 1)
    yield uri, client, parent.info.run_id, X
    mlflow.set_tracking_uri(before[0])
    mlflow.set_registry_uri(before[1])


def test_import_runs_histories_artifacts_models_and_aliases(workspace, mlflow_store):
    uri, client, parent_id, X = mlflow_store
    result = nbtrack.import_mlflow(uri)
    theirs = client.search_runs([client.get_experiment_by_name("churn").experiment_id])
    assert (result.created, result.updated, result.unchanged) == (3, 0, 0), result
    assert len(result.refused) == 1 and "models:/pickled/1" in result.refused[0] and "--trust" in result.refused[0]

    ours = nbtrack.runs(experiment="churn")
    assert len(ours) == 3
    for run in theirs:
        mine = nbtrack.get_run(result.runs[run.info.run_id])
        assert mine.tags["mlflow.run_id"] == run.info.run_id and mine.name == run.info.run_name
        assert {k: str(v) for k, v in mine.params.items()} == run.data.params
        assert mine.metrics == run.data.metrics
        assert mine.status == "finished" and mine.started == run.info.start_time / 1000
        assert mine.ended == run.info.end_time / 1000
        for key in run.data.metrics:
            hist = mine.metric_history(key)
            assert [(int(s), v, round(t.timestamp() * 1000)) for s, v, t in
                    hist[["step", "value", "timestamp"]].itertuples(index=False)] == \
                [(m.step, m.value, m.timestamp) for m in client.get_metric_history(run.info.run_id, key)]
        if run.info.run_id != parent_id:
            assert mine.parent_id == result.runs[parent_id]
            assert mine.params["max_depth"] in (2, 3) and mine.params["lr"] == 0.05  # numbers stay numbers
            assert mine.artifact("notes/readme.txt") == b"hello"
    assert len(nbtrack.runs(filter="params.max_depth >= 3")) == 1

    versions = nbtrack.model_versions("clf")
    assert sorted(versions["version"]) == [1, 2]
    assert versions.set_index("version").loc[1, "aliases"] == "champion"
    original = mlflow.sklearn.load_model("models:/clf@champion")
    assert (nbtrack.load_model("clf@champion").predict(X) == original.predict(X)).all()
    assert nbtrack.get_model_version("clf@2").run_id in set(result.runs.values())
    assert [c["name"] for c in nbtrack.get_model_version("clf@1").signature["inputs"]] == list(X.columns)
    with pytest.raises(nbtrack.errors.NotFound):
        nbtrack.load_model("pickled@1")

    # again: nothing new; the pickled model with trust; an alias moved in MLflow follows
    client.set_registered_model_alias("clf", "champion", 2)
    again = nbtrack.import_mlflow(uri, trust=True)
    assert (again.created, again.updated, again.unchanged, again.model_versions, again.aliases) == (0, 0, 3, 1, 1)
    assert len(nbtrack.runs()) == 3 and sorted(nbtrack.model_versions("clf")["version"]) == [1, 2]
    assert nbtrack.get_model_version("clf@champion").version == 2
    pickled = mlflow.sklearn.load_model("models:/pickled/1")
    assert (nbtrack.load_model("pickled@1").predict(X) == pickled.predict(X)).all()


def test_cli_import_refuses_pickles_without_trust_and_exports_back(workspace, mlflow_store, tmp_path):
    from nbtrack.cli import cli

    uri, client, _parent, X = mlflow_store
    out = CliRunner().invoke(cli, ["import", "mlflow", "--tracking-uri", uri, "--experiment", "churn"])
    assert out.exit_code == 2, out.output
    assert "refused: MLflow model version models:/pickled/1 is a cloudpickle file" in out.output
    assert "imported 3 runs" in out.output
    out = CliRunner().invoke(cli, ["import", "mlflow", "--tracking-uri", uri, "--experiment", "nope"])
    assert out.exit_code == 2 and "no experiment 'nope'" in out.output

    # exported back to where it came from: nothing is duplicated there
    out = CliRunner().invoke(cli, ["export", "mlflow", "--tracking-uri", uri])
    assert out.exit_code == 0, out.output
    assert "(0 new, 0 updated, 0 unchanged, 3 imported from there), 0 new model versions" in out.output
    assert len(client.search_runs([client.get_experiment_by_name("churn").experiment_id])) == 3
    assert len(client.search_model_versions("name='clf'")) == 2

    # what came from MLflow goes out to another store; runs exported from here are not imported twice
    other = f"sqlite:///{tmp_path / 'other.db'}"
    out = CliRunner().invoke(cli, ["export", "mlflow", "--tracking-uri", other, "--since", "2000-01-01"])
    assert out.exit_code == 0, out.output
    assert "exported 3 runs" in out.output and "2 new model versions" in out.output
    back = nbtrack.import_mlflow(other, models=False)
    assert back.skipped == 3 and len(nbtrack.runs()) == 3
    out = CliRunner().invoke(cli, ["export", "mlflow", "--tracking-uri", other, "--since", "yesterday"])
    assert out.exit_code == 2 and "--since 'yesterday'" in out.output


@pytest.mark.postgres
def test_import_into_postgres_keeps_each_run_s_json_exact(pg_workspace, mlflow_store):
    """The import writes params and metrics through the general path, and rewrites a changed run's
    histories whole: each run's params/metrics JSON (migration 0009) says what its rows say."""
    import pandas as pd

    from nbtrack.store import pg_summary

    uri, client, parent_id, X = mlflow_store
    assert nbtrack.import_mlflow(uri).created == 3
    child = next(r for r in client.search_runs([client.get_experiment_by_name("churn").experiment_id])
                 if r.data.tags.get("mlflow.runName") == "depth=2")
    client.log_metric(child.info.run_id, "loss", 0.01, step=9)  # a new latest value
    client.log_param(child.info.run_id, "extra", "x")
    result = nbtrack.import_mlflow(uri)
    assert result.updated == 1, result
    with pg_workspace.meta.read() as conn:
        assert pg_summary.stale(conn, limit=None) == []
    page = nbtrack.runs(experiment="churn", order_by="name", limit=10)
    pd.testing.assert_frame_equal(page, nbtrack.runs(experiment="churn", order_by="name"))
    row = page.set_index("name").loc["depth=2"]
    assert row["metrics.loss"] == 0.01 and row["params.extra"] == "x"
