"""The prediction server over real HTTP (uvicorn on 127.0.0.1, a free port)."""

from __future__ import annotations

import io
import operator
import threading
import time

import httpx
import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

import nbtrack
from nbtrack.errors import InvalidInput, UntrustedModel

TOKEN = "s3cret-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def server(churn):
    with nbtrack.serve("churn@production", token=TOKEN, poll=0.1, flush_every=0.2) as s:
        yield s


def post(s, body=None, *, path="/v1/models/churn/predict", headers=AUTH, **kw):
    return httpx.post(s.url + path, json=body, headers=headers, timeout=30, **kw)


def rows(X, n=5):
    return X.head(n).assign(plan=X["plan"].astype(str).head(n))


def test_predict_in_every_body_format(server, churn):
    X, m1, _ = churn
    expected = m1.predict(X.head(5)).tolist()
    part = rows(X)
    records = post(server, {"records": part.to_dict("records")})
    split = post(server, {"columns": list(part.columns), "data": part.to_numpy().tolist()})
    csv = httpx.post(server.url + "/v1/models/churn/predict", content=part.to_csv(index=False).encode(),
                     headers={**AUTH, "Content-Type": "text/csv"})
    buf = io.BytesIO()
    part.to_parquet(buf)
    parquet = httpx.post(server.url + "/v1/models/churn/predict", content=buf.getvalue(),
                         headers={**AUTH, "Content-Type": "application/vnd.apache.parquet"})
    for r in (records, split, csv, parquet):
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == expected
        assert r.json()["version"] == 1 and r.headers["X-Model-Version"] == "1"
    proba = post(server, {"records": part.to_dict("records")}, params={"proba": "true"})
    assert proba.status_code == 200
    np.testing.assert_allclose(proba.json()["probabilities"], m1.predict_proba(X.head(5)), rtol=1e-9)
    assert proba.json()["classes"] == [0, 1] and proba.json()["predictions"] == expected


