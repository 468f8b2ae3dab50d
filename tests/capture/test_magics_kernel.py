"""%%track in real kernels (nbclient): what the store holds and what the cell shows."""

from __future__ import annotations

import shutil
import subprocess

import pytest

import nbtrack
from nbhelpers import outputs_text

LOAD = "%load_ext nbtrack"


def test_params_metrics_stdout_and_source(run_notebook):
    nb = run_notebook([
        LOAD,
        "%%track train --tag team=ml\n# fit the thing\nimport numpy as np\nlr = 0.1\nlayers = [64, 32]\n"
        "model = 'mlp'\nacc = float(np.float64(0.5) + lr)\nloss = np.float32(0.25)\nn = 3\nn += 1\n"
        "flag = True\nprint('epoch done')\nacc",
    ])
    out = nb.cells[1].outputs
    assert [o["output_type"] for o in out] == ["stream", "execute_result"]
    assert out[0]["text"] == "epoch done\n"
    assert out[1]["data"]["text/plain"] == "0.6"
    assert out[1]["execution_count"] == 2

    df = nbtrack.runs()
    assert len(df) == 1
    run = nbtrack.get_run(df.id[0])
    assert run.name == "train" and run.kind == "cell" and run.status == "finished"
    assert run.params == {"flag": True, "layers": [64, 32], "lr": 0.1, "model": "mlp"}
    assert run.metrics == {"acc": pytest.approx(0.6), "loss": 0.25}  # a counter (n += 1) is no metric
    assert run.tags["team"] == "ml"
    assert run.stdout == "epoch done\n"
    assert run.source.startswith("# fit the thing\nimport numpy as np\nlr = 0.1")
    assert run.notebook.endswith("nb.ipynb")
    assert run.cell_version == 1
    assert run.env["python"] and "ipykernel" in run.env["packages"]


def test_figures_saved_and_still_shown(run_notebook):
    nb = run_notebook([
        LOAD + "\nimport matplotlib.pyplot as plt",
        "%%track plot\nfig, ax = plt.subplots()\nax.plot([1, 2, 3], [3, 1, 2])\nax.set_title('curve')",
    ])
    kinds = [o["output_type"] for o in nb.cells[1].outputs]
    assert "display_data" in kinds, "the figure must still show inline"
    shown = [o for o in nb.cells[1].outputs if o["output_type"] == "display_data"]
    assert "image/png" in shown[0]["data"]
    run = nbtrack.get_run(nbtrack.runs().id[0])
    figs = [a for a in run.artifacts if a["kind"] == "figure"]
    assert len(figs) == 1 and figs[0]["media_type"] == "image/png"
    assert run.artifact(figs[0]["name"]).startswith(b"\x89PNG\r\n\x1a\n")


def test_failing_cell_raises_the_same_exception_and_is_recorded(run_notebook):
    nb = run_notebook([LOAD, "%%track boom\nx = 1\nraise ValueError('bad value 42')", "y = 2"],
                      allow_errors=True)
    err = [o for o in nb.cells[1].outputs if o["output_type"] == "error"]
    assert len(err) == 1
    assert err[0]["ename"] == "ValueError" and err[0]["evalue"] == "bad value 42"
    # the traceback points at the user's line, numbered as the user sees the cell
    assert any("line 3" in line for line in err[0]["traceback"])
    run = nbtrack.get_run(nbtrack.runs().id[0])
    assert run.status == "failed"
    assert (run.error_type, run.error_message) == ("ValueError", "bad value 42")
    assert run.params == {"x": 1}


def test_failing_cell_stops_the_notebook_like_an_untracked_one(run_notebook):
    from nbclient.exceptions import CellExecutionError

    with pytest.raises(CellExecutionError, match="ZeroDivisionError"):
        run_notebook([LOAD, "%%track\n1/0", "print('never')"])


def test_reexecuted_cell_forms_a_history(run_notebook):
    cell = "%%track sweep-cell\nC = {C}\nscore = C * 2"
    cells = [LOAD] + [cell.format(C=c) for c in (1, 2, 3)]
    run_notebook(cells)
    hist = nbtrack.runs(order_by="cell_version")
    assert hist["cell_version"].tolist() == [1, 2, 3]
    assert hist["params.C"].tolist() == [1, 2, 3]
    assert hist["metrics.score"].tolist() == [2, 4, 6]
    key = nbtrack.get_run(hist.id[0]).cell_key
    assert nbtrack.cell_history(key)["cell_version"].tolist() == [1, 2, 3]
    # the name written after %%track is enough (issue 19 item 8)
    assert nbtrack.cell_history("sweep-cell")["cell_version"].tolist() == [1, 2, 3]


def test_display_underscore_and_history_unchanged(run_notebook):
    nb = run_notebook([
        LOAD,
        "%%track\nfrom IPython.display import display, HTML\ndisplay(HTML('<b>hi</b>'))\n40 + 2",
        "print(_, Out[2], get_ipython().history_manager.input_hist_raw[2].splitlines()[0], 'display(' in In[2])",
    ])
    outs = nb.cells[1].outputs
    assert outs[0]["output_type"] == "display_data" and outs[0]["data"]["text/html"] == "<b>hi</b>"
    assert outs[1]["output_type"] == "execute_result" and outs[1]["data"]["text/plain"] == "42"
    # raw history keeps the magic line; In[] holds the code that actually ran
    assert outputs_text(nb.cells[2]) == "42 42 %%track True\n"


