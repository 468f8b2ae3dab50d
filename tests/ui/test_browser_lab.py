"""The browser widget in a real JupyterLab, driven by headless Chromium (Playwright).

Uses Debian's ``/usr/bin/chromium`` (``apt-get install chromium``); no Playwright
browser download. Skips when Chromium or Playwright is missing, except in CI
(``CI=true``), where that is a failure. ``NBTRACK_UPDATE_SCREENSHOT=1`` also
writes the screenshot to ``docs/browser.png``.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from jupyterproc import CHROME_ARGS as ARGS, CHROMIUM, TOKEN, quiet_lab_settings, start_jupyter, stop_process
DOCS_PNG = Path(__file__).resolve().parents[2] / "docs" / "browser.png"
CELLS = [
    "%load_ext nbtrack",
    "%%track train\nlr = 0.1\nepochs = 3\nimport nbtrack\nfor step in range(epochs):\n"
    "    nbtrack.log_metric('acc', 0.5 + 0.1 * step)\nloss = 0.4",
    "%%track train\nlr = 0.05\nepochs = 5\nimport nbtrack\nfor step in range(epochs):\n"
    "    nbtrack.log_metric('acc', 0.55 + 0.08 * step)\nloss = 0.2",
    "%track_browser",
]


def _missing(what: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} is required in CI")
    pytest.skip(f"{what} is not installed (bash .ci/run installs everything these tests need)")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A throw-away JupyterLab whose kernels write to their own nbtrack workspace."""
    if not Path(CHROMIUM).exists():
        _missing(f"chromium ({CHROMIUM}; apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        _missing("playwright (pip install playwright)")
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    root.mkdir()
    env = {"NBTRACK_URI": str(base / "ws" / ".nbtrack"), **quiet_lab_settings(base)}
    url, proc = start_jupyter("lab", root, base / "lab.log", env=env, extension=None)
    yield url, root
    stop_process(proc)


@pytest.fixture
def page(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        ctx = browser.new_context(viewport={"width": 1400, "height": 1400})
        pg = ctx.new_page()
        pg.set_default_timeout(60_000)
        yield pg
        browser.close()


def write_notebook(path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nbformat.write(nb, path)


@pytest.mark.slow  # issue 19: kept out of the fast subset (README)
def test_browser_widget_renders_and_lists_the_runs(lab, page, tmp_path):
    from playwright.sync_api import expect

    url, root = lab
    write_notebook(root / "browse.ipynb")
    page.goto(f"{url}/lab/tree/browse.ipynb?reset&token={TOKEN}")
    page.wait_for_selector("#jp-main-dock-panel", timeout=90_000)
    idle = page.get_by_text("Python 3 (ipykernel) | Idle")
    accept = page.locator(".jp-Dialog .jp-mod-accept")
    expect(idle.or_(accept)).to_be_visible(timeout=90_000)
    if accept.is_visible():  # JupyterLab may ask which kernel to use
        accept.click()
    expect(idle).to_be_visible(timeout=90_000)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()

    widget = page.locator(".jp-OutputArea-output").filter(has=page.locator(".nbtrack-header"))
    expect(widget).to_be_visible(timeout=120_000)
    rows = widget.locator(".nbtrack-row")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("train")
    expect(rows.first).to_contain_text("finished")
    expect(rows.first).to_contain_text("0.05")  # key params and metrics are columns
    expect(widget).to_contain_text("runs of")
    expect(widget).to_contain_text("runs 1\u20132 of 2")

    ticks = widget.locator(".widget-checkbox", has=page.locator(".nbtrack-row")).locator("input")
    ticks.nth(0).check()  # tick both runs: the last one opens in the Run tab, both go to Compare
    ticks.nth(1).check()
    expect(widget.locator(".nbtrack-run-facts")).to_be_visible()
    widget.locator(".lm-TabBar-tabLabel", has_text="Compare (2)").click()
    expect(widget.locator(".nbtrack-compare")).to_be_visible()
    images = widget.locator("img")
    expect(images).to_have_count(2, timeout=30_000)  # the two plots, loaded
    for i in range(2):
        images.nth(i).wait_for(state="visible")
        deadline = time.monotonic() + 30
        while not images.nth(i).evaluate("img => img.complete && img.naturalWidth > 100"):
            assert time.monotonic() < deadline, "plot image did not load"
            time.sleep(0.2)
    expect(page.locator(".jp-OutputArea-output", has_text="Error displaying widget")).to_have_count(0)

    widget.scroll_into_view_if_needed()
    shot = tmp_path / "browser.png"
    widget.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("NBTRACK_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, DOCS_PNG)

    widget.locator(".lm-TabBar-tabLabel", has_text="Cell history").click()  # the ticked run's cell
    diff = widget.locator(".nbtrack-diff")
    expect(diff).to_be_visible()
    expect(diff.locator(".nbtrack-add")).to_contain_text(["lr = 0.05", "epochs = 5"])
    expect(widget.locator(".nbtrack-versions tr")).to_have_count(3)  # header + 2 versions
    widget.screenshot(path=str(tmp_path / "history.png"))
    widget.locator(".lm-TabBar-tabLabel", has_text="Run").click()
    expect(widget.locator(".nbtrack-run-params")).to_contain_text("lr")
    widget.screenshot(path=str(tmp_path / "run.png"))


def test_missing_browser_skips_locally_but_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required in CI"):
        _missing("chromium")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        _missing("chromium")
