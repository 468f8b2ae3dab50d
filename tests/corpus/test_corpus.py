"""Acceptance (issue 20): the corpus notebooks run untracked and with ``%%track`` on every
code cell in real kernels; tracking changes nothing the cells show, and what it records is
right: figures, loadable versions, lineage, params and metrics against hand-written lists.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from corpus.expect import notebooks, parse

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # ~2 min on an idle 2-core machine

_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_TIMING = re.compile(r"\d+(\.\d+)?\s*(s|ms|µs|seconds)\b")
_CELL_FILE = re.compile(r"/tmp/ipykernel_\d+/\d+\.py:\d+")  # line numbers count the %%track line


def _execute(cells: list[str], path: Path, env: dict[str, str]):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute(env={**os.environ, **env})  # the kernel's own environment: executions can overlap
    nbformat.write(nb, path)
    return nb


def _shown(cell) -> list[str]:
    """What a cell showed, normalised: text without addresses/timings, images as a marker."""
    out = []
    outputs: list[dict] = []
    for o in cell.outputs:  # ipykernel splits a stream into messages anywhere, even mid-line: rejoin first
        if (o["output_type"] == "stream" and outputs and outputs[-1]["output_type"] == "stream"
                and outputs[-1]["name"] == o["name"]):
            outputs[-1] = {**outputs[-1], "text": outputs[-1]["text"] + o["text"]}
        else:
            outputs.append(o)
    for o in outputs:
        if o["output_type"] == "stream":
            lines = [ln for ln in o["text"].splitlines() if not ln.startswith("nbtrack:")]
            text = "\n".join(lines)
            if text:
                text = _CELL_FILE.sub("CELL", _TIMING.sub("T", _ADDRESS.sub("0x", text)))
                out.append(f"{o['name']}:{text}")
        elif o["output_type"] in ("execute_result", "display_data"):
            data = o["data"]
            if "image/png" in data:
                out.append("image")
            else:
                out.append(_ADDRESS.sub("0x", data.get("text/plain", "")))
        elif o["output_type"] == "error":
            out.append(f"error:{o['ename']}")
    # consecutive stream chunks may be split differently: join them
    merged: list[str] = []
    for item in out:
        if merged and item.startswith(("stdout:", "stderr:")) and merged[-1][:7] == item[:7]:
            merged[-1] += "\n" + item[7:]
        else:
            merged.append(item)
    return merged


def _nbtrack_lines(cell) -> list[str]:
    return [ln for o in cell.outputs if o["output_type"] == "stream"
            for ln in o["text"].splitlines() if ln.startswith("nbtrack:")]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Every notebook executed twice; the tracked runs in one workspace."""
    from nbtrack import workspace as ws_mod

    root = tmp_path_factory.mktemp("corpus")
    ws_dir = root / ".nbtrack"
    ws_mod.init(root)
    jobs = {}
    with ThreadPoolExecutor(2) as pool:  # one kernel per core
        for path in notebooks():
            cells = parse(path)
            nb_path = root / f"{path.stem}.ipynb"
            plain = pool.submit(_execute, [c.source for c in cells], root / f"{path.stem}.plain.ipynb",
                                {"NBTRACK_URI": str(root / "unused")})
            tracked = pool.submit(_execute, ["%load_ext nbtrack"] + [f"%%track\n{c.source}" for c in cells],
                                  nb_path, {"NBTRACK_URI": str(ws_dir), "NBTRACK_NOTEBOOK": str(nb_path)})
            jobs[path.stem] = (cells, plain, tracked, str(nb_path))
    results = {k: (cells, plain.result(), tracked.result(), nb) for k, (cells, plain, tracked, nb) in jobs.items()}
    return root, ws_dir, results


@pytest.fixture
def ws(corpus, monkeypatch):
    from nbtrack import workspace as ws_mod

    root, ws_dir, _ = corpus
    monkeypatch.setenv("NBTRACK_URI", str(ws_dir))
    ws_mod.reset_cache()
    yield ws_mod.get_workspace()
    ws_mod.reset_cache()


