"""The sweep's in-memory view of its study: every write reaches the stored study, in order."""

from __future__ import annotations

import uuid

import pytest

optuna = pytest.importorskip("optuna")

from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from nbtrack.pipeline.study_mirror import StudyMirror  # noqa: E402

DISTS = {"x": FloatDistribution(-10, 10), "n": IntDistribution(1, 8), "k": CategoricalDistribution(["a", "b"])}


def _stored(tmp_path):
    return optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/optuna.db")


def _view(trials):
    return [(t.number, t.state, t.params, t.values, t.user_attrs, t.intermediate_values) for t in trials]


def test_the_stored_study_gets_every_write_of_the_mirror(tmp_path):
    rdb = _stored(tmp_path)
    name = uuid.uuid4().hex
    before = optuna.create_study(storage=rdb, study_name=name, direction="maximize")
    done = before.ask(DISTS)
    before.tell(done, 0.5)
    before.enqueue_trial({"x": 1.0, "n": 2, "k": "a"})  # a WAITING trial: taken through the mirror
    mirror = StudyMirror(rdb, name)
    study = optuna.Study(study_name=name, storage=mirror, sampler=optuna.samplers.TPESampler(seed=0))
    assert _view(study.trials) == _view(before.trials)  # loaded as stored
    study.set_user_attr("nbtrack.sweep_id", "abc")
    for i in range(6):
        trial = study.ask(DISTS)
        trial.set_user_attr("nbtrack.run_id", f"run-{i}")
        trial.report(0.1 * i, 0)
        if i == 0:
            assert trial.params == {"x": 1.0, "n": 2, "k": "a"}  # the queued trial came first
        if i == 3:
            study.tell(trial, state=TrialState.PRUNED)
        elif i == 4:
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, -(trial.params["x"] - 2) ** 2)
    running = study.ask(DISTS)  # left running, as a crash would leave it
    mirror.close()
    after = optuna.load_study(study_name=name, storage=rdb)
    assert _view(after.trials) == _view(study.trials)
    assert after.trials[-1].state == TrialState.RUNNING and after.trials[-1].number == running.number
    assert after.user_attrs == {"nbtrack.sweep_id": "abc"}
    assert after.best_trial.number == study.best_trial.number


def test_a_write_that_failed_is_raised_by_the_next_call(tmp_path):
    rdb = _stored(tmp_path)
    name = uuid.uuid4().hex
    optuna.create_study(storage=rdb, study_name=name)
    mirror = StudyMirror(rdb, name)
    study = optuna.Study(study_name=name, storage=mirror)
    trial = study.ask(DISTS)
    mirror.flush()
    optuna.delete_study(study_name=name, storage=rdb)  # the stored study is gone under the sweep
    study.tell(trial, 1.0)  # accepted in memory; its write fails
    with pytest.raises(KeyError, match="Record does not exist"):  # Optuna's own error for a missing trial
        mirror.flush()
    mirror.close()