def test_token_is_required_everywhere_but_health(server):
    body = {"records": [{"age": 30, "income": 50.0, "plan": "basic"}]}
    assert post(server, body, headers={}).status_code == 401
    wrong = post(server, body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "token" in wrong.json()["error"]
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    assert httpx.get(server.url + "/metrics").status_code == 401
    assert httpx.get(server.url + "/v1/models").status_code == 401
    assert httpx.get(server.url + "/health").status_code == 200
    assert post(server, body).status_code == 200


def test_no_token_binds_only_loopback(churn):
    with pytest.raises(InvalidInput, match="token"):
        nbtrack.serve("churn@production", host="0.0.0.0")


def test_422_names_every_problem(server):
    body = {"records": [
        {"age": 30.5, "income": "lots", "colour": "red"},
        {"age": 40, "income": None, "colour": "blue"},
    ]}
    r = post(server, body)
    assert r.status_code == 422
    problems = {(p["column"], p["problem"]) for p in r.json()["problems"]}
    assert problems == {("plan", "missing"), ("colour", "unexpected"), ("age", "dtype"), ("income", "dtype"),
                        ("income", "null")}
    assert r.headers["X-Model-Version"] == "1"
    age = next(p for p in r.json()["problems"] if p["column"] == "age")
    assert age["rows"] == [0] and "30.5" in age["message"]


def test_training_coercions_are_accepted(server, churn):
    X, m1, _ = churn
    # whole numbers where floats were trained, floats that are whole where ints were, labels for categories
    r = post(server, {"records": [{"age": 31.0, "income": 50, "plan": "pro"}]})
    assert r.status_code == 200, r.text
    want = m1.predict(pd.DataFrame({"age": [31], "income": [50.0], "plan": pd.Categorical(["pro"])}))
    assert r.json()["predictions"] == want.tolist()


def test_413_404_415_and_bad_json(churn):
    with nbtrack.serve("churn@production", max_body=200, log_predictions=False) as s:
        big = {"records": [{"age": 30, "income": 50.0, "plan": "basic"}] * 20}
        r = httpx.post(s.url + "/v1/models/churn/predict", json=big)
        assert r.status_code == 413 and "larger than 200 bytes" in r.json()["error"]
        r = httpx.post(s.url + "/v1/models/nope/predict", json={"records": []})
        assert r.status_code == 404 and r.json()["models"] == ["churn"]
        assert httpx.get(s.url + "/v1/models/nope").status_code == 404
        r = httpx.post(s.url + "/v1/models/churn/predict", content=b"x", headers={"Content-Type": "text/xml"})
        assert r.status_code == 415
        r = httpx.post(s.url + "/v1/models/churn/predict", content=b"{oops",
                       headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "JSON" in r.json()["error"]


def test_alias_switch_under_load_fails_no_request(server, churn):
    X, m1, m2 = churn
    one = rows(X, 1).to_dict("records")
    expect = {1: m1.predict(X.head(1)).tolist(), 2: m2.predict(X.head(1)).tolist()}
    assert expect[1] != expect[2]
    seen, failures, stop = [], [], threading.Event()

    def client():
        with httpx.Client(headers=AUTH, timeout=30) as c:
            while not stop.is_set():
                try:
                    r = c.post(server.url + "/v1/models/churn/predict", json={"records": one})
                except httpx.HTTPError as e:
                    failures.append(repr(e))
                    continue
                if r.status_code != 200:
                    failures.append(r.text)
                    continue
                v = r.json()["version"]
                assert int(r.headers["X-Model-Version"]) == v
                seen.append((v, r.json()["predictions"] == expect[v]))

    t = threading.Thread(target=client)
    t.start()
    try:
        while len(seen) < 20:
            time.sleep(0.01)
        nbtrack.set_alias("churn", "production", 2, reason="test promotion")
        deadline = time.monotonic() + 20
        while (not seen or seen[-1][0] != 2) and time.monotonic() < deadline:
            time.sleep(0.01)
        n = len(seen)
        while len(seen) < n + 20 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        t.join()
    assert not failures
    versions = [v for v, _ in seen]
    assert versions[0] == 1 and versions[-1] == 2
    first2 = versions.index(2)
    assert set(versions[first2:]) == {2}, "once version 2 answered, version 1 never did again"
    assert all(ok for _, ok in seen), "each response's predictions are those of the version it names"
    assert server.models == {"churn": 2}


def test_prediction_log_rows_with_lineage(churn):
    X, m1, _ = churn
    part = rows(X, 3)
    with nbtrack.serve("churn@production", flush_every=60) as s:
        ids = []
        for i in range(3):
            r = httpx.post(s.url + "/v1/models/churn/predict", json={"records": part.to_dict("records")},
                           headers={"X-Request-Id": f"req-{i}"})
            ids.append(r.headers["X-Request-Id"])
        live = nbtrack.served("churn")
        assert live[["model", "ref", "version", "status"]].values.tolist() == [["churn", "churn@production", 1,
                                                                                 "running"]]
    # stopping the server wrote what was buffered
    assert ids == ["req-0", "req-1", "req-2"]
    log = nbtrack.load("churn.predictions")
    assert list(log.columns) == ["age", "income", "plan", "prediction", "version", "timestamp", "request_id"]
    assert len(log) == 9 and log["request_id"].tolist() == [f"req-{i}" for i in range(3) for _ in range(3)]
    assert (log["version"] == 1).all()
    assert log["prediction"].tolist() == m1.predict(X.head(3)).tolist() * 3
    pd.testing.assert_frame_equal(log.head(3)[["age", "income"]], X.head(3)[["age", "income"]])
    assert str(log["timestamp"].dtype).startswith("datetime64") and str(log["timestamp"].dt.tz) == "UTC"
    graph = nbtrack.lineage("churn.predictions@latest").to_frame()
    text = graph.to_string()
    assert "churn@1" in text, text
    serve_runs = nbtrack.runs(kind="serve")
    assert len(serve_runs) == 1 and serve_runs.iloc[0]["status"] == "finished"
    done = nbtrack.served().iloc[0]
    assert (done["status"], done["rows_logged"], done["rows_last_hour"]) == ("finished", 9, 9)
    assert done["run"] == serve_runs.iloc[0]["id"]


def test_prediction_log_appends_versions_and_samples(churn):
    X, _, _ = churn
    body = {"records": rows(X, 2).to_dict("records")}
    with nbtrack.serve("churn@production", flush_every=0.05) as s:
        for _ in range(3):
            httpx.post(s.url + "/v1/models/churn/predict", json=body)
            deadline = time.monotonic() + 10
            while s.log.flush() == 0 and not s.log.versions and time.monotonic() < deadline:
                time.sleep(0.02)
    versions = nbtrack.dataset_versions("churn.predictions")
    assert versions["n_rows"].iloc[-1] == 6 and versions["n_rows"].is_monotonic_increasing
    assert len(nbtrack.load("churn.predictions")) == 6
    with nbtrack.serve("churn@production", sample=0.0) as s:
        for _ in range(5):
            assert httpx.post(s.url + "/v1/models/churn/predict", json=body).status_code == 200
    assert len(nbtrack.load("churn.predictions")) == 6


def test_metrics_parse_with_prometheus_client(server, churn):
    X, _, _ = churn
    body = {"records": rows(X, 4).to_dict("records")}
    for _ in range(3):
        assert post(server, body).status_code == 200
    post(server, {"records": [{"age": "old"}]})
    text = httpx.get(server.url + "/metrics", headers=AUTH).text
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    reqs = {(s.labels["status"], s.labels["version"]): s.value for s in fams["nbtrack_requests"].samples
            if s.name == "nbtrack_requests_total"}
    assert reqs[("200", "1")] == 3 and reqs[("422", "1")] == 1
    count = next(s.value for s in fams["nbtrack_request_latency_seconds"].samples
                 if s.name == "nbtrack_request_latency_seconds_count")
    assert count == 4
    rows_total = next(s.value for s in fams["nbtrack_predicted_rows"].samples if s.name.endswith("_total"))
    assert rows_total == 12
    assert next(s.value for s in fams["nbtrack_served_version"].samples) == 1
    errors = {s.labels["reason"]: s.value for s in fams["nbtrack_request_errors"].samples if s.name.endswith("_total")}
    assert errors == {"invalid": 1}
    assert "nbtrack_prediction_log_dropped" in fams


def test_metadata_and_openapi(server):
    models = httpx.get(server.url + "/v1/models", headers=AUTH).json()["models"]
    assert [m["route"] for m in models] == ["churn"]
    info = httpx.get(server.url + "/v1/models/churn", headers=AUTH).json()
    assert info["version"] == 1 and info["alias"] == "production" and info["ref"] == "churn@production"
    assert info["training_data"] == "churn-train@1"
    assert [c["name"] for c in info["signature"]["inputs"]] == ["age", "income", "plan"]
    assert info["schema"]["columns"][0] == {"name": "age", "dtype": "int64", "nullable": False}
    doc = httpx.get(server.url + "/openapi.json", headers=AUTH).json()
    op = doc["paths"]["/v1/models/churn/predict"]["post"]
    row = op["requestBody"]["content"]["application/json"]["schema"]["oneOf"][0]["properties"]["records"]["items"]
    assert row["required"] == ["age", "income", "plan"] and row["properties"]["age"]["type"] == "integer"
    assert doc["openapi"].startswith("3.")


def test_untrusted_model_needs_trust(workspace):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.linear_model import LinearRegression

    X = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) ** 2})
    model = make_pipeline(FunctionTransformer(operator.neg), LinearRegression()).fit(X, X["a"] * 2)
    nbtrack.log_model(model, "reg", X=X)
    with pytest.raises(UntrustedModel, match="_operator.neg"):
        nbtrack.serve("reg@1")
    with nbtrack.serve("reg@1", trust=["_operator.neg"], log_predictions=False) as s:
        r = httpx.post(s.url + "/v1/models/reg/predict", json={"records": [{"a": 3.0, "b": 9.0}]})
        assert r.status_code == 200
        assert r.json()["predictions"] == pytest.approx(model.predict(X.iloc[[3]]).tolist())


