"""Model snapshots, nbtrack vs MLflow, side by side in one run.

    python benchmarks/bench_models.py [--repeat 7] [--markdown docs/benchmarks.md]

Measures (medians after a warm-up, A and B alternating, see ../shared/BENCH.md):
  * snapshot of a small fitted scikit-learn pipeline (StandardScaler + LogisticRegression,
    1,000 x 10): ``nbtrack.log_model`` vs ``mlflow.sklearn.log_model`` (default settings,
    SQLite backend in a temp dir), each inside an active run; every repetition logs a
    different model so neither side can skip the work;
  * the same, when the model did not change (nbtrack re-uses the version: dedupe);
  * loading it back: ``nbtrack.load_model`` vs ``mlflow.sklearn.load_model``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def models(n: int):
    """``n`` different small fitted pipelines (different C) on one 1,000 x 10 frame."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(1000, 10)), columns=[f"f{i}" for i in range(10)])
    y = (X["f0"] + rng.normal(scale=0.5, size=1000) > 0).astype(int)
    return X, [make_pipeline(StandardScaler(), LogisticRegression(C=0.1 + i)).fit(X, y) for i in range(n)]


def bench(repeat: int, tmp: Path) -> dict[str, tuple[float, float]]:
    import mlflow
    import mlflow.sklearn

    import nbtrack

    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
    mlflow.set_experiment("bench-models")
    X, fitted = models(2 * repeat + 2)
    nb_new, ml_new, nb_same, nb_load, ml_load = [], [], [], [], []
    uris = []
    with nbtrack.track("bench-models"), mlflow.start_run():
        nbtrack.log_model(fitted[-1], "warmup")  # warm-up: imports, first object, first version
        mlflow.sklearn.log_model(fitted[-1], name="warmup")
        for i in range(repeat):
            a, b = fitted[2 * i], fitted[2 * i + 1]
            t = time.perf_counter()
            nbtrack.log_model(a, "clf")
            nb_new.append(time.perf_counter() - t)
            t = time.perf_counter()
            info = mlflow.sklearn.log_model(b, name=f"clf{i}")
            ml_new.append(time.perf_counter() - t)
            uris.append(info.model_uri)
            t = time.perf_counter()
            assert not nbtrack.log_model(a, "clf").new  # unchanged: the same version
            nb_same.append(time.perf_counter() - t)
    for i, uri in enumerate(uris):
        t = time.perf_counter()
        m1 = nbtrack.load_model(f"clf@{i + 1}")
        nb_load.append(time.perf_counter() - t)
        t = time.perf_counter()
        m2 = mlflow.sklearn.load_model(uri)
        ml_load.append(time.perf_counter() - t)
        assert (m1.predict(X) == fitted[2 * i].predict(X)).all() and (m2.predict(X) == fitted[2 * i + 1].predict(X)).all()
    return {"new": (median_ms(ml_new), median_ms(nb_new)), "same": (median_ms(ml_new), median_ms(nb_same)),
            "load": (median_ms(ml_load), median_ms(nb_load))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--markdown", help="write the results into this file's '## Model snapshots' section")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    import mlflow
    import sklearn
    import skops

    import nbtrack

    tmp = Path(tempfile.mkdtemp(prefix="nbtrack-bench-models-"))
    os.chdir(tmp)
    nbtrack.use_workspace(tmp / ".nbtrack")
    r = bench(args.repeat, tmp)
    rows = [
        ("small sklearn pipeline snapshot (new model)", "`mlflow.sklearn.log_model`", *r["new"], "≤ 50 ms, ≥ 50×"),
        ("same, model unchanged (dedupe)", "`mlflow.sklearn.log_model`", *r["same"], "—"),
        ("load it back", "`mlflow.sklearn.load_model`", *r["load"], "—"),
    ]
    lines = ["| what | peer | peer (median) | nbtrack (median) | ratio | target |", "|---|---|---|---|---|---|"]
    for what, peer, pm, nm, target in rows:
        lines.append(f"| {what} | {peer} | {pm:.1f} ms | {nm:.1f} ms | {pm / nm:.0f}× | {target} |")
    meta = (f"\n{args.repeat} repetitions each, alternating, after a warm-up; {date.today().isoformat()}; "
            f"Python {sys.version.split()[0]}, MLflow {mlflow.__version__} (SQLite backend), "
            f"scikit-learn {sklearn.__version__}, skops {skops.__version__}; 2-core shared machine. "
            "Model: StandardScaler + LogisticRegression fitted on 1,000 x 10. "
            "`python benchmarks/bench_models.py --markdown docs/benchmarks.md`")
    table = "\n".join(lines) + "\n" + meta
    print(table)
    if args.markdown:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_tracking import write_section

        write_section(Path(args.markdown).resolve() if os.path.isabs(args.markdown) else Path(_cwd, args.markdown),
                      "## Model snapshots", table)


_cwd = os.getcwd()

if __name__ == "__main__":
    main()