def test_corpus_size():
    cells = [c for p in notebooks() for c in parse(p)]
    assert len(notebooks()) >= 8 and len(cells) >= 200


def test_no_cell_changes_behaviour(corpus):
    _, _, results = corpus
    changed = []
    for name, (cells, plain, tracked, _) in results.items():
        for i, cell in enumerate(cells):
            a, b = _shown(plain.cells[i]), _shown(tracked.cells[i + 1])
            if a != b:
                changed.append(f"{name} cell {i}: {a!r} != {b!r}")
    assert not changed, "\n".join(changed)


def _runs_by_cell(ws, nb_path: str) -> dict[int, object]:
    import nbtrack

    df = nbtrack.runs(notebook=nb_path, workspace=ws)
    out = {}
    for rid in df["id"]:
        run = nbtrack.get_run(rid, workspace=ws)
        out[int(run.tags["execution_count"]) - 2] = run
    return out


def test_every_cell_is_one_run_in_its_own_history(corpus, ws):
    _, _, results = corpus
    for name, (cells, _, _, nb_path) in results.items():
        runs = _runs_by_cell(ws, nb_path)
        assert sorted(runs) == list(range(len(cells))), name
        assert {r.cell_version for r in runs.values()} == {1}, name
        assert len({r.cell_key for r in runs.values()}) == len(cells), name
        unnamed = [i for i, r in runs.items() if not r.name]
        assert not unnamed, f"{name}: cells {unnamed} got no run name"


def test_shown_figures_are_saved(corpus, ws):
    _, _, results = corpus
    shown = saved = 0
    missing = []
    for name, (cells, plain, _, nb_path) in results.items():
        runs = _runs_by_cell(ws, nb_path)
        for i in range(len(cells)):
            n = sum(1 for o in plain.cells[i].outputs if o["output_type"] == "display_data"
                    and "image/png" in o["data"])
            figs = sum(1 for a in runs[i].artifacts if a["kind"] == "figure")
            shown += n
            saved += min(n, figs)
            if figs < n:
                missing.append(f"{name} cell {i}: {figs}/{n}")
    assert shown >= 40
    assert saved / shown >= 0.99, f"{saved}/{shown} shown figures saved; missing: {missing}"


def _precision_recall(expected: set, got: set) -> tuple[float, float]:
    tp = len(expected & got)
    return (tp / len(got) if got else 1.0), (tp / len(expected) if expected else 1.0)


def test_params_and_metrics_match_the_hand_written_lists(corpus, ws):
    _, _, results = corpus
    exp_p, got_p, exp_m, got_m = set(), set(), set(), set()
    for name, (cells, _, _, nb_path) in results.items():
        runs = _runs_by_cell(ws, nb_path)
        for i, cell in enumerate(cells):
            run = runs[i]
            exp_p |= {(name, i, k) for k in cell.params}
            exp_m |= {(name, i, k) for k in cell.metrics}
            got_p |= {(name, i, k) for k in run.params if not k.startswith("model.")}
            got_m |= {(name, i, k) for k in run.metrics}
    report = (f"params missing {sorted(exp_p - got_p)}\nparams extra {sorted(got_p - exp_p)}\n"
              f"metrics missing {sorted(exp_m - got_m)}\nmetrics extra {sorted(got_m - exp_m)}")
    print(report)
    # known miss: a score that is only printed (text_reviews, last cell)
    for expected, got in ((exp_p, got_p), (exp_m, got_m)):
        precision, recall = _precision_recall(expected, got)
        assert precision >= 0.9 and recall >= 0.9, f"precision {precision:.2f} recall {recall:.2f}\n{report}"


