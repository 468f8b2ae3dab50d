"""Every ```python and ```bash block of every docs/*.md page runs (issue 19 item 3).

One fresh process and one temp workspace per page: its blocks run in order, python blocks
in an IPython shell (so `%load_ext nbtrack` and `%%track` cells work as in a notebook), bash
blocks with bash -e in the same folder. A block that cannot run stand-alone is preceded by
`<!-- no-run: why -->` (few: installs, servers that run until stopped, cloud accounts).
Pages with a test of their own that also checks the output are listed in OWN_TEST.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
OWN_TEST = {"expressions.md": "tests/expr/test_docs_examples.py",
            "monitoring.md": "tests/monitor/test_docs_monitoring.py"}
BLOCK = re.compile(r"(<!-- no-run: (?P<why>[^>]*?) -->\s*\n)?```(?P<lang>python|bash)\n(?P<code>.*?)```", re.S)

DRIVER = r'''
import json, subprocess, sys, traceback
import matplotlib
matplotlib.use("Agg")
from IPython.core.interactiveshell import InteractiveShell

import nbtrack

nbtrack.init(".")  # a temp workspace, as a reader has one
blocks = json.load(open(sys.argv[1]))
shell = InteractiveShell.instance()
for b in blocks:
    where = f"{b['page']}:{b['line']} ({b['lang']} block)"
    print(f"### {where}", flush=True)
    if b["lang"] == "bash":
        out = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", b["code"]], capture_output=True, text=True,
                             timeout=240)
        print(out.stdout, out.stderr, sep="\n", flush=True)
        if out.returncode:
            print(f"FAILED {where}: exit {out.returncode}\n{out.stderr[-2000:]}", flush=True)
            sys.exit(1)
    else:
        res = shell.run_cell(b["code"], store_history=True)
        if not res.success:
            err = res.error_in_exec or res.error_before_exec
            print(f"FAILED {where}: {type(err).__name__}: {err}", flush=True)
            sys.exit(1)
print("ALL BLOCKS RAN", flush=True)
'''


def blocks(page: Path) -> tuple[list[dict], list[str]]:
    text = page.read_text()
    run, skipped = [], []
    for m in BLOCK.finditer(text):
        line = text.count("\n", 0, m.start("code"))
        if m.group("why"):
            skipped.append(f"{page.name}:{line}: {m.group('why')}")
            continue
        run.append({"page": page.name, "line": line, "lang": m.group("lang"), "code": m.group("code")})
    return run, skipped


# real pipeline kernels / many models: out of `-m "not slow"`
SLOW = {"pipelines.md", "registry.md", "serving.md", "data.md", "interop.md"}
PAGES = [pytest.param(p, id=p.name, marks=[pytest.mark.slow] if p.name in SLOW else [])
         for p in sorted(DOCS.glob("*.md")) if p.name not in OWN_TEST and blocks(p)[0]]


@pytest.mark.parametrize("page", PAGES)
def test_docs_page_blocks_run(page, tmp_path):
    todo, _ = blocks(page)
    (tmp_path / "blocks.json").write_text(json.dumps(todo))
    (tmp_path / "driver.py").write_text(DRIVER)
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NBTRACK_", "JPY_"))}
    env.update(NBTRACK_URI=str(work / ".nbtrack"), MPLBACKEND="Agg",
               PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""))
    out = subprocess.run([sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "blocks.json")], cwd=work,
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and "ALL BLOCKS RAN" in out.stdout, (out.stdout[-4000:] + out.stderr[-3000:])


def test_few_blocks_are_marked_no_run():
    skipped = [s for p in sorted(DOCS.glob("*.md")) for s in blocks(p)[1]]
    total = sum(len(blocks(p)[0]) for p in DOCS.glob("*.md")) + len(skipped)
    assert len(skipped) <= total // 4, skipped
