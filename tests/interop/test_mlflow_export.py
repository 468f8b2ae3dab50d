"""Export to a real MLflow tracking store (SQLite, in-process), read back by MLflow's own client."""

from __future__ import annotations

import math

import pytest

import nbtrack

mlflow = pytest.importorskip("mlflow")
pytestmark = pytest.mark.slow


@pytest.fixture
def mlflow_uri(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    yield uri
    mlflow.set_tracking_uri(before[0])
    mlflow.set_registry_uri(before[1])


def _workspace_runs():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    nbtrack.snapshot(X, "iris")
    with nbtrack.track("sweep", params={"grid": [0.1, 1.0]}) as parent:
        for C in (0.1, 1.0):
            with nbtrack.track(f"C={C}", params={"C": C, "solver": "lbfgs", "scale": None}):
                frame = nbtrack.load("iris@1")
                for step in range(4):
                    nbtrack.log_metric("loss", 1.0 / (step + 1) + C, step=step)
                nbtrack.log_metric("acc", 0.9 + C / 100)
                nbtrack.log_metric("broken", float("nan"))
                nbtrack.set_tag("team", "churn")
                fig, ax = plt.subplots()
                ax.plot([1, 2, 3])
                nbtrack.log_artifact(fig, name="curve.png")
                plt.close(fig)
                nbtrack.log_artifact("some notes", name="notes/readme.txt")
                model = LogisticRegression(C=C, max_iter=500).fit(frame, y)
                nbtrack.log_model(model, "iris-clf", X=frame)
    return parent, X


def test_export_reads_back_in_mlflow_and_reexport_updates_without_duplicates(workspace, mlflow_uri, tmp_path):
    from mlflow import MlflowClient

    parent, X = _workspace_runs()
    nbtrack.set_alias("iris-clf", "production", 1)
    nbtrack.set_alias("iris-clf", "staging", 2)
    ours = nbtrack.runs()
    result = nbtrack.export_mlflow(mlflow_uri)
    assert (result.created, result.updated, result.unchanged) == (3, 0, 0), result
    assert result.model_versions == 2 and result.aliases == 2 and not result.warnings

    df = mlflow.search_runs(search_all_experiments=True)
    assert sorted(df["tags.nbtrack.run_id"]) == sorted(ours["id"])
    client = MlflowClient(mlflow_uri)
    for rid in ours["id"]:
        run = nbtrack.get_run(rid)
        row = df[df["tags.nbtrack.run_id"] == rid].iloc[0]
        theirs = client.get_run(row["run_id"])
        assert theirs.data.params == {k: (str(v) if not isinstance(v, list) else "[0.1, 1.0]")
                                      for k, v in run.params.items()}
        for k, v in run.metrics.items():
            assert (math.isnan(theirs.data.metrics[k]) if v is None else theirs.data.metrics[k] == v), k
        assert theirs.info.status == "FINISHED" and theirs.info.run_name == run.name
        assert theirs.info.start_time == round(run.started * 1000)
        assert theirs.info.end_time == round(run.ended * 1000)
        hist = run.metric_history()
        for k in run.metrics:
            mine = [(int(s), None if math.isnan(v) else v, round(t.timestamp() * 1000))
                    for s, v, t in hist[hist.key == k][["step", "value", "timestamp"]].itertuples(index=False)]
            got = [(m.step, None if math.isnan(m.value) else m.value, m.timestamp)
                   for m in client.get_metric_history(theirs.info.run_id, k)]
            assert sorted(got, key=str) == sorted(mine, key=str), k
        if run.parent_id:
            assert theirs.data.tags["mlflow.parentRunId"] == result.runs[parent.id]
            assert theirs.data.tags["team"] == "churn"
            files = {a.path for a in client.list_artifacts(theirs.info.run_id)}
            assert {"curve.png", "notes"} <= files
            got = client.download_artifacts(theirs.info.run_id, "curve.png", str(tmp_path / rid))
            assert open(got, "rb").read() == run.artifact("curve.png")
            inputs = {(d.dataset.name, d.dataset.digest) for d in theirs.inputs.dataset_inputs}
            fingerprint = nbtrack.dataset_version("iris@1").fingerprint
            assert inputs == {("iris", fingerprint[:32])}

    ours_model = nbtrack.load_model("iris-clf@production")
    theirs_model = mlflow.sklearn.load_model("models:/iris-clf@production")
    assert (theirs_model.predict(X) == ours_model.predict(X)).all()
    assert (theirs_model.predict_proba(X) == ours_model.predict_proba(X)).all()
    info = mlflow.models.get_model_info("models:/iris-clf@production")
    assert [c["name"] for c in info.signature.inputs.to_dict()] == list(X.columns)

    # again: nothing changes, nothing is duplicated
    again = nbtrack.export_mlflow(mlflow_uri)
    assert (again.created, again.updated, again.unchanged, again.model_versions, again.aliases) == (0, 0, 3, 0, 0)
    assert len(mlflow.search_runs(search_all_experiments=True)) == 3
    assert len(client.search_model_versions("name='iris-clf'")) == 2

    # a run exported while running, then finished with more points; an alias moved and one deleted
    live = nbtrack.track("live").__enter__()
    live.log_metric("loss", 0.5, step=0)
    live.flush()
    third = nbtrack.export_mlflow(mlflow_uri)
    assert (third.created, third.unchanged) == (1, 3), third
    assert client.get_run(third.runs[live.id]).info.status == "RUNNING"
    live.log_metric("loss", 0.25, step=1)
    live.log_param("late", 1)
    live.end()
    nbtrack.set_alias("iris-clf", "production", 2)
    nbtrack.delete_alias("iris-clf", "staging")
    fourth = nbtrack.export_mlflow(mlflow_uri)
    assert (fourth.created, fourth.updated, fourth.unchanged, fourth.aliases) == (0, 1, 3, 1), fourth
    assert len(mlflow.search_runs(search_all_experiments=True)) == 4
    finished = client.get_run(fourth.runs[live.id])
    assert finished.info.status == "FINISHED" and finished.data.params == {"late": "1"}
    assert [(m.step, m.value) for m in client.get_metric_history(finished.info.run_id, "loss")] == [(0, 0.5), (1, 0.25)]
    registered = client.get_registered_model("iris-clf")
    assert registered.aliases == {"production": 2}
    assert (mlflow.sklearn.load_model("models:/iris-clf@production").predict(X)
            == nbtrack.load_model("iris-clf@2").predict(X)).all()