def test_explicit_api_attaches_to_the_cell_run(run_notebook):
    run_notebook([
        LOAD,
        "%%track\nimport nbtrack\nfor step in range(3):\n    nbtrack.log_metric('loss', 1.0 / (step + 1))\n"
        "nbtrack.log_param('optimizer', 'adam')\nnbtrack.set_tag('stage', 'dev')",
    ])
    df = nbtrack.runs()
    assert len(df) == 1
    run = nbtrack.get_run(df.id[0])
    assert run.params["optimizer"] == "adam" and run.tags["stage"] == "dev"
    hist = run.metric_history("loss")
    assert hist["step"].tolist() == [0, 1, 2]
    assert hist["value"].tolist() == pytest.approx([1.0, 0.5, 1 / 3])


def test_secrets_are_masked_in_params_tags_and_source(run_notebook):
    run_notebook([
        LOAD,
        "%%track --tag api_token=abc\nDB_PASSWORD = 'hunter2'\nopenai_api_key = \"sk-123\"\n"
        "threshold = 0.5\ncfg = dict(host='h', secret='s3cr3t')",
    ])
    run = nbtrack.get_run(nbtrack.runs().id[0])
    assert run.params["DB_PASSWORD"] == "***" and run.params["openai_api_key"] == "***"
    assert run.params["threshold"] == 0.5
    assert run.tags["api_token"] == "***"
    for secret in ("hunter2", "sk-123", "s3cr3t"):
        assert secret not in run.source
    assert "threshold = 0.5" in run.source
    # nothing in any object carries the secrets
    ws = nbtrack.get_workspace()
    for oid in ws.objects:
        data = ws.objects.get(oid)
        assert b"hunter2" not in data and b"sk-123" not in data and b"s3cr3t" not in data


def test_bad_magic_arguments_run_the_cell_untracked(run_notebook):
    nb = run_notebook([LOAD, "%%track --tag nokeyvalue\nprint('still runs')"])
    text = outputs_text(nb.cells[1])
    assert "still runs" in text
    assert "nbtrack:" in text and "--tag expects KEY=VALUE" in text
    assert len(nbtrack.runs()) == 0


def _immutable(path, on: bool) -> bool:
    flag = "+i" if on else "-i"
    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", "-R", flag, str(path)], capture_output=True).returncode == 0


def test_read_only_workspace_leaves_the_cell_unchanged(run_notebook, workspace, tmp_path):
    body = "import sys\nvalue = 6 * 7\nprint('out', value)\nprint('err', file=sys.stderr)\nvalue"
    baseline = run_notebook([LOAD, body], name="plain.ipynb")
    nbtrack.runs()  # the workspace exists and has a schema
    if not _immutable(tmp_path / ".nbtrack", True):
        import os

        if os.geteuid() == 0:
            pytest.skip("cannot make the workspace read-only here (no chattr, running as root)")
        (tmp_path / ".nbtrack").chmod(0o555)
    try:
        tracked = run_notebook([LOAD, "%%track\n" + body], name="tracked.ipynb")
    finally:
        _immutable(tmp_path / ".nbtrack", False)
        (tmp_path / ".nbtrack").chmod(0o755)
    plain_outs, tracked_outs = baseline.cells[1].outputs, tracked.cells[1].outputs
    assert [o for o in tracked_outs if o["output_type"] == "execute_result"][0]["data"] == \
        [o for o in plain_outs if o["output_type"] == "execute_result"][0]["data"]
    stdout = "".join(o["text"] for o in tracked_outs if o.get("name") == "stdout")
    stderr = "".join(o["text"] for o in tracked_outs if o.get("name") == "stderr")
    assert stdout == "out 42\n"
    warning = [line for line in stderr.splitlines() if line.startswith("nbtrack:")]
    assert len(warning) == 1, stderr
    assert stderr.replace(warning[0] + "\n", "") == "err\n"
    assert len(nbtrack.runs()) == 0


def test_capture_failure_after_start_is_recorded_as_capture_failed(run_notebook, workspace, tmp_path):
    """Objects become unwritable while the cell runs: the cell is fine, the run says capture_failed."""
    objects = tmp_path / ".nbtrack" / "objects"
    nb = run_notebook([
        LOAD,
        "%%track\nimport shutil, pathlib\nobj = pathlib.Path(" + repr(str(objects)) + ")\nshutil.rmtree(obj)\n"
        "obj.write_text('not a folder')\nprint('line one\\n' * 2)\nresult = 5",
    ])
    text = outputs_text(nb.cells[1])
    assert text.startswith("line one\nline one\n")
    assert sum(1 for line in text.splitlines() if line.startswith("nbtrack:")) == 1
    run = nbtrack.get_run(nbtrack.runs().id[0])
    assert run.status == "capture_failed"
    assert "capture failed" in run.error_message
