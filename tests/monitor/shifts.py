"""Reference/current frames from scikit-learn's shipped datasets, with injected shifts."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer

SHIFTED = {
    "mean radius": "mean shift",
    "mean texture": "scale change",
    "size band": "category mix change",
    "mean smoothness": "missing values",
    "texture band": "unseen category",
}


def cancer() -> pd.DataFrame:
    """Breast cancer features plus two categorical columns derived from them."""
    df = load_breast_cancer(as_frame=True).frame.drop(columns=["target"])
    df["size band"] = pd.cut(df["mean area"], [0, 400, 700, 1000, np.inf], labels=["s", "m", "l", "xl"]).astype(str)
    bands = pd.cut(df["mean texture"], [0, 15, 20, 25, np.inf], labels=["t1", "t2", "t3", "t4"])
    df["texture band"] = bands.astype(str)
    return df


def resample(df: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    return df.sample(n, replace=True, random_state=seed).reset_index(drop=True)


def inject(cur: pd.DataFrame, ref: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The five shifts of SHIFTED, each on its own column."""
    rng = np.random.default_rng(seed)
    cur = cur.copy()
    cur["mean radius"] = cur["mean radius"] + ref["mean radius"].std()
    m = ref["mean texture"].mean()
    cur["mean texture"] = m + (cur["mean texture"] - m) * 2.0
    rows = rng.random(len(cur)) < 0.4
    cur.loc[rows, "size band"] = "xl"
    cur.loc[rng.random(len(cur)) < 0.2, "mean smoothness"] = np.nan
    cur.loc[rng.random(len(cur)) < 0.05, "texture band"] = "t9"
    return cur
