"""Every ```python block of docs/expressions.md runs (in order, in one fresh workspace)."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "expressions.md"


def test_expression_docs_run(workspace, capsys):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) >= 4
    for code in blocks:
        exec(compile(code, str(DOC), "exec"), {})
    out = capsys.readouterr().out
    assert "['rf-0.95']" in out and "not a valid expression" in out and "auc = 0.93 >= 0.9" in out
