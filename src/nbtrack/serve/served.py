"""A model version being served, and the table of them that a hot swap updates.

A :class:`ServedModel` is immutable once built: the loaded object, its schema
and its metadata. Swapping a new version in replaces one entry of
:class:`ModelTable` (one dict assignment, atomic under the GIL); a request that
already took the old entry finishes with it, so no request fails during a
promotion or rollback, and every response names the version that answered.

Nothing here touches the workspace (the deployment bundle ships this file).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .validation import Schema


class NoProba(Exception):
    """The model has no ``predict_proba``."""


@dataclass(frozen=True)
class ServedModel:
    name: str
    version: int
    model: Any = field(repr=False)
    schema: Schema = field(repr=False)
    ref: str = ""  # what was asked for: churn@production
    alias: str | None = None
    info: dict = field(default_factory=dict, repr=False)  # metadata shown by GET /v1/models/{name}
    loaded: float = field(default_factory=time.time)

    @property
    def classes(self) -> list | None:
        c = getattr(self.model, "classes_", None)
        return None if c is None else [v.item() if hasattr(v, "item") else v for v in c]

    def predict(self, X: Any) -> Any:
        return self.model.predict(X)

    def predict_proba(self, X: Any) -> tuple[Any, Any]:
        """``(probabilities, predicted classes)``: the class of the highest probability."""
        fn = getattr(self.model, "predict_proba", None)
        if fn is None:
            raise NoProba(f"model {self.name} (version {self.version}) has no predict_proba; "
                          "call predict without ?proba=true")
        proba = fn(X)
        classes = getattr(self.model, "classes_", None)
        pred = np.asarray(classes)[np.argmax(proba, axis=1)] if classes is not None else np.argmax(proba, axis=1)
        return proba, pred

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "ref": self.ref, "version": self.version, "alias": self.alias,
                "loaded": self.loaded, "signature": self.info.get("signature"), "schema": self.schema.to_dict(),
                **{k: v for k, v in self.info.items() if k != "signature"}}


class ModelTable:
    """The served models by route name (``churn``) and by reference (``churn@production``)."""

    def __init__(self) -> None:
        self._by_key: dict[str, ServedModel] = {}
        self._order: list[str] = []
        self._lock = threading.Lock()  # writers only; readers take one dict lookup

    def put(self, key: str, served: ServedModel) -> ServedModel | None:
        with self._lock:
            old = self._by_key.get(key)
            if key not in self._order:
                self._order.append(key)
            self._by_key[key] = served
            if served.ref and served.ref != key:
                self._by_key[served.ref] = served
            return old

    def get(self, key: str) -> ServedModel | None:
        return self._by_key.get(key)

    def keys(self) -> list[str]:
        return list(self._order)

    def items(self) -> list[tuple[str, ServedModel]]:
        return [(k, self._by_key[k]) for k in self._order]
