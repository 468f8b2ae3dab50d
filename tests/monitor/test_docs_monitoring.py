"""The Python examples of docs/monitoring.md run as written, in order, in a fresh process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "monitoring.md"


@pytest.mark.slow
def test_monitoring_doc_python_blocks_run(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 6
    script = tmp_path / "doc.py"
    script.write_text("import matplotlib\nmatplotlib.use('Agg')\n" + "\n".join(blocks))
    env = {**os.environ, "NBTRACK_URI": str(tmp_path / ".nbtrack")}
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "['mean radius', 'mean smoothness']" in out.stdout
    assert "churn-train@1" in out.stdout and "churn-train@2" in out.stdout
    assert "column 'mean area': in_range(0, 2736.75) failed for 1 row (e.g. 1000000000.0)" in out.stdout
    assert "column 'mean texture': coerce_dtype('float64')" in out.stdout
    assert "refused: data fails contract churn-train@2" in out.stdout
    assert "'auc'" in out.stdout
