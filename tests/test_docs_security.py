"""docs/security.md: the leaked-secret search snippet runs and finds what it should."""

from __future__ import annotations

import re
from pathlib import Path

import nbtrack

DOC = Path(__file__).resolve().parent.parent / "docs" / "security.md"


def test_the_leaked_secret_search_finds_the_objects_holding_it(workspace):
    block = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)[0]
    block = "\n".join(line[3:] if line.startswith("   ") else line for line in block.splitlines())
    with nbtrack.track("leaky") as run:
        run.log_artifact("config: s3cr3t-value\n", name="config.txt")
        run.log_artifact("nothing to see\n", name="clean.txt")
    ns: dict = {}
    exec(block.replace('print(where_is("the-leaked-value"))', ""), ns)
    found = ns["where_is"]("s3cr3t-value")
    assert len(found) == 1 and "artifact 'config.txt'" in found[0] and run.id in found[0]
    assert ns["where_is"]("not-stored-anywhere") == []
