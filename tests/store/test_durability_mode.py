"""``[store] durability`` in config.toml: normal (default) or full, and one fsync per run in full."""

from __future__ import annotations

import pytest

import nbtrack
from nbtrack.errors import InvalidInput
from nbtrack.workspace import Workspace


def _ws(tmp_path, mode: str | None) -> Workspace:
    folder = tmp_path / ".nbtrack"
    folder.mkdir()
    if mode is not None:
        (folder / "config.toml").write_text(f'[store]\ndurability = "{mode}"\n')
    return Workspace(f"sqlite:///{folder / 'meta.db'}", str(folder / "objects"), str(folder))


def _synchronous(ws: Workspace) -> int:
    with ws.meta.read() as conn:
        return conn.exec_driver_sql("PRAGMA synchronous").scalar()


def test_default_is_normal(tmp_path):
    ws = _ws(tmp_path, None)
    assert ws.meta.durability == "normal" and _synchronous(ws) == 1  # NORMAL
    ws.close()


def test_full_fsyncs_every_commit_but_a_runs_start(tmp_path):
    ws = _ws(tmp_path, "full")
    assert ws.meta.durability == "full" and _synchronous(ws) == 2  # FULL
    seen = []
    with ws.meta.write(provisional=True) as conn:
        seen.append(conn.exec_driver_sql("PRAGMA synchronous").scalar())
    assert seen == [1] and _synchronous(ws) == 2  # relaxed for the start row only, then FULL again
    with nbtrack.track("r", params={"a": 1}, workspace=ws) as run:
        run.log_metric("m", 0.5)
    assert _synchronous(ws) == 2
    df = nbtrack.runs(workspace=ws)
    assert df["status"].tolist() == ["finished"] and df["metrics.m"].tolist() == [0.5]
    ws.close()


def test_bad_value_is_one_clear_line(tmp_path):
    with pytest.raises(InvalidInput, match='durability must be "normal" or "full"'):
        _ws(tmp_path, "fast")
