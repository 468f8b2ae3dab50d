"""The Python examples of docs/serving.md run as written, in order, in a fresh process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "serving.md"


@pytest.mark.slow
def test_serving_doc_python_blocks_run(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 6
    script = tmp_path / "doc.py"
    script.write_text("\n".join(blocks))
    env = {**os.environ, "NBTRACK_URI": str(tmp_path / ".nbtrack")}
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "422" in out.stdout and "plan missing" in out.stdout
    assert "500 2 ['prediction', 'proba_0', 'proba_1']" in out.stdout
