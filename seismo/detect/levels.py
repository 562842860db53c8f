"""Alert levels in a metric's own units: what one day must reach to raise an alert alone.

The detector (:mod:`seismo.detect.change`) weighs a run of days against the
baseline in standard errors, which a chart cannot show. Its simplest case
can: a change that began on the day itself, a run of one. Day ``i`` (value
``x_i``, variance ``v_i`` under "no change") alarms alone when, in an adverse
direction ``sign``,

    sign * (x_i - mu0) >= max(min_effect, c * sqrt(v_i + v0)),

with ``mu0`` and ``v0`` the baseline's value and variance, ``c`` the cell's
alarm threshold for the store's false-alarm budget
(:meth:`~seismo.detect.change.DetectConfig.thresholds`) and ``min_effect`` the
smallest change worth an alert (:func:`~seismo.detect.change.minimum_effect`).
Those two bounds are the *alert levels* drawn beside a metric's days (the
upper and lower thresholds of NannyML's performance plots). A run of several
days beyond the baseline alarms sooner than any one of them would: the level
is the bar for a day on its own, not for the run. Every quantity is the one
the scan itself uses (the same series, overdispersion and variances);
a share's binomial correction (:func:`~seismo.detect.glr.binomial_shape`) is
left out, so a share's level is the normal approximation's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa

from seismo.detect.change import (
    DetectConfig,
    Side,
    _at_rate,
    _day_variance,
    _typical_errors,
    directions,
    dispersions,
    minimum_effect,
    series_of,
)

__all__ = ["Levels", "alert_levels"]

#: (metric, attribute, value, model version): a series' cell.
Key = tuple[str, str | None, str | None, str | None]


@dataclass(frozen=True)
class Levels:
    """One cell's baseline and, per window start, the lower and upper alert levels.

    A level is None in a direction that raises no alert for the metric (a
    rise in ROC AUC), or for a window whose variance is unknown.
    """

    baseline: float
    baseline_start: datetime
    baseline_end: datetime
    threshold: float
    lower: dict[datetime, float | None]
    upper: dict[datetime, float | None]


def alert_levels(
    table: pa.Table, *, cut: datetime, config: DetectConfig, watched: int, kind: str = "quality"
) -> dict[Key, Levels]:
    """The alert levels of every cell of ``table`` the detector can test, for each of its days.

    ``watched``: the series the store's budget is spread over (a check's
    :class:`~seismo.detect.run.Watch` ``cells``).
    """
    series = series_of(table, cut, config, labelled=False)  # the estimate's days are drawn
    phi = dispersions(series)
    typical = _typical_errors(series)
    out: dict[Key, Levels] = {}
    for s in series:
        base_var = [_day_variance(r) for r in s.base]
        if not all(math.isfinite(v) and v > 0 for v in base_var):
            continue
        f = phi[s.key]
        base = Side.pooled(s.base, f)
        if base.n < config.min_n:
            continue
        unit, metric = s.row["unit"], s.row["metric"]
        rate = base.value if unit == "share" else None
        per_row = None
        if rate is None:
            n_base = np.array([float(r["n"]) for r in s.base])
            per_row = float((n_base * n_base * np.array(base_var)).sum() / n_base.sum())
        v0 = (Side.pooled(s.base, f) if rate is None else _at_rate(s.base, rate, f)).var
        alarm, _ = config.thresholds(watched, len(s.days))
        effect = minimum_effect(metric, unit, base.value, config, typical.get(s.key))
        signs = directions(metric, unit, kind, config)
        lower: dict[datetime, float | None] = {}
        upper: dict[datetime, float | None] = {}
        for r in [*s.base, *s.earlier, *s.days]:
            v = _day_variance(r, rate, per_row) * f
            gap = max(effect, alarm * math.sqrt(v + v0)) if math.isfinite(v) else None
            start = r["window_start"]
            lower[start] = None if gap is None or -1 not in signs else base.value - gap
            upper[start] = None if gap is None or 1 not in signs else base.value + gap
        out[s.key] = Levels(base.value, base.start, base.end, alarm, lower, upper)
    return out
