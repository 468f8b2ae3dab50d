"""Helpers: a real ``jupyter server`` (subprocess, token auth) with the nbtrack extension,
over a root directory whose workspace holds known runs."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from jupyterproc import TOKEN, start_jupyter, stop_process

NOTEBOOK = "sub/dir/analysis.ipynb"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


@dataclass
class Data:
    root: Path
    notebook_abs: str
    cell_a: list[str] = field(default_factory=list)  # run ids of cell "train", oldest first
    cell_b: list[str] = field(default_factory=list)  # cell "loop": many runs for paging
    other: str = ""  # a run of another notebook


def make_runs(root: Path) -> Data:
    """Runs as the kernel of ``root/NOTEBOOK`` records them (absolute notebook path)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import nbtrack
    from nbtrack import workspace as ws_mod
    from nbtrack.capture.run import ActiveRun

    nb = root / NOTEBOOK
    nb.parent.mkdir(parents=True)
    nb.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    ws_mod.reset_cache()
    nbtrack.init(root)
    data = Data(root, str(nb))

    def cell_run(label: str, cell_id: str, source: str, metrics: dict, params: dict, notebook: str = str(nb),
                 fig: bool = False) -> str:
        r = ActiveRun(label, "cell", notebook=notebook, cell_id=cell_id, cell_key=f"{notebook}::{label}")
        r.fields["source_oid"] = r.put_object(source.encode())
        r.start()
        r.log_params(params)
        for k, v in metrics.items():
            for step, x in enumerate((v / 2, v)):
                r.log_metric(k, x, step=step)
        if fig:
            f = plt.figure()
            plt.plot([1, 2, 3])
            r.log_artifact(f, name="figure-1.png")
            plt.close(f)
        r.log_artifact(b"secret-ish bytes", name="model.bin")
        r.end()
        time.sleep(0.002)  # distinct start times: newest-first order is well defined
        return r.id

    for i, acc in enumerate((0.70, 0.80, 0.90)):
        data.cell_a.append(cell_run("train", "cell-a", f"lr = {0.1 * (i + 1):.1f}\nacc = {acc}\n",
                                    {"acc": acc}, {"lr": round(0.1 * (i + 1), 1)}, fig=(i == 2)))
    for i in range(130):
        data.cell_b.append(cell_run("loop", "cell-b", f"i = {i}\n", {"i": float(i)}, {"i": i}))
    data.other = cell_run("elsewhere", "cell-x", "x = 1\n", {}, {}, notebook=str(root / "other.ipynb"))
    register_models()
    ws_mod.reset_cache()
    return data


def register_models() -> None:
    """Model ``churn`` with versions 1 (accuracy 0.8) and 2 (accuracy 0.9)."""
    import nbtrack
    from sklearn.linear_model import LogisticRegression

    X, y = [[0.0], [1.0], [0.2], [0.9]], [0, 1, 0, 1]
    for acc in (0.8, 0.9):
        nbtrack.register_model("churn", model=LogisticRegression(C=acc).fit(X, y), metrics={"accuracy": acc})


class Server:
    def __init__(self, base: str, proc: subprocess.Popen, log: Path) -> None:
        self.base, self.proc, self.log = base, proc, log

    def request(self, path: str, method: str = "GET", body: dict | None = None, token: str | None = TOKEN,
                raw: bool = False):
        """(status, parsed JSON or bytes) of ``/nbtrack/api/<path>``."""
        url = path if path.startswith("/") else f"/nbtrack/api/{path}"
        headers = {"Authorization": f"token {token}"} if token else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, content, ctype = resp.status, resp.read(), resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            status, content, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
        if raw or "json" not in ctype:
            return status, content
        return status, json.loads(content)

    def get(self, path: str, **kw):
        return self.request(path, **kw)


def start_server(root: Path, log: Path, *, extension: bool = True) -> Server:
    base, proc = start_jupyter("server", root, log, extension=extension, timeout=60)
    return Server(base, proc, log)


def stop(server: Server) -> None:
    stop_process(server.proc, timeout=15)
