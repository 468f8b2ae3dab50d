"""The UI magics in a real kernel, and the browser's actions on what the kernel recorded."""

from __future__ import annotations

import subprocess
import sys

import pytest

import nbtrack
from nbhelpers import outputs_text
from nbtrack import ui

WIDGET = "application/vnd.jupyter.widget-view+json"
TRAIN = ('%%track train{opts}\nC = {C}\nmodel = LogisticRegression(C=C).fit(raw[["x"]], raw["y"])\n'
         'acc = float(model.score(raw[["x"]], raw["y"]))')


def outputs(cell, kind=None):
    return [o for o in cell["outputs"] if kind is None or o["output_type"] == kind]


@pytest.fixture
def kernel_runs(run_notebook, tmp_path):
    nb = run_notebook([
        "%load_ext nbtrack",
        'import pandas as pd\nfrom sklearn.linear_model import LogisticRegression\n'
        'raw = pd.DataFrame({"x": [0, 1, 2, 3, 4, 5], "y": [0, 0, 0, 1, 1, 1]})',
        TRAIN.format(opts="", C=1.0),
        TRAIN.format(opts=" --summary", C=0.5),
        "%track_history train",
        "import nbtrack\nids = list(nbtrack.runs()['id'])",
        "%track_compare {ids[0]} {ids[1]}",
        "%track_browser",
    ], name="kern.ipynb")
    return nb, str(tmp_path / "kern.ipynb")


def test_magics_render_in_and_outside_widget_frontends(kernel_runs):
    nb, path = kernel_runs
    cells = nb.cells
    assert outputs(cells[2]) == []  # %%track adds nothing to a cell's output by default
    (summary,) = outputs(cells[3], "display_data")
    assert WIDGET in summary["data"] and "nbtrack-summary" in summary["data"]["text/html"]
    assert "\u2713 run " in summary["data"]["text/plain"] and "params: C=0.5" in summary["data"]["text/plain"]
    (hist,) = outputs(cells[4], "execute_result")
    assert "Cell history" in hist["data"]["text/plain"] and "2 versions" in hist["data"]["text/plain"]
    assert "-C = 1.0" in hist["data"]["text/plain"] and 'class="nbtrack-diff"' in hist["data"]["text/html"]
    (comp,) = outputs(cells[6], "execute_result")
    assert comp["data"]["text/plain"].startswith("Comparing 2 runs")
    assert comp["data"]["text/html"].count("data:image/png;base64,") == 2
    (browser,) = outputs(cells[7], "execute_result")
    assert WIDGET in browser["data"]
    assert browser["data"]["text/html"].count('class="nbtrack-row"') == 2  # this notebook's two runs
    assert "train" in browser["data"]["text/plain"]


def test_run_tab_shows_data_and_models_registers_and_restores(kernel_runs):
    _nb, path = kernel_runs
    b = ui.browser(notebook=path)
    assert b.total == 2
    newest = b.rows[0]
    b.open_run(newest)
    panel = b.run_panel
    assert "C" in panel.w_details.value and "acc" in panel.w_details.value
    assert [i["ref"] for i in panel.io["inputs"]] == ["raw@1"]
    assert any(i["kind"] == "model" for i in panel.io["outputs"])
    links = [w.description for row in panel.w_io.children for w in row.children[1:]]
    assert "dataset raw@1" in links
    panel.open_version({"kind": "dataset", "ref": "raw@1"})
    assert panel.last_message == "nbtrack.load('raw@1')"
    (used_by,) = panel.w_more.children[0].children  # raw@1 was also read by the first run
    used_by.click()
    assert b.run_id == b.rows[1]
    b.open_run(newest)
    panel.w_name.value = "clf"
    version = panel.register()
    assert version is not None and "registered" in panel.last_message
    assert "clf" in set(nbtrack.models()["name"])
    # restore: a callback the %track_browser magic hands in; no callback, no button
    calls = []
    b = ui.browser(notebook=path, restore=lambda rid: calls.append(rid) or {"raw": "raw@1"})
    b.open_run(b.rows[0])
    buttons = {w.description: w for w in b.run_panel.children[3].children if hasattr(w, "click")}
    buttons["restore"].click()
    assert calls == [b.rows[0]]
    assert "restored raw = raw@1" in b.run_panel.last_message
    assert "LogisticRegression" in b.run_panel.w_more.children[0].value  # the run's code
    b2 = ui.browser(notebook=path)
    b2.open_run(b2.rows[0])
    assert "restore" not in [getattr(w, "description", "") for w in b2.run_panel.children[3].children]


