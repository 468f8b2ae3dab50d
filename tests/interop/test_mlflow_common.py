"""The MLflow-free parts of the interop: times, keys, batches, param values (fast, no MLflow)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from nbtrack.errors import InvalidInput
from nbtrack.interop import mlflow_common as mc
from nbtrack.interop.mlflow_export import _batches
from nbtrack.interop.workspace_rows import param_text, param_value


def test_since_accepts_dates_times_and_epoch_and_refuses_the_rest():
    assert mc.since_seconds("2026-01-31") == dt.datetime(2026, 1, 31, tzinfo=dt.timezone.utc).timestamp()
    assert mc.since_seconds("2026-01-31T12:00:00+02:00") == \
        dt.datetime(2026, 1, 31, 10, tzinfo=dt.timezone.utc).timestamp()
    assert mc.since_seconds(dt.date(2026, 1, 31)) == mc.since_seconds("2026-01-31")
    assert mc.since_seconds(12.5) == 12.5 and mc.since_seconds(None) is None
    with pytest.raises(InvalidInput, match="--since 'last week'"):
        mc.since_seconds("last week")
    with pytest.raises(InvalidInput):
        mc.since_seconds([2026])


def test_keys_and_artifact_paths_never_resolve_elsewhere():
    assert mc.key("model.clf.C") == "model.clf.C" and mc.key("a b:c/d") == "a b:c/d"
    assert mc.key("../x") == "x" and mc.key("/abs//y/") == "abs_y" and mc.key("..") == "_"
    assert len(mc.key("k" * 300)) == 250
    assert mc.artifact_path("../../etc/passwd") == "etc/passwd"
    assert mc.artifact_path("figs\\a.png") == "figs/a.png" and mc.artifact_path("..") == "artifact"


def test_batches_keep_mlflow_limits_and_put_the_last_tag_last():
    params, tags, metrics = list(range(250)), list(range(120)), list(range(2500))
    out = _batches(params, tags, metrics, "LAST")
    for b in out:
        assert len(b["params"]) <= 100 and len(b["tags"]) <= 100 and sum(map(len, b.values())) <= 1000
    assert sum(len(b["params"]) for b in out) == 250 and sum(len(b["metrics"]) for b in out) == 2500
    assert [t for b in out for t in b["tags"]] == list(range(120)) + ["LAST"]
    assert out[-1]["tags"][-1] == "LAST"
    assert _batches([], [], [], None) == []
    assert _batches([], [], [], "LAST") == [{"params": [], "tags": ["LAST"], "metrics": []}]


def test_params_as_text_and_back():
    assert param_text("0.5", "float") == "0.5" and param_text(None, "none") == "None"
    assert param_text("[1, 2]", "json") == "[1, 2]" and param_text("True", "bool") == "True"
    assert param_value("3") == 3 and param_value("0.05") == 0.05 and param_value("1e-3") == 0.001
    assert param_value("True") is True and param_value("None") is None
    assert param_value("gini") == "gini" and param_value("nan") == "nan" and param_value("inf") == "inf"


def test_import_nbtrack_does_not_import_mlflow():
    code = "import sys, nbtrack, nbtrack.cli; assert 'mlflow' not in sys.modules, 'mlflow imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_says_in_one_line_what_mlflow_refused(workspace, tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from click.testing import CliRunner

    import nbtrack
    from nbtrack.cli import cli

    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with nbtrack.track("one"):
        nbtrack.log_metric("acc", 1.0)
    out = CliRunner().invoke(cli, ["export", "mlflow", "--tracking-uri", f"file://{tmp_path / 'folder'}"])
    assert out.exit_code == 1 and out.output.startswith("Error: MLflow: The filesystem tracking backend"), out.output
    assert len(out.output.strip().splitlines()) == 1
    out = CliRunner().invoke(cli, ["export", "mlflow", "--tracking-uri", "sqlite:///x.db", "--since", "soon"])
    assert out.exit_code == 2 and "--since 'soon'" in out.output
