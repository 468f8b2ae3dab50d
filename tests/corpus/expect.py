"""The acceptance corpus: realistic teaching notebooks in percent format, with expectations.

Each ``tests/corpus/*.py`` notebook (other than this module and the tests) is a
sequence of code cells separated by ``# %%`` lines. A separator may carry the
hand-written expectations for the cell that follows::

    # %% expect: params=C,max_iter; metrics=acc; models=clf<-X_train,scaler<-?

* ``params`` / ``metrics``: the keys a person reading the cell calls its
  parameters and its metrics (a cell without ``expect`` has none);
* ``models``: the model versions the cell stores, as ``NAME<-DATASET`` (the
  variable holding the training frame) or ``NAME<-?`` (training data unknown:
  numpy arrays, text Series, fits made inside helper functions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent
_SEP = re.compile(r"^# %%(?: expect: (?P<expect>.*))?$")


@dataclass
class Cell:
    source: str
    params: set[str] = field(default_factory=set)
    metrics: set[str] = field(default_factory=set)
    models: set[tuple[str, str | None]] = field(default_factory=set)


def notebooks() -> list[Path]:
    return sorted(p for p in HERE.glob("*.py") if p.stem not in ("expect", "conftest") and not p.stem.startswith("test_"))


def parse(path: Path) -> list[Cell]:
    cells: list[Cell] = []
    lines: list[str] = []
    current: Cell | None = None

    def close() -> None:
        if current is not None:
            current.source = "\n".join(lines).strip("\n")
            cells.append(current)

    for line in path.read_text().splitlines():
        m = _SEP.match(line)
        if m is None:
            lines.append(line)
            continue
        close()
        lines = []
        current = Cell("")
        for part in (m.group("expect") or "").split(";"):
            key, _, values = part.strip().partition("=")
            items = [v.strip() for v in values.split(",") if v.strip()]
            if key == "params":
                current.params.update(items)
            elif key == "metrics":
                current.metrics.update(items)
            elif key == "models":
                for item in items:
                    name, _, data = item.partition("<-")
                    current.models.add((name, None if data == "?" else data))
            elif key:
                raise ValueError(f"{path.name}: unknown expectation {key!r}")
    close()
    return cells