def test_summary_for_every_tracked_cell_with_env_switch(run_notebook):
    nb = run_notebook(["%load_ext nbtrack", "%%track\nx = 1\nscore = x + 1"], name="env.ipynb",
                      env={"NBTRACK_SUMMARY": "1"})
    (out,) = outputs(nb.cells[1], "display_data")
    assert "metrics: score=2" in out["data"]["text/plain"]


def test_load_ext_imports_no_widgets_pandas_matplotlib_or_sqlalchemy():
    code = ("import sys\nfrom IPython.core.interactiveshell import InteractiveShell\n"
            "ip = InteractiveShell.instance()\n"
            "from nbtrack.ipython import extension\n"
            "extension.warm_read_path = lambda: None  # the read path warms up in a thread afterwards\n"
            "ip.run_line_magic('load_ext', 'nbtrack')\n"
            "print(sorted(m for m in ('ipywidgets', 'pandas', 'matplotlib', 'sqlalchemy', 'nbtrack.ui.widgets') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr


STACKED = [  # (inner cell magic + body, what its run records as params)
    ("%%time\ny = sum(range(1000))\nlr = 0.1\ny", {"lr": 0.1}),
    ("%%capture cap\nprint('hidden')\nalpha = 2", {"alpha": 2}),
    ("%%timeit -n1 -r1\nz = 1", {}),
    ("%%writefile out.txt\nhello file", {}),
    ("%%bash\necho from bash $((1+2))", {}),
    ("%%html\n<b>bold</b>", {}),
    ("%%javascript\nconsole.log(1)", {}),
    ("%%script python3\nprint('script')", {}),
    ("%%shout\nquiet words", {}),  # a cell magic the user registered
]
SHOUT = ("from IPython.core.magic import register_cell_magic\n"
         "@register_cell_magic\ndef shout(line, cell):\n    print(cell.upper())")


def _shown(cell) -> list:
    import re

    out: list = []
    for o in cell["outputs"]:
        text = o.get("text") or o.get("data", {}).get("text/plain") or o.get("ename", "")
        kind = (o["output_type"], o.get("name"))
        if out and kind[0] == "stream" and out[-1][0] == kind:  # front ends show these as one
            out[-1] = (kind, out[-1][1] + text)
        else:
            out.append((kind, text))
    return [(k, re.sub(r"\d[\d.]*(e[+-]?\d+)? ?(ns|µs|μs|us|ms|s)\b", "T", t)) for k, t in out]  # timings vary


def test_stacked_cell_magics_run_as_without_track(run_notebook, tmp_path):
    cells = ["%load_ext nbtrack\nimport os", SHOUT]
    for body, _ in STACKED:
        cells += ["import os\nos.path.exists('out.txt') and os.remove('out.txt')", body,
                  "import os\nos.path.exists('out.txt') and os.remove('out.txt')", "%%track\n" + body]
    cells += ["print(cap.stdout)",
              "%%time\n%%track after-time\nq = 3\nprint('tracked after %%time')",
              "%%timeit -n1 -r1\n%%track\nw = 1"]
    nb = run_notebook(cells)
    for i in range(len(STACKED)):
        plain, tracked = nb.cells[3 + 4 * i], nb.cells[5 + 4 * i]
        assert _shown(tracked) == _shown(plain), STACKED[i][0]
    assert outputs_text(nb.cells[-3]) == "hidden\n\n"
    assert "tracked after %%time" in outputs_text(nb.cells[-2]) and "nbtrack" not in outputs_text(nb.cells[-2])
    warning = [line for line in outputs_text(nb.cells[-1]).splitlines() if "nbtrack" in line]
    assert warning == ["nbtrack: %%track must be the cell's first line (it follows %%timeit); "
                       "the cell ran without tracking it"]

    runs = nbtrack.runs(order_by="started")
    assert len(runs) == len(STACKED) + 1 and set(runs.status) == {"finished"}
    for (body, params), run_id in zip(STACKED, runs.id):
        run = nbtrack.get_run(run_id)
        assert run.source == body  # the whole cell under %%track
        assert run.params == params, body
    last = nbtrack.get_run(runs.id.iloc[-1])
    assert last.name == "after-time" and last.params == {"q": 3} and "tracked after" in last.stdout
