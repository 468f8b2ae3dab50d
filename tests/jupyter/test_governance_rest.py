"""Governance through the sidebar's REST API: the server's user is the actor; a refused move is 403."""

from __future__ import annotations

import getpass
import http.cookiejar
import json
import os
import urllib.error
import urllib.request

import pytest
from jupyterproc import TOKEN
from labserver import start_server, stop

import nbtrack
from nbtrack import workspace as ws_mod


class Browser:
    """A client that keeps the server's login cookie, as a browser does: one stable Jupyter user
    (token-only requests without the cookie are each a new anonymous user in jupyter_server)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def request(self, path: str, method: str = "GET", body: dict | None = None):
        url = self.base + (path if path.startswith("/") else f"/nbtrack/api/{path}")
        headers = {"Authorization": f"token {TOKEN}", "Content-Type": "application/json"}
        req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                     method=method, headers=headers)
        try:
            with self.opener.open(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def get(self, path: str):
        return self.request(path)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("gov")
    s = start_server(root, tmp_path_factory.mktemp("log") / "server.log")
    yield Browser(s.base), root
    stop(s)


def test_the_trainer_gets_403_another_approver_promotes(server, monkeypatch):
    from sklearn.linear_model import LogisticRegression

    s, root = server
    me = s.get("/api/me")[1]["identity"]["username"]
    assert me and me == s.get("/api/me")[1]["identity"]["username"] and me != getpass.getuser()
    monkeypatch.chdir(root)
    monkeypatch.setenv("NBTRACK_URI", str(root / ".nbtrack"))
    for var in ("CI", "GITHUB_ACTOR", "CI_USER"):
        monkeypatch.delenv(var, raising=False)
    ws_mod.reset_cache()
    nbtrack.init(root)
    X, y = [[0.0], [1.0], [0.2], [0.9]], [0, 1, 0, 1]
    for trainer, C in ((me, 1.0), ("bob", 2.0)):  # version 1 by the server's user, 2 by bob
        monkeypatch.setenv("NBTRACK_USER", trainer)
        with nbtrack.track("train"):
            nbtrack.log_model(LogisticRegression(C=C).fit(X, y), "churn")
        nbtrack.register_model("churn", run=nbtrack.runs(limit=1)["id"].iloc[0])
    (root / ".nbtrack" / "config.toml").write_text(
        f'[registry]\nprotected_aliases = ["production"]\nfour_eyes = true\n\n[roles]\napprover = ["{me}"]\n')
    ws_mod.reset_cache()

    url = "models/churn/aliases"
    status, body = s.request(url, method="POST", body={"action": "promote", "alias": "production", "version": 1})
    assert status == 403 and body["error"] == "Forbidden"
    assert body["message"].startswith(f"four-eyes rule: {me} trained churn@1")
    status, body = s.request(url, method="POST", body={"action": "set", "alias": "production", "version": 2})
    assert status == 200 and body["result"]["version"] == 2
    ev = nbtrack.events(target="churn@production")
    assert [(r.actor, r.action) for r in ev.itertuples()] == [(me, "alias.refused"), (me, "alias.set")]
    assert os.environ["NBTRACK_USER"] == "bob"  # the server's user, not the environment, is the actor
