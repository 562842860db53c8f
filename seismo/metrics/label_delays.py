"""How long a classifier's labels take, class by class: what the labels in so far are weighed by.

A default is often known before a repayment is (a missed payment is news; a
loan repaid is confirmed at term), a fraud before a clean transaction. The
labels a young day already holds then over-represent the quicker class, and
both the labels-so-far value of a metric and a confidence-based estimate of
its final value (CBPE, which fills each pending row with its score's
probability) are biased: a store with no change at all would show young days
"worse" than old ones, every day.

This module fits each class's label delay from the stored cohort state (the
aggregate cell; every cohort, young ones too, with the right-truncation
correction of :func:`~seismo.metrics.nowcast.fit_delay_truncated`), in days,
and gives, for a day of age ``a``:

* :meth:`LabelDelays.weight`, ``F_neg(a) / F_pos(a)``: the weight of a labelled
  positive that restores the classes' final proportion among the labels in
  so far (an expected labelled positive count of ``P·F_pos(a)`` against
  ``N·F_neg(a)``);
* :meth:`LabelDelays.pending_probability`: the chance a still-pending row of
  score probability ``p`` is positive, ``p(1-F_pos) / (p(1-F_pos) +
  (1-p)(1-F_neg))``, which is ``p`` when both classes arrive alike.

Within a class, a label's delay is taken not to depend on the score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import ibis
import numpy as np
from numpy.typing import NDArray

from seismo.metrics.cohorts import AGGREGATE, STATE_TABLE
from seismo.metrics.nowcast import DelayModel, fit_delay_truncated
from seismo.store.read import Store

__all__ = ["LabelDelays", "label_delays"]

#: Below this many labels of either class, classes are taken to arrive alike.
MIN_LABELS = 200
_DAY = 86400


@dataclass(frozen=True)
class LabelDelays:
    """Each class's label delay distribution, in whole days since serving.

    >>> quick = DelayModel(cdf=np.array([0.5, 1.0, 1.0]), events=500)
    >>> slow = DelayModel(cdf=np.array([0.1, 0.6, 1.0]), events=500)
    >>> d = LabelDelays(positive=quick, negative=slow)
    >>> [round(float(w), 2) for w in d.weight(np.array([0, 1, 2]))]
    [0.2, 0.6, 1.0]
    >>> round(float(d.pending_probability(np.array([[0.5]]), np.array([0]))[0, 0]), 3)
    0.357
    """

    positive: DelayModel
    negative: DelayModel

    def seen(self, age_days: NDArray[np.int64]) -> tuple[NDArray[np.float64], ...]:
        """(F_pos, F_neg) at each age: the share of each class's labels in by then."""
        return self.positive.seen_by(age_days), self.negative.seen_by(age_days)

    def weight(self, age_days: NDArray[np.int64]) -> NDArray[np.float64]:
        """Per age, the weight of a labelled positive (1 where no positive is in yet)."""
        pos, neg = self.seen(age_days)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(pos > 0, neg / pos, 1.0)
        return np.clip(w, 0.02, 50.0)

    def pending_probability(
        self, probability: NDArray[np.float64], age_days: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        """Cells × bins: a pending row's chance of being positive (``probability`` per bin)."""
        pos, neg = (f[:, None] for f in self.seen(age_days))
        p = np.asarray(probability, dtype=np.float64)
        left_pos, left_neg = p * (1.0 - pos), (1.0 - p) * (1.0 - neg)
        total = left_pos + left_neg
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(total > 1e-12, left_pos / total, p)
        return np.broadcast_to(out, np.broadcast_shapes(out.shape, p.shape)).copy()


def label_delays(store: Store, key: str, window_s: int, cut: datetime) -> LabelDelays | None:
    """The per-class label delays of a label outcome's quality pass ``key`` as of ``cut``.

    None when either class has fewer than :data:`MIN_LABELS` labels in (then
    classes are taken to arrive alike, as before any evidence otherwise).
    """
    s = store.table(STATE_TABLE)
    live = (s.obs_hour <= cut) & (s.sup_hour.isnull() | (s.sup_hour > cut))
    s = s.filter(
        (s.pass_key == key)
        & (s.attribute == AGGREGATE)
        & (s.served_hour < cut)
        & s.kind.isin(["pos", "neg"])
        & live
    )
    lag = ((s.obs_hour.epoch_seconds() - s.served_hour.epoch_seconds()) / _DAY).floor()
    age = ((ibis.literal(cut).epoch_seconds() - s.served_hour.epoch_seconds()) / _DAY).floor()
    rows = (
        s.group_by(kind=s.kind, lag=lag.cast("int64"), age=age.cast("int64"))
        .aggregate(n=s.n.sum())
        .to_pyarrow()
        .to_pandas()
    )
    days = math.ceil(window_s / _DAY)
    fitted = {}
    for kind in ("pos", "neg"):
        part = rows[rows["kind"] == kind]
        if part["n"].sum() < MIN_LABELS:
            return None
        fitted[kind] = fit_delay_truncated(
            part["lag"].to_numpy(), part["age"].to_numpy(), part["n"].to_numpy(), window_hours=days
        )
    return LabelDelays(positive=fitted["pos"], negative=fitted["neg"])
