"""The sweep's own view of its Optuna study: reads from memory, writes through to the workspace.

Optuna's ``RDBStorage`` answers every read with queries: asking for one trial of a
three-parameter space re-reads the study's trials several times (``relative_params``,
the waiting-trial check, the sampler's history), ~15 ms per trial on SQLite. A tuned
sweep holds its study alone (:mod:`.study_lock`), so nothing else writes it while the
sweep runs: :class:`StudyMirror` loads the study once, answers reads from an
``InMemoryStorage`` copy, and hands every write, in order, to a writer thread that
applies it to the stored study while the trial's kernel runs (Optuna's ORM costs
several ms per write, which the sweep no longer waits for between two trials).
The stored study trails the sweep's view by the writes in flight (milliseconds):
``optuna.load_study`` (or optuna-dashboard) on the workspace's storage sees each trial
as it happens; :meth:`StudyMirror.flush` waits for them (the sweep flushes before it
returns or lets go of the study). A write that fails is raised by the next call.
A ``kill -9`` loses at most the writes in flight: the next session sees such a trial
as cut short and runs it again (:func:`.tuning._resume`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Container, Sequence
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
        self._writes: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._writer = threading.Thread(target=self._write_loop, name="nbtrack-study-writer", daemon=True)
        self._writer.start()

    def _write_loop(self) -> None:
        while True:
            write = self._writes.get()
            try:
                if write is None:
                    return
                if self._error is None:  # after a failed write, later ones would apply out of order
                    write()
            except BaseException as e:
                self._error = e
            finally:
                self._writes.task_done()

    def _send(self, write: Callable[[], Any]) -> None:
        self._raise()
        self._writes.put(write)

    def _raise(self) -> None:
        if self._error is not None:
            e, self._error = self._error, None
            raise e

    def flush(self) -> None:
        """Wait until the stored study has every write; raise the first that failed."""
        self._writes.join()
        self._raise()

    def close(self) -> None:
        """Flush, then stop the writer thread."""
        try:
            self.flush()
        finally:
            self._writes.put(None)
            self._writer.join(timeout=60)

    # writes: the copy now, the stored study by the writer thread (in the same order)
    def create_new_study(self, directions: Sequence[Any], study_name: str | None = None) -> int:
        raise NotImplementedError("a StudyMirror holds one existing study")

    def delete_study(self, study_id: int) -> None:
        raise NotImplementedError("a StudyMirror holds one existing study")

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self.mem.set_study_user_attr(study_id, key, value)
        sid = self._study[study_id]
        self._send(lambda: self.backend.set_study_user_attr(sid, key, value))

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self.mem.set_study_system_attr(study_id, key, value)
        sid = self._study[study_id]
        self._send(lambda: self.backend.set_study_system_attr(sid, key, value))

    def create_new_trial(self, study_id: int, template_trial: Any = None) -> int:
        mid = self.mem.create_new_trial(study_id, template_trial)
        sid = self._study[study_id]

        def write() -> None:
            self._trial[mid] = self.backend.create_new_trial(sid, template_trial)

        self._send(write)
        return mid

    def set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float,
                        distribution: Any) -> None:
        self.mem.set_trial_param(trial_id, param_name, param_value_internal, distribution)
        self._send(lambda: self.backend.set_trial_param(self._trial[trial_id], param_name, param_value_internal,
                                                        distribution))

    def set_trial_state_values(self, trial_id: int, state: Any, values: Sequence[float] | None = None) -> bool:
        from optuna.trial import TrialState

        if state == TrialState.RUNNING:  # a queued (WAITING) trial taken: the stored study says if it was ours
            self.flush()
            self.mem.check_trial_is_updatable(trial_id, self.mem.get_trial(trial_id).state)
            taken = self.backend.set_trial_state_values(self._trial[trial_id], state, values)
            if taken:
                self.mem.set_trial_state_values(trial_id, state, values)
            return taken
        self.mem.set_trial_state_values(trial_id, state, values)
        self._send(lambda: self.backend.set_trial_state_values(self._trial[trial_id], state, values))
        return True

    def set_trial_intermediate_value(self, trial_id: int, step: int, intermediate_value: float) -> None:
        self.mem.set_trial_intermediate_value(trial_id, step, intermediate_value)
        self._send(lambda: self.backend.set_trial_intermediate_value(self._trial[trial_id], step, intermediate_value))

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.mem.set_trial_user_attr(trial_id, key, value)
        self._send(lambda: self.backend.set_trial_user_attr(self._trial[trial_id], key, value))

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.mem.set_trial_system_attr(trial_id, key, value)
        self._send(lambda: self.backend.set_trial_system_attr(self._trial[trial_id], key, value))

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
