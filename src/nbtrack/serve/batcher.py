"""Opportunistic micro-batching of small requests.

A scikit-learn pipeline costs nearly as much for one row as for a hundred
(pandas indexing and validation in every step dominate), so single-row
requests that arrive together are predicted together. Nothing waits on a
timer: the first request starts a prediction in the model thread at once;
requests arriving meanwhile queue up and go together in the next call. Each
request gets its own slice of the results, and the answer of the version it
was validated against (a batch never mixes versions).

If a batch fails, its requests are predicted one by one, so an error is
reported to the request that caused it only.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .served import ServedModel

MAX_ROWS = 4096


class Batcher:
    def __init__(self, max_rows: int = MAX_ROWS) -> None:
        self.max_rows = max_rows
        self._queue: list[tuple[ServedModel, bool, dict, int, asyncio.Future]] = []
        self._running = False
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="nbtrack-predict")

    async def predict(self, served: ServedModel, cols: dict[str, list], n: int, proba: bool) -> tuple[dict, Any]:
        """``(response fields, predictions)`` for these validated rows."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._queue.append((served, proba, cols, n, fut))
        if not self._running:
            self._running = True
            loop.create_task(self._drain(loop))
        return await fut

    async def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while self._queue:
                batch: list[Any] = []
                rows = 0
                key = (id(self._queue[0][0]), self._queue[0][1])
                rest = []
                for item in self._queue:
                    if (id(item[0]), item[1]) == key and (rows + item[3] <= self.max_rows or not batch):
                        batch.append(item)
                        rows += item[3]
                    else:
                        rest.append(item)
                self._queue = rest
                try:
                    results = await loop.run_in_executor(self._pool, predict_batch, batch)
                except Exception:
                    results = [await loop.run_in_executor(self._pool, _one, item) for item in batch]
                for item, res in zip(batch, results):
                    if not item[4].done():
                        if isinstance(res, BaseException):
                            item[4].set_exception(res)
                        else:
                            item[4].set_result(res)
        finally:
            self._running = False

    def close(self) -> None:
        self._pool.shutdown(wait=False)


def _one(item: tuple) -> Any:
    try:
        return predict_batch([item])[0]
    except Exception as e:
        return e


def predict_batch(batch: list[tuple]) -> list[tuple[dict, Any]]:
    """Predict the rows of several requests in one call; one ``(fields, predictions)`` per request."""
    from .bodies import to_list

    served, proba = batch[0][0], batch[0][1]
    X = served.schema.frame([item[2] for item in batch])
    if proba:
        p, pred = served.predict_proba(X)
    else:
        p, pred = None, np.asarray(served.predict(X))
    out, at = [], 0
    classes = served.classes if proba else None
    for item in batch:
        n = item[3]
        part = pred[at:at + n]
        fields: dict[str, Any] = {"predictions": to_list(part)}
        if proba:
            fields.update(probabilities=to_list(p[at:at + n]), classes=classes)
        out.append((fields, part))
        at += n
    return out
