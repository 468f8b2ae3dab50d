"""scrapbook values in pipelines: numbers become metrics, frames/figures/others artifacts (real kernels)."""

from __future__ import annotations

import io
import json

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook

import nbtrack
from nbtrack.pipeline.scraps import read_scraps

pytest.importorskip("scrapbook")

GLUE = """import scrapbook as sb
import pandas as pd
import matplotlib.pyplot as plt
sb.glue("accuracy", round(0.5 + C / 10, 6))
sb.glue("n_rows", 3)
sb.glue("flag", True)
sb.glue("labels", ["a", "b"])
sb.glue("note", "hello", encoder="text")
sb.glue("scores", pd.DataFrame({"x": [1, 2, 3], "y": [0.1, 0.2, C]}))
fig, ax = plt.subplots()
ax.plot([1, 2, 3], [C, 2 * C, 3 * C])
sb.glue("curve", fig, display=True)
plt.close(fig)
"""


def _notebook(path) -> None:
    params = new_code_cell("C = 1.0")
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell(GLUE)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


def test_glued_numbers_frames_and_figures_become_metrics_and_artifacts(approve, workspace, tmp_path):
    _notebook(tmp_path / "glue.ipynb")
    approve("glue.ipynb", "glue")
    res = nbtrack.run_pipeline("glue", params={"C": 2.0})
    assert res.metrics["accuracy"] == pytest.approx(0.7) and res.metrics["n_rows"] == 3
    run = nbtrack.get_run(res.run_id)
    assert run.metrics["accuracy"] == pytest.approx(0.7)
    assert "flag" not in run.metrics  # a bool is not a number: kept as a JSON artifact
    names = {a["name"]: a for a in run.artifacts}
    assert {"scraps/scores.parquet", "scraps/curve.png", "scraps/labels.json", "scraps/note.txt",
            "scraps/flag.json"} <= set(names)
    frame = pd.read_parquet(io.BytesIO(run.artifact("scraps/scores.parquet")))
    pd.testing.assert_frame_equal(frame, pd.DataFrame({"x": [1, 2, 3], "y": [0.1, 0.2, 2.0]}))
    assert run.artifact("scraps/curve.png").startswith(b"\x89PNG") and names["scraps/curve.png"]["kind"] == "figure"
    assert json.loads(run.artifact("scraps/labels.json")) == ["a", "b"]
    assert run.artifact("scraps/note.txt") == b"hello"


def test_a_sweep_selects_by_a_glued_metric(approve, workspace, tmp_path):
    _notebook(tmp_path / "glue.ipynb")
    approve("glue.ipynb", "glue")
    res = nbtrack.sweep("glue", {"C": [1.0, 3.0]}, select="metrics.accuracy", progress=False)
    assert res.best is not None and res.best["params"] == {"C": 3.0}
    assert res.best["metrics"]["accuracy"] == pytest.approx(0.8)


def test_reading_without_scrapbook_matches_scrapbook_itself(tmp_path):
    """The parser agrees with scrapbook's own reader on an output scrapbook wrote."""
    import scrapbook as sb
    from scrapbook.api import _prepare_ipy_data_format
    from scrapbook.encoders import registry
    from scrapbook.scraps import Scrap as SbScrap, scrap_to_payload

    outputs = []
    for name, value in [("auc", 0.91), ("items", {"a": 1}), ("df", pd.DataFrame({"a": [1]}))]:
        enc = registry.determine_encoder_name(value)
        data, meta = _prepare_ipy_data_format(name, scrap_to_payload(registry.encode(SbScrap(name, value, enc))), enc)
        outputs.append(nbformat.v4.new_output("display_data", data=data, metadata=meta))
    cell = new_code_cell("")
    cell.outputs = outputs
    nb = new_notebook(cells=[cell])
    nbformat.write(nb, str(tmp_path / "x.ipynb"))
    theirs = sb.read_notebook(str(tmp_path / "x.ipynb")).scraps
    ours = {s.name: s for s in read_scraps(json.loads((tmp_path / "x.ipynb").read_text()))}
    assert ours["auc"].value == theirs["auc"].data
    assert json.loads(ours["items"].data) == theirs["items"].data
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(ours["df"].data)), theirs["df"].data)