def test_prediction_log_buffers_then_drops_while_the_store_is_away(churn, tmp_path):
    from nbtrack import workspace as ws_mod
    from nbtrack.serve.metrics import Metrics
    from nbtrack.serve.predlog import PredictionLog
    from nbtrack.serve.source import load_served

    later = tmp_path / "later"  # the store's folder does not exist yet: every write fails
    away = ws_mod.Workspace(f"sqlite:///{later / '.nbtrack' / 'meta.db'}", str(later / ".nbtrack" / "objects"))
    served = load_served("churn@production")
    X, _, _ = churn
    cols = served.schema.validate_columns(rows(X, 2).to_dict("list"), 2)
    metrics = Metrics()
    log = PredictionLog(away, max_buffer=5, flush_every=3600, metrics=metrics)
    log.start()
    try:
        log.record(served, "r1", cols, [0, 1])
        log.record(served, "r2", cols, [0, 1])
        assert log.flush() == 0  # failed: the 4 rows stay buffered
        log.record(served, "r3", cols, [0, 1])  # 6 rows would pass max_buffer: dropped, counted
        log.update_metrics()
        fams = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
        value = {f: next(s.value for s in fams[f].samples) for f in
                 ("nbtrack_prediction_log_dropped", "nbtrack_prediction_log_write_failures",
                  "nbtrack_prediction_log_buffered")}
        assert value == {"nbtrack_prediction_log_dropped": 2, "nbtrack_prediction_log_write_failures": 1,
                         "nbtrack_prediction_log_buffered": 4}
        later.mkdir()
        ws_mod.init(later)  # the store is back
        assert log.flush() == 4
    finally:
        log.stop()
    back = ws_mod.Workspace(f"sqlite:///{later / '.nbtrack' / 'meta.db'}", str(later / ".nbtrack" / "objects"))
    assert nbtrack.load("churn.predictions", workspace=back)["request_id"].tolist() == ["r1", "r1", "r2", "r2"]
