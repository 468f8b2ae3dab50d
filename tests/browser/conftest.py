"""End-to-end fixtures: Debian chromium driven by Python Playwright.

No browser download: Playwright drives ``/usr/bin/chromium`` (``apt-get install chromium``).
Without chromium, playwright or the built labextension the tests skip locally and FAIL
when ``CI`` is set.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1] / "jupyter")]

from labbrowser import CHROME_ARGS, CHROMIUM, labextension_installed  # noqa: E402


def _missing(what: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} is required in CI")
    pytest.skip(f"{what} is not available (bash .ci/run installs everything these tests need)")


# Module scope, not session: a live sync Playwright keeps an asyncio loop running in
# this thread, which breaks every later test that starts its own sync Playwright.
@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        _missing(f"chromium ({CHROMIUM}; apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright Python package (pip install playwright)")
    if not labextension_installed():
        _missing("the built nbtrack labextension (pip install -e .)")
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)  # JupyterLab on a busy 2-core CI machine
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1500, "height": 950})
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    ctx.close()
