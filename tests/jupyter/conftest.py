"""Fixtures: a real ``jupyter server`` over a root whose workspace holds known runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the labserver helpers, for tests here and in tests/browser

from labserver import Data, make_runs, start_server, stop


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Data:
    return make_runs(tmp_path_factory.mktemp("root"))


@pytest.fixture(scope="module")
def server(data, tmp_path_factory):
    s = start_server(data.root, tmp_path_factory.mktemp("log") / "server.log")
    yield s
    stop(s)
