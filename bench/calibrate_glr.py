"""Measure how often the GLR scan of a cell without change raises a new alarm, per daily look.

Usage::

    python bench/calibrate_glr.py --windows 1 2 4 7 14 28 56 --reps 15

Each cell's days are independent standard normals (the standardised daily
values of a metric that did not change); at every daily look the statistic is
the largest standardised mean of the last ``k`` days, ``k`` up to the window
(:func:`seismo.detect.glr.scan` with a known baseline). A *new* alarm is a look
above the threshold ``c`` after one below it: that is what becomes an alert.
It prints, per window and threshold, the measured rate, the rate
:func:`seismo.detect.glr.onset_rate` assumes, and their ratio (at most 1 means
the calibration errs on the quiet side). 15 repetitions of 20,000 cells × 300
looks (9e7 cell-looks) take about a minute per window on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seismo.detect.glr import onset_rate

THRESHOLDS = (3.0, 3.5, 4.0, 4.5, 5.0, 5.3)


def measure(window: int, reps: int, seed: int = 0) -> dict[str, object]:
    """New-alarm counts per threshold over ``reps`` blocks of 20,000 cells × 300 looks."""
    rng = np.random.default_rng(seed + window)
    cells, looks = 20_000, 300 + window
    onsets = np.zeros(len(THRESHOLDS))
    total = 0
    for _ in range(reps):
        x = rng.standard_normal((cells, looks), dtype=np.float32)
        sums = np.concatenate([np.zeros((cells, 1), np.float32), np.cumsum(x, axis=1)], axis=1)
        z = np.full((cells, looks), -np.inf, np.float32)
        for k in range(1, window + 1):
            shifted = (sums[:, k:] - sums[:, :-k]) / np.float32(np.sqrt(k))
            np.maximum(z[:, k - 1 :], shifted, out=z[:, k - 1 :])
        z = z[:, window:]  # steady state: every look has a full window behind it
        for j, c in enumerate(THRESHOLDS):
            above = z > c
            onsets[j] += float((above[:, 1:] & ~above[:, :-1]).sum())
        total += cells * (z.shape[1] - 1)
    rates = onsets / total
    assumed = [onset_rate(c, window) for c in THRESHOLDS]
    return {
        "window": window,
        "looks": total,
        "thresholds": list(THRESHOLDS),
        "new_alarms": onsets.tolist(),
        "measured_rate": rates.tolist(),
        "assumed_rate": assumed,
        "measured_over_assumed": [
            round(float(m / a), 3) for m, a in zip(rates, assumed, strict=True)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, nargs="+", default=[1, 2, 4, 7, 14, 28, 56])
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()
    for window in args.windows:
        started = time.perf_counter()
        result = measure(window, args.reps)
        result["seconds"] = round(time.perf_counter() - started, 1)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