def _model_edges(ws) -> dict[str, set]:
    """notebook path -> {(cell, model name, training dataset name or None)}."""
    from sqlalchemy import select

    from nbtrack.store.schema import dataset_versions, datasets, model_versions, models, runs, tags

    q = (select(runs.c.notebook, tags.c.value, models.c.name, datasets.c.name)
         .select_from(model_versions.join(models, models.c.id == model_versions.c.model_id)
                      .join(runs, runs.c.id == model_versions.c.run_id)
                      .join(tags, (tags.c.run_id == runs.c.id) & (tags.c.key == "execution_count"))
                      .outerjoin(dataset_versions, dataset_versions.c.id == model_versions.c.dataset_version_id)
                      .outerjoin(datasets, datasets.c.id == dataset_versions.c.dataset_id)))
    out: dict[str, set] = {}
    with ws.meta.read() as conn:
        for nb, count, model, data in conn.execute(q):
            out.setdefault(nb, set()).add((int(count) - 2, model, data))
    return out


def test_lineage_edges_equal_the_expected_lists(corpus, ws):
    _, _, results = corpus
    edges = _model_edges(ws)
    wrong = []
    for name, (cells, _, _, nb_path) in results.items():
        expected = {(i, m, d) for i, c in enumerate(cells) for m, d in c.models}
        got = edges.get(nb_path, set())
        if expected != got:
            wrong.append(f"{name}: missing {sorted(expected - got, key=str)} extra {sorted(got - expected, key=str)}")
    assert not wrong, "\n".join(wrong)


LOAD_ALL = """
import json, sys
import nbtrack
from sqlalchemy import select
from nbtrack.snapshot.datasets import version_by_id
from nbtrack.store.schema import dataset_versions, model_versions, models
from nbtrack.workspace import get_workspace
ws = get_workspace()
failed = []
with ws.meta.read() as conn:
    dvs = conn.execute(select(dataset_versions.c.id)).scalars().all()
    mvs = conn.execute(select(models.c.name, model_versions.c.version).join(
        models, models.c.id == model_versions.c.model_id)).all()
for vid in dvs:
    try:
        version_by_id(vid, ws).load()
    except Exception as e:
        failed.append(["dataset", str(vid), f"{type(e).__name__}: {e}"[:300]])
for name, version in mvs:
    try:
        nbtrack.load_model(f"{name}@{version}", trust=True)
    except Exception as e:
        failed.append(["model", name, f"{type(e).__name__}: {e}"[:300]])
print(json.dumps({"datasets": len(dvs), "models": len(mvs), "failed": failed}))
"""


def test_versions_load_back_in_a_fresh_process(corpus):
    root, ws_dir, results = corpus
    env = {**os.environ, "NBTRACK_URI": str(ws_dir)}
    proc = subprocess.run([sys.executable, "-c", LOAD_ALL], capture_output=True, text=True, env=env,
                          cwd=root, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["datasets"] >= 50 and report["models"] >= 25
    lines = [ln for _, _, tracked, _ in results.values() for c in tracked.cells for ln in _nbtrack_lines(c)]
    # a version that cannot load back must have been announced when it was saved
    def announced(kind: str, name: str, error: str) -> bool:
        # a class defined in the notebook is announced once, naming the class
        classes = re.findall(r"has no attribute '(\w+)'|needs ([\w, ]+?), defined", error)
        names = {n.strip() for groups in classes for g in groups for n in g.split(",") if n.strip()}
        return any(name in ln or any(c in ln for c in names) for ln in lines)

    unannounced = [f for f in report["failed"] if not announced(*f)]
    assert not unannounced, unannounced


def test_runs_table_fits_120_columns(corpus):
    from click.testing import CliRunner

    from nbtrack.cli import cli

    root, ws_dir, _ = corpus
    res = CliRunner().invoke(cli, ["runs"], env={"NBTRACK_URI": str(ws_dir), "COLUMNS": "120"})
    assert res.exit_code == 0, res.output
    widths = [len(line) for line in res.output.splitlines()]
    assert max(widths) <= 120, res.output
    assert "name" in res.output and "status" in res.output
