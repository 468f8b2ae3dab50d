"""The sweep's own view of its Optuna study: reads from memory, writes through to the workspace.

Optuna's ``RDBStorage`` answers every read with queries: asking for one trial of a
three-parameter space re-reads the study's trials several times (``relative_params``,
the waiting-trial check, the sampler's history), ~15 ms per trial on SQLite. A tuned
sweep holds its study alone (:mod:`.study_lock`), so nothing else writes it while the
sweep runs: :class:`StudyMirror` loads the study once, answers reads from an
``InMemoryStorage`` copy, and sends every write to the stored study first (then to the
copy), so the stored study is always as complete as the sweep's view of it — a crash
loses nothing, and ``optuna.load_study`` (or optuna-dashboard) on the workspace's
storage sees every trial as it happens.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any

from optuna.storages import BaseStorage, InMemoryStorage


class StudyMirror(BaseStorage):
    """``BaseStorage`` over ``backend`` (the workspace's ``RDBStorage``) for one study."""

    def __init__(self, backend: BaseStorage, study_name: str) -> None:
        self.backend = backend
        self.mem = InMemoryStorage()
        sid = backend.get_study_id_from_name(study_name)
        mid = self.mem.create_new_study(backend.get_study_directions(sid), study_name)
        self._study = {mid: sid}  # our study id -> the backend's
        for k, v in backend.get_study_user_attrs(sid).items():
            self.mem.set_study_user_attr(mid, k, v)
        for k, v in backend.get_study_system_attrs(sid).items():
            self.mem.set_study_system_attr(mid, k, v)
        self._trial: dict[int, int] = {}  # our trial id -> the backend's
        for t in sorted(backend.get_all_trials(sid, deepcopy=False), key=lambda t: t.number):
            self._trial[self.mem.create_new_trial(mid, template_trial=t)] = t._trial_id

    # writes: the stored study first, then the copy
    def create_new_study(self, directions: Sequence[Any], study_name: str | None = None) -> int:
        raise NotImplementedError("a StudyMirror holds one existing study")

    def delete_study(self, study_id: int) -> None:
        raise NotImplementedError("a StudyMirror holds one existing study")

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self.backend.set_study_user_attr(self._study[study_id], key, value)
        self.mem.set_study_user_attr(study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self.backend.set_study_system_attr(self._study[study_id], key, value)
        self.mem.set_study_system_attr(study_id, key, value)

    def create_new_trial(self, study_id: int, template_trial: Any = None) -> int:
        bid = self.backend.create_new_trial(self._study[study_id], template_trial)
        mid = self.mem.create_new_trial(study_id, template_trial)
        self._trial[mid] = bid
        return mid

    def set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float,
                        distribution: Any) -> None:
        self.mem.check_trial_is_updatable(trial_id, self.mem.get_trial(trial_id).state)
        self.backend.set_trial_param(self._trial[trial_id], param_name, param_value_internal, distribution)
        self.mem.set_trial_param(trial_id, param_name, param_value_internal, distribution)

    def set_trial_state_values(self, trial_id: int, state: Any, values: Sequence[float] | None = None) -> bool:
        self.mem.check_trial_is_updatable(trial_id, self.mem.get_trial(trial_id).state)
        taken = self.backend.set_trial_state_values(self._trial[trial_id], state, values)
        if taken:
            self.mem.set_trial_state_values(trial_id, state, values)
        return taken

    def set_trial_intermediate_value(self, trial_id: int, step: int, intermediate_value: float) -> None:
        self.backend.set_trial_intermediate_value(self._trial[trial_id], step, intermediate_value)
        self.mem.set_trial_intermediate_value(trial_id, step, intermediate_value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.backend.set_trial_user_attr(self._trial[trial_id], key, value)
        self.mem.set_trial_user_attr(trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.backend.set_trial_system_attr(self._trial[trial_id], key, value)
        self.mem.set_trial_system_attr(trial_id, key, value)

    # reads: the copy
    def get_study_id_from_name(self, study_name: str) -> int:
        return self.mem.get_study_id_from_name(study_name)

    def get_study_name_from_id(self, study_id: int) -> str:
        return self.mem.get_study_name_from_id(study_id)

    def get_study_directions(self, study_id: int) -> list[Any]:
        return self.mem.get_study_directions(study_id)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return self.mem.get_study_user_attrs(study_id)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return self.mem.get_study_system_attrs(study_id)

    def get_all_studies(self) -> list[Any]:
        return self.mem.get_all_studies()

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        return self.mem.get_trial_id_from_study_id_trial_number(study_id, trial_number)

    def get_trial_number_from_id(self, trial_id: int) -> int:
        return self.mem.get_trial_number_from_id(trial_id)

    def get_trial_param(self, trial_id: int, param_name: str) -> float:
        return self.mem.get_trial_param(trial_id, param_name)

    def get_trial(self, trial_id: int) -> Any:
        return self.mem.get_trial(trial_id)

    def get_all_trials(self, study_id: int, deepcopy: bool = True, states: Container[Any] | None = None) -> list[Any]:
        return self.mem.get_all_trials(study_id, deepcopy=deepcopy, states=states)

    def get_best_trial(self, study_id: int) -> Any:
        return self.mem.get_best_trial(study_id)

    def remove_session(self) -> None:
        self.backend.remove_session()

    def check_trial_is_updatable(self, trial_id: int, trial_state: Any) -> None:
        self.mem.check_trial_is_updatable(trial_id, trial_state)
