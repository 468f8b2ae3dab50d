"""The prediction log: sampled requests appended as rows of dataset ``NAME.predictions``.

A request's rows are put in memory (one list append under a lock) and a
background thread writes them every ``flush_every`` seconds, or sooner once
``max_batch`` rows wait, as the next version of ``NAME.predictions`` (see
:func:`nbtrack.snapshot.append.append_frame`). Each row holds the validated
input columns (categoricals as strings), then:

- ``prediction``: what the model answered for that row;
- ``version``: the model version that answered (int);
- ``timestamp``: when the request was answered (UTC);
- ``request_id``: the ``X-Request-Id`` of the request (sent by the client or generated).

(A feature with one of those names keeps it; the log column is then prefixed ``nbtrack_``.)
When a stored data contract guards the served version's training dataset
(``nbtrack.contract(...)``, see docs/monitoring.md), a last column
``contract_failures`` lists, per row, the checks it fails (``""`` when it passes).
The server runs as a run of kind ``serve``: its lineage has the served model
versions as inputs and every ``NAME.predictions`` version it wrote as outputs.

The log never slows or fails a request: if the store cannot be written, rows
stay buffered (up to ``max_buffer`` per model) and are retried; beyond that the
oldest are dropped and counted in ``nbtrack_prediction_log_dropped_total``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import defaultdict
from typing import Any

from .logrows import rows_n
from .logwriter import WriteFailed, Writer

log = logging.getLogger("nbtrack.serve")

class PredictionLog:
    """Buffers sampled predictions and appends them to ``NAME.predictions`` in the background."""

    def __init__(self, workspace: Any, *, sample: float = 1.0, flush_every: float = 5.0, max_batch: int = 10_000,
                 max_buffer: int = 100_000, metrics: Any = None, run_id: str | None = None) -> None:
        if not 0 <= sample <= 1:
            raise ValueError(f"the prediction-log sample rate must be between 0 and 1, got {sample}")
        self.ws, self.sample, self.flush_every = workspace, sample, flush_every
        self.max_batch, self.max_buffer, self.metrics, self.run_id = max_batch, max_buffer, metrics, run_id
        self._pending: dict[str, list[tuple]] = defaultdict(list)
        self._rows: dict[str, int] = defaultdict(int)
        self.dropped: dict[str, int] = defaultdict(int)
        self.written: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.versions: list[str] = []  # the NAME.predictions@N versions written (newest last)
        self.writer = Writer(workspace)

    # -- request path: O(1), never raises ----------------------------------------------
    def record(self, served: Any, request_id: str, X: Any, predictions: Any) -> None:
        if self.sample < 1 and random.random() >= self.sample:
            return
        n = rows_n(X)
        with self._lock:
            if self._rows[served.name] + n > self.max_buffer:
                self.dropped[served.name] += n
                if self.metrics is not None:
                    self.metrics.log_dropped.labels(served.name).inc(n)
                return
            self._pending[served.name].append((served.schema, served.version, request_id, time.time(), X,
                                               predictions))
            self._rows[served.name] += n
            full = self._rows[served.name] >= self.max_batch
        if full:
            self._wake.set()

    # -- background ------------------------------------------------------------------------
    def start(self) -> None:
        # the writer process starts with the first write: a server that logs nothing never pays for it
        self._thread = threading.Thread(target=self._run, name="nbtrack-prediction-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what is buffered (one last attempt) and stop the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        self.flush()
        self.writer.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_every)
            self._wake.clear()
            if not self._stop.is_set():
                self.flush()

    def flush(self) -> int:
        """Write every buffered row now; returns the rows written."""
        done = 0
        with self._lock:
            names = list(self._pending)
        for name in names:
            with self._lock:
                items, self._pending[name] = self._pending[name], []
                self._rows[name] = 0
            if items:
                done += self._write(name, items)
        return done

    def _write(self, name: str, items: list[tuple]) -> int:
        try:
            rows, ref = self.writer.write(name, items, self.run_id)
        except WriteFailed as e:
            self._requeue(name, items)
            if self.metrics is not None:
                self.metrics.log_failures.labels(name).inc()
            log.warning("nbtrack serve: cannot write the prediction log of %s (%s); %d rows kept for a retry",
                        name, e, self._rows[name])
            return 0
        self.versions.append(ref)
        self.written[name] += rows
        if self.metrics is not None:
            self.metrics.log_rows.labels(name).inc(rows)
        return rows

    def _requeue(self, name: str, items: list[tuple]) -> None:
        """Put rows back in front; drop the oldest beyond ``max_buffer`` (counted)."""
        with self._lock:
            merged = items + self._pending[name]
            rows = sum(rows_n(it[4]) for it in merged)
            while merged and rows > self.max_buffer:
                old = rows_n(merged.pop(0)[4])
                rows -= old
                self.dropped[name] += old
                if self.metrics is not None:
                    self.metrics.log_dropped.labels(name).inc(old)
            self._pending[name], self._rows[name] = merged, rows

    def update_metrics(self) -> None:
        if self.metrics is None:
            return
        with self._lock:
            for name, rows in self._rows.items():
                self.metrics.log_buffered.labels(name).set(rows)
