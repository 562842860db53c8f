"""Textbook quality figures on raw rows, for the truth file (independent of seismo's code).

>>> s = np.array([0.1, 0.4, 0.35, 0.8]); y = np.array([0, 0, 1, 1], dtype=bool)
>>> accuracy(s, y), roc_auc(s, y)
(0.75, 0.75)
>>> round(mape(np.array([110.0, 90.0]), np.array([100.0, 100.0])), 3)
0.1
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata

__all__ = ["accuracy", "mape", "roc_auc"]


def accuracy(score: NDArray[np.float64], label: NDArray[np.bool_], threshold: float = 0.5) -> float:
    """Share of rows whose predicted class (score >= threshold) is the label."""
    return float(np.mean((score >= threshold) == label)) if label.size else float("nan")


def roc_auc(score: NDArray[np.float64], label: NDArray[np.bool_]) -> float:
    """Mann-Whitney AUC (ties count half)."""
    pos, neg = int(label.sum()), int((~label).sum())
    if not pos or not neg:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[label].sum() - pos * (pos + 1) / 2) / (pos * neg))


def mape(forecast: NDArray[np.float64], actual: NDArray[np.float64]) -> float:
    """Mean |forecast - actual| / |actual| over rows with a non-zero actual."""
    keep = actual != 0
    if not keep.any():
        return float("nan")
    return float(np.mean(np.abs(forecast[keep] - actual[keep]) / np.abs(actual[keep])))
