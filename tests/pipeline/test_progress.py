"""Sweep progress: a tqdm bar from Python, a line per run in logs, a rich bar in a terminal."""

from __future__ import annotations

import io

from nbtrack.pipeline.progress import SweepProgress


def test_tqdm_bar_counts_runs_and_shows_the_best(monkeypatch):
    import tqdm.auto

    made = []
    real = tqdm.auto.tqdm

    def fake(*a, **kw):
        bar = real(*a, file=io.StringIO(), **kw)
        made.append(bar)
        return bar

    monkeypatch.setattr(tqdm.auto, "tqdm", fake)
    with SweepProgress(4, "sweep t", True) as p:
        p.update(1, 1, 2, "auc=0.9")
        assert made[0].n == 2 and "failed 1" in made[0].postfix and "best auc=0.9" in made[0].postfix
    assert made[0].disable or made[0].n == 2


def test_lines_mode_prints_one_line_per_finished_run(capsys):
    with SweepProgress(2, "sweep t", "lines") as p:
        p.update(1, 0, 1, None, {"status": "finished", "run_id": "abc", "params": {"C": 1}})
        p.update(1, 1, 0, None, {"status": "failed", "run_id": None, "params": {"C": 0}})
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("[1/2] done abc {'C': 1}") and err[1].startswith("[2/2] failed - {'C': 0}")


def test_rich_bar_and_silence(capsys):
    with SweepProgress(3, "sweep t", "rich") as p:
        p.update(3, 0, 0, "auc=1")
    with SweepProgress(3, "sweep t", False) as p:
        p.update(3, 0, 0, "auc=1", {"status": "finished", "run_id": "x", "params": {}})
    assert "[3/3]" not in capsys.readouterr().err
