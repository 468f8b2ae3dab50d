"""Every route of the sidebar API through a real ``jupyter server``."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from labserver import NOTEBOOK

NB = f"notebook={quote(NOTEBOOK)}"


def test_info_reports_the_notebooks_workspace(server, data):
    status, body = server.get(f"info?{NB}")
    assert status == 200
    assert body["workspace"] == str(data.root / ".nbtrack")
    assert "features" not in body  # one wheel ships everything: nothing to probe


def test_cells_of_a_notebook_with_version_counts(server, data):
    status, body = server.get(f"cells?{NB}")
    assert status == 200
    cells = {c["label"]: c for c in body["cells"]}
    assert set(cells) == {"train", "loop"}  # not the other notebook's cell
    assert cells["train"]["versions"] == 3
    assert cells["train"]["latest_run"] == data.cell_a[-1]
    assert cells["train"]["cell_id"] == "cell-a"
    assert cells["loop"]["versions"] == 130
    assert [c["label"] for c in body["cells"]] == ["loop", "train"]  # most recently run first


def test_cells_matches_leading_slash_and_dot_segments(server):
    for spelling in (f"/{NOTEBOOK}", "sub/./dir/../dir/analysis.ipynb"):
        status, body = server.get(f"cells?notebook={quote(spelling)}")
        assert status == 200 and len(body["cells"]) == 2, spelling


def test_cells_needs_a_notebook_inside_the_root(server):
    assert server.get("cells")[0] == 400
    status, body = server.get(f"cells?notebook={quote('../../etc/x.ipynb')}")
    assert status == 400 and body["error"] == "InvalidInput"


def test_runs_of_a_cell_newest_first_with_params_and_metrics(server, data):
    cells = {c["label"]: c for c in server.get(f"cells?{NB}")[1]["cells"]}
    status, body = server.get(f"runs?{NB}&cell={quote(cells['train']['cell_key'])}")
    assert status == 200
    assert body["total"] == 3
    assert [r["id"] for r in body["runs"]] == data.cell_a[::-1]
    newest = body["runs"][0]
    assert newest["metrics"] == {"acc": 0.9} and newest["params"] == {"lr": 0.3}
    assert newest["cell_version"] == 3 and newest["status"] == "finished"
    assert isinstance(newest["started"], float) and newest["duration"] >= 0


def test_runs_are_paged_with_a_total(server, data):
    status, first = server.get(f"runs?{NB}&limit=50")
    assert status == 200 and first["total"] == 133 and len(first["runs"]) == 50
    _, second = server.get(f"runs?{NB}&limit=50&offset=50")
    _, last = server.get(f"runs?{NB}&limit=50&offset=100")
    ids = [r["id"] for page in (first, second, last) for r in page["runs"]]
    assert len(ids) == 133 and len(set(ids)) == 133
    assert set(ids) == set(data.cell_a) | set(data.cell_b)
    started = [r["started"] for page in (first, second, last) for r in page["runs"]]
    assert started == sorted(started, reverse=True)


def test_runs_filter_and_order(server, data):
    status, body = server.get(f"runs?{NB}&filter={quote('metrics.acc >= 0.8')}&order_by=metrics.acc")
    assert status == 200
    assert [r["id"] for r in body["runs"]] == data.cell_a[1:]
    assert body["total"] == 2


@pytest.mark.parametrize("query", ["filter=" + quote("metrics.acc >"), "limit=0", "limit=x", "offset=-1",
                                   "limit=100000"])
def test_runs_bad_query_is_400_with_a_json_error(server, query):
    status, body = server.get(f"runs?{NB}&{query}")
    assert status == 400
    assert body["error"] == "InvalidInput" and body["message"]


def test_run_detail(server, data):
    rid = data.cell_a[-1]
    status, run = server.get(f"runs/{rid}?{NB}")
    assert status == 200
    assert run["id"] == rid and run["cell_id"] == "cell-a" and run["cell_version"] == 3
    assert run["params"] == {"lr": 0.3} and run["metrics"] == {"acc": 0.9}
    assert run["metric_history"] == {"acc": [[0, 0.45], [1, 0.9]]}
    assert run["source"] == "lr = 0.3\nacc = 0.9\n"
    names = {a["name"]: a for a in run["artifacts"]}
    assert set(names) == {"figure-1.png", "model.bin"}
    assert names["figure-1.png"]["media_type"] == "image/png"
    assert "oid" not in names["figure-1.png"] and "source_oid" not in run
    # the URL the sidebar follows for a figure
    status, png = server.get(names["figure-1.png"]["url"], raw=True)
    assert status == 200 and png.startswith(b"\x89PNG")


def test_run_by_unique_prefix(server, data):
    status, run = server.get(f"runs/{data.cell_a[0][:10]}?{NB}")
    assert status == 200 and run["id"] == data.cell_a[0]


def test_run_source(server, data):
    status, body = server.get(f"runs/{data.cell_a[0]}/source?{NB}")
    assert status == 200
    assert body == {"id": data.cell_a[0], "cell_id": "cell-a", "cell_key": f"{data.notebook_abs}::train",
                    "label": "train", "cell_version": 1, "source": "lr = 0.1\nacc = 0.7\n"}


@pytest.mark.parametrize("path", ["runs/0123456789abcdef", "runs/0123456789abcdef/source",
                                  "diff?a=0123456789abcdef&b=fedcba9876543210",
                                  "artifacts/0123456789abcdef/figure-1.png"])
def test_unknown_run_is_404(server, path):
    status, body = server.get(path + ("&" if "?" in path else "?") + NB)
    assert status == 404
    assert body["error"] == "NotFound" and "0123456789abcdef" in body["message"]


def test_diff_of_two_versions(server, data):
    a, b = data.cell_a[0], data.cell_a[2]
    status, body = server.get(f"diff?a={a}&b={b}&{NB}")
    assert status == 200
    assert "-lr = 0.1\n" in body["diff"] and "+lr = 0.3\n" in body["diff"]
    assert body["diff"].startswith(f"--- {a} v1\n+++ {b} v3\n")
    assert body["metrics"] == [{"key": "acc", "a": 0.7, "b": 0.9, "delta": pytest.approx(0.2)}]
    assert body["params"] == [{"key": "lr", "a": 0.1, "b": 0.3}]
    assert server.get(f"diff?a={a}")[0] == 400


def test_artifact_bytes_and_headers(server, data):
    rid = data.cell_a[-1]
    status, png = server.get(f"artifacts/{rid}/figure-1.png?{NB}", raw=True)
    assert status == 200 and png.startswith(b"\x89PNG")
    # a non-image artifact is never served as something a browser would render
    status, blob = server.get(f"artifacts/{rid}/model.bin?{NB}", raw=True)
    assert status == 200 and blob == b"secret-ish bytes"


@pytest.mark.parametrize("name", [
    "../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", "..%252F..%252Fetc%252Fpasswd",
    "%2Fetc%2Fpasswd", "..%5C..%5Cetc%5Cpasswd", "figure-1.png%2F..%2F..%2F..%2Fetc%2Fpasswd",
])
def test_no_traversal_through_artifact_names(server, data, name):
    status, body = server.get(f"/nbtrack/api/artifacts/{data.cell_a[-1]}/{name}?{NB}", raw=True)
    assert status == 404
    assert b"root:" not in body


def test_notebook_directory_that_does_not_exist_is_404(server):
    status, body = server.get(f"cells?notebook={quote('nested/new.ipynb')}")
    assert status == 404 and body["error"] == "NotFound"


@pytest.mark.slow  # issue 19: kept out of the fast subset (README)
def test_no_workspace_yet_and_extension_missing(tmp_path):
    """An empty root: info says so, data routes are 404 NotFound; no extension: plain 404."""
    from labserver import start_server, stop

    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "nb.ipynb").write_text("{}")
    s = start_server(tmp_path / "root", tmp_path / "a.log")
    try:
        status, body = s.get("info?notebook=nb.ipynb")
        assert status == 200 and body["workspace"] is None and "nbtrack init" in body["message"]
        status, body = s.get("cells?notebook=nb.ipynb")
        assert status == 404 and body["error"] == "NotFound"
        assert not (tmp_path / "root" / ".nbtrack").exists()  # reading never creates a workspace
    finally:
        stop(s)
    s = start_server(tmp_path / "root", tmp_path / "b.log", extension=False)
    try:
        assert s.get("info?notebook=nb.ipynb", raw=True)[0] == 404
    finally:
        stop(s)


@pytest.mark.parametrize("path,method", [
    ("info", "GET"), ("runs", "GET"), ("runs/abcd", "GET"), ("runs/abcd/source", "GET"), ("cells", "GET"),
    ("diff", "GET"), ("artifacts/abcd/x.png", "GET"), ("models", "GET"), ("models/m", "GET"),
    ("models/m/aliases", "POST"), ("approvals", "POST"), ("datasets", "GET"), ("events", "GET"),
])
@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_every_route_needs_the_token(server, path, method, token):
    status, body = server.request(path, method=method, token=token, body={} if method == "POST" else None)
    assert status == 403, (path, status, body)


def test_models_promote_with_gate_and_rollback(server, data):
    status, body = server.get(f"models?{NB}")
    assert status == 200 and [m["name"] for m in body["models"]] == ["churn"]
    status, model = server.get(f"models/churn?{NB}")
    assert status == 200 and [v["version"] for v in model["versions"]] == [2, 1]
    assert model["versions"][0]["metrics.accuracy"] == 0.9
    assert server.get(f"models/nope?{NB}")[0] == 404
    assert model["served"] == []  # no `nbtrack serve` ran in this workspace

    url = f"models/churn/aliases?{NB}"
    status, body = server.request(url, method="POST", body={"action": "promote", "alias": "production",
                                                             "version": 2, "gate": "accuracy >= 0.95"})
    assert status == 200 and body["result"]["accepted"] is False
    assert body["result"]["conditions"][0]["detail"] == "accuracy = 0.9, needs >= 0.95"
    assert body["result"]["conditions"][0]["observed"] == 0.9 and body["result"]["conditions"][0]["threshold"] == 0.95
    status, body = server.request(url, method="POST", body={"action": "promote", "alias": "production",
                                                             "version": 1, "gate": "accuracy >= 0.5"})
    assert status == 200 and body["result"]["accepted"] is True
    server.request(url, method="POST", body={"action": "promote", "alias": "production", "version": 2})
    assert server.get(f"models/churn?{NB}")[1]["aliases"] == "production=2"
    status, body = server.request(url, method="POST", body={"action": "rollback", "alias": "production"})
    assert status == 200 and body["result"]["version"] == 1 and body["result"]["previous"] == 2
    status, body = server.request(url, method="POST", body={"action": "explode", "alias": "production"})
    assert status == 400

    status, body = server.get(f"events?{NB}&limit=2")
    assert status == 200 and [e["action"] for e in body["events"]] == ["alias.rollback", "alias.promote"]
    status, body = server.get(f"events?{NB}")
    assert status == 200 and body["events"][0]["action"] == "alias.rollback"  # newest first
    assert len(body["events"]) > 2


def test_registry_routes_answer_json(server, data):
    for path in ("models", "datasets", "events"):
        status, body = server.get(f"{path}?{NB}")
        assert status == 200 and isinstance(body[path], list)


def test_alias_and_approval_bodies_are_validated(server, data):
    status, body = server.request(f"models/m/aliases?{NB}", method="POST", body={"action": "promote"})
    assert status == 400 and body["error"] == "InvalidInput"
    status, body = server.request("approvals", method="POST", body={"reason": "ok"})
    assert status == 400 and body["error"] == "InvalidInput"
    status, body = server.request("approvals", method="POST", body={"notebook": "../../x.ipynb"})
    assert status == 400


def test_approve_posts_to_the_api(server, data):
    status, body = server.request("approvals", method="POST", body={"notebook": NOTEBOOK, "reason": "looks good"})
    assert status in (201, 400, 409), body  # an empty notebook may fail validation, never a 500


@pytest.mark.parametrize("escape", ["status == 'finished') or (id == 'zzz'", "status != 'zz') or (status != 'zz'",
                                    "1 == 1) or (name is not None"])
def test_a_filter_cannot_escape_the_notebook_scope(server, escape):
    status, body = server.get(f"runs?{NB}&filter={quote(escape)}")
    assert status == 400 and body["error"] == "InvalidInput", body
    _, scoped = server.get(f"runs?{NB}&filter={quote('status == ' + repr('finished') + ' or id == ' + repr('zzz'))}"
                           "&limit=1000")
    assert scoped["total"] == 133  # only this notebook's runs, though the filter alone matches others too


@pytest.mark.parametrize("bad", ["params.i in [1, 'a']", "metrics.acc > 1j", "not " * 2000 + "metrics.a > 1",
                                 " and ".join(f"metrics.m{i} > 0" for i in range(70)),
                                 "cell_version == 99999999999999999999999"])
def test_malformed_filters_are_400(server, bad):
    status, body = server.get(f"runs?{NB}&filter={quote(bad)}")
    assert status == 400 and body["error"] == "InvalidInput" and "\n" not in body["message"], body


def test_artifacts_are_served_with_their_real_media_type(server, data):
    """Issue 12: APIHandler.finish used to turn every artifact into application/json."""
    import urllib.request

    from labserver import TOKEN

    def ctype(name):
        req = urllib.request.Request(f"{server.base}/nbtrack/api/artifacts/{data.cell_a[-1]}/{name}?{NB}",
                                     headers={"Authorization": f"token {TOKEN}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.headers.get("Content-Type"), resp.headers.get("Content-Disposition")

    assert ctype("figure-1.png") == ("image/png", None)
    assert ctype("model.bin") == ("application/octet-stream", "attachment")


@pytest.mark.parametrize("version", [{"a": 1}, [1], True, None, 1.5])
def test_a_malformed_alias_version_is_400(server, data, version):
    status, body = server.request(f"models/churn/aliases?{NB}", method="POST",
                                  body={"action": "set", "alias": "staging", "version": version})
    assert status == 400 and body["error"] == "InvalidInput" and "version" in body["message"]


def test_approval_returns_computed_defaults_of_the_parameters_cell(server, data):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from datetime import date\nlr: float = 0.1  # learning rate\nday = str(date.today())  # run date",
        metadata={"tags": ["parameters"]})])
    nbformat.write(nb, data.root / "sub" / "params.ipynb")
    status, body = server.request("approvals", method="POST", body={"notebook": "sub/params.ipynb", "name": "prm"})
    assert status == 201, body
    assert body["result"]["parameters"] == [
        {"name": "lr", "default": 0.1, "type": "float", "help": "learning rate"},
        {"name": "day", "computed": "str(date.today())", "type": None, "help": "run date"}]
