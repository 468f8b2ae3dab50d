"""Alert sinks: JSON lines, webhooks with retry, backoff and timeout; rules stored and listed."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from nbtrack.cli import cli
from nbtrack.errors import InvalidInput
from nbtrack.monitor.rules import Rule, add_rule, list_rules, remove_rule
from nbtrack.monitor.sinks import parse_sink, send
from monitor.webhook import Receiver


def test_webhook_is_retried_with_backoff_until_delivered():
    with Receiver(fail_first=2) as r:
        t0 = time.monotonic()
        d = send(r.url, {"alerts": ["x"]}, backoff=0.05)
        took = time.monotonic() - t0
    assert d.ok and d.attempts == 3 and r.attempts == 3 and r.bodies == [{"alerts": ["x"]}]
    assert took >= 0.05 + 0.1  # backoff doubled between tries


def test_webhook_client_errors_are_not_retried_and_timeouts_are_bounded():
    with Receiver(status=404) as r:
        d = send(r.url, {"a": 1}, backoff=0.01)
    assert not d.ok and d.attempts == 1 and d.detail == "HTTP 404"
    with Receiver(delay=1.0) as r:
        t0 = time.monotonic()
        d = send(r.url, {"a": 1}, retries=2, backoff=0.01, timeout=0.2)
        assert time.monotonic() - t0 < 1.0
    assert not d.ok and d.attempts == 2


def test_jsonl_and_log_sinks(tmp_path, capsys):
    path = tmp_path / "alerts" / "a.jsonl"
    assert send(f"jsonl:{path}", {"model": "m@1", "alerts": ["x"]}).ok
    assert send(str(path), {"model": "m@1", "alerts": ["y"]}).ok
    assert [json.loads(line)["alerts"] for line in path.read_text().splitlines()] == [["x"], ["y"]]
    assert send("log", {"model": "m@1", "alerts": ["psi"]}).ok
    assert "ALERT m@1: psi" in capsys.readouterr().err
    with pytest.raises(InvalidInput, match="unknown alert sink"):
        parse_sink("ftp://x")


def test_rules_are_stored_listed_and_removed(workspace):
    r = add_rule(Rule("churn@production", {"psi": 0.3}, ["auc < 0.85"], ["log"]))
    assert [x.id for x in list_rules()] == [r.id] and list_rules()[0].thresholds == {"psi": 0.3}
    runner = CliRunner()
    out = runner.invoke(cli, ["monitor", "add", "churn@production", "--ks-p", "0.001", "--metric", "f1 < 0.5",
                              "--sink", "alerts.jsonl", "--retrain", "churn-train", "--promote-to", "production",
                              "--gate-vs", "production:auc"])
    assert out.exit_code == 0, out.output
    listed = runner.invoke(cli, ["monitor", "list", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [x["model"] for x in rows] == ["churn@production"] * 2 and "retrain churn-train" in rows[1]["rule"]
    assert runner.invoke(cli, ["monitor", "add", "churn@production", "--metric", "auc <"]).exit_code == 2
    assert runner.invoke(cli, ["monitor", "add", "churn", "--promote-to", "production"]).exit_code == 2
    assert runner.invoke(cli, ["monitor", "rm", str(r.id)]).exit_code == 0
    assert runner.invoke(cli, ["monitor", "rm", "999"]).exit_code == 2
    remove_rule(rows[1]["id"])
    assert list_rules() == []
