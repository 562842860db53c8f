"""A credit-line classifier whose default labels arrive weeks to months late (events shape).

Two files and a mapping (:data:`MAPPING_TOML`, written beside them):

* ``decisions.csv``: ``application_id, decided_at, model, customer_id,
  p_default`` (the score: predicted probability of default), ``decision``
  (the served class), segments ``region`` and ``channel``, features
  ``income, age, employment, loan_amount``;
* ``labels.csv``: ``application_id, labelled_at, defaulted`` (1 / 0), only
  the labels known by the export.

A row's true default probability is a logistic function of its features,
region, channel and a part the model never sees; the score is the model's
calibrated view of the part it does see (ROC AUC about 0.8). Labels arrive
after a gamma delay (shape 2.2) whose mean depends on the *channel* (online
28 days ... broker 45 days), within a 120-day window; 2 % never arrive.
Weekdays are busy, Sundays nearly empty.

Shifts (:data:`DEFAULT_SHIFTS`):

* ``region_default_rise``: the true default rate of ``south`` (20 % of
  decisions, ~300 a day) goes 8 % → 23 % from 60 days before the export; the
  scores do not know, so accuracy (score ≥ 0.5) falls from about 0.92;
* ``channel_discrimination_loss``: from 45 days before the export the
  ``partner`` channel's scores keep only ``keep`` of their correlation with
  the risk the model sees (a broken feature feed): ROC AUC falls, rates do not.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray
from scipy.optimize import brentq
from scipy.special import expit

from .common import DAY, PlantedShift, Streams, arrivals, ids, iso
from .delays import Delay
from .metrics import accuracy, roc_auc

__all__ = [
    "CLASSIFIER_METRICS",
    "DEFAULT_SHIFTS",
    "MAPPING_TOML",
    "ClassifierConfig",
    "ClassifierData",
    "DefaultRateShift",
    "DiscriminationLoss",
]

REGIONS = ("north", "south", "east", "west", "capital")
REGION_SHARE = (0.18, 0.20, 0.17, 0.15, 0.30)
REGION_DEFAULT = (0.07, 0.08, 0.09, 0.06, 0.085)
CHANNELS = ("online", "branch", "broker", "partner")
CHANNEL_SHARE = (0.45, 0.25, 0.20, 0.10)
CHANNEL_RISK = (0.1, -0.3, 0.25, 0.0)
CHANNEL_LABEL_DAYS = (28.0, 32.0, 45.0, 36.0)
EMPLOYMENT = ("employed", "self_employed", "retired", "student", "unemployed")
EMPLOYMENT_SHARE = (0.62, 0.14, 0.12, 0.06, 0.06)
EMPLOYMENT_RISK = (-0.2, 0.2, -0.1, 0.5, 0.9)
WEEKLY = (1.15, 1.2, 1.2, 1.15, 1.1, 0.6, 0.25)
HOURLY = (0, 0, 0, 0, 0, 0.2, 1, 3, 6, 8, 8, 7, 6, 7, 8, 8, 7, 5, 3, 2, 1.5, 1, 0.5, 0.1)
HIDDEN_SD = 0.8
#: The quality metrics of a label outcome, as seismo names them (``<outcome>_<metric>``).
#: A shift the scores do not know moves all of them: the label's own rate, and how well
#: the scores are calibrated to it, too.
CLASSIFIER_METRICS = (
    "accuracy",
    "precision",
    "recall",
    "specificity",
    "f1",
    "roc_auc",
    "log_loss",
    "brier",
    "positive_rate",
    "calibration_in_the_large",
)
OUTCOME = "default"

MAPPING_TOML = """\
# The independent generator's credit-line classifier (bench/independent/classifier.py).
#   seismo ingest --mapping credit-mapping.toml decisions.csv labels.csv
[model]
name = "credit-line"

[predictions]
id = "application_id"
timestamp = "decided_at"
model_version = "model"
entity = "customer_id"
score = "p_default"
label = "decision"
positive_label = "decline"
segments = ["region", "channel"]
features = { income = "float", age = "int", employment = "string", loan_amount = "float" }

[outcomes]
id = "application_id"
timestamp = "labelled_at"
type = "default"
value = "defaulted"

[outcome_types.default]
kind = "label"
window = "120d"
description = "default on the credit line, known weeks to months after the decision"
"""


@dataclass(frozen=True, kw_only=True)
class DefaultRateShift:
    """One segment's true default rate becomes ``after`` (the scores do not know)."""

    name: str = "region_default_rise"
    segment: dict[str, str] = dataclasses.field(default_factory=lambda: {"region": "south"})
    after: float = 0.23
    days_before_export: int = 60


@dataclass(frozen=True, kw_only=True)
class DiscriminationLoss:
    """One segment's scores keep only ``keep`` of their correlation with the seen risk."""

    name: str = "channel_discrimination_loss"
    segment: dict[str, str] = dataclasses.field(default_factory=lambda: {"channel": "partner"})
    keep: float = 0.3
    days_before_export: int = 45


Shift = DefaultRateShift | DiscriminationLoss
DEFAULT_SHIFTS: tuple[Shift, ...] = (DefaultRateShift(), DiscriminationLoss())


@dataclass(frozen=True, kw_only=True)
class ClassifierConfig:
    days: int = 200
    per_day: float = 1500.0
    seed: int = 0
    start: datetime = datetime(2025, 6, 2, tzinfo=UTC)  # a Monday
    shifts: tuple[Shift, ...] = DEFAULT_SHIFTS
    model_version: str = "pd-2025.05"
    label_window_days: float = 120.0
    #: Labels are in within this many days (the rest of the window is slack).
    label_cutoff_days: float = 110.0
    label_delay_shape: float = 2.2
    #: Mean label delay in days by channel (None: CHANNEL_LABEL_DAYS).
    label_mean_days: tuple[float, ...] | None = None
    lost_labels: float = 0.02
    #: Defaulters' labels come sooner (× this on the delay): 1.0 = class-independent.
    default_delay_factor: float = 1.0

    def no_shift(self) -> ClassifierConfig:
        return dataclasses.replace(self, shifts=())

    @property
    def exported_at(self) -> datetime:
        return self.start + timedelta(days=self.days)

    def shift_start(self, shift: Shift) -> datetime:
        return self.exported_at - timedelta(days=shift.days_before_export)


class ClassifierData:
    """Decisions, their final labels and when each label becomes known."""

    mapping_toml = MAPPING_TOML

    def __init__(self, config: ClassifierConfig) -> None:
        self.config = config
        streams = Streams(config.seed, "classifier")
        cfg = config
        self.ts = arrivals(
            streams("arrivals"),
            start=cfg.start,
            days=cfg.days,
            per_day=cfg.per_day,
            weekly=WEEKLY,
            hourly=HOURLY,
        )
        n = self.ts.size
        rng = streams("applicants")
        self.region = rng.choice(len(REGIONS), size=n, p=REGION_SHARE)
        self.channel = rng.choice(len(CHANNELS), size=n, p=CHANNEL_SHARE)
        self.employment = rng.choice(len(EMPLOYMENT), size=n, p=EMPLOYMENT_SHARE)
        self.income = np.round(np.exp(rng.normal(10.3, 0.5, n)), -1)
        self.age = np.clip(np.round(rng.normal(44, 13, n)), 18, 80).astype(np.int64)
        self.loan = np.round(np.exp(rng.normal(8.8, 0.7, n)), -1)
        self.customer = rng.integers(0, max(1, n // 2), size=n)
        seen = (
            np.asarray(CHANNEL_RISK)[self.channel]
            + np.asarray(EMPLOYMENT_RISK)[self.employment]
            - 0.9 * (np.log(self.income) - 10.3)
            - 0.35 * (self.age - 44) / 13
            + 0.5 * (np.log(self.loan) - 8.8)
            + streams("seen").normal(0.0, 0.75, n)
        )
        hidden = streams("hidden").normal(0.0, HIDDEN_SD, n)
        offset = self._offsets(seen + hidden)
        self.seen_logit = seen + offset
        self.true_logit = self.seen_logit + hidden
        # The model's calibrated view of what it sees (logit-normal approximation).
        model_logit = self.seen_logit / np.sqrt(1 + np.pi * HIDDEN_SD**2 / 8)
        self.score = expit(model_logit)
        for shift in cfg.shifts:
            self._apply(shift, streams)
        self.score = np.round(self.score, 5)
        self.defaulted = streams("labels").uniform(size=n) < expit(self.true_logit)
        self.labelled_at = self._label_times(streams)

    def _offsets(self, logit: NDArray[np.float64]) -> NDArray[np.float64]:
        """Per region, the intercept that makes its mean default rate REGION_DEFAULT."""
        offset = np.zeros(logit.size)
        for r, rate in enumerate(REGION_DEFAULT):
            mask = self.region == r
            offset[mask] = _solve_shift(logit[mask], rate)
        return offset

    def member(self, segment: dict[str, str]) -> NDArray[np.bool_]:
        mask = np.ones(self.ts.size, dtype=bool)
        for attribute, value in segment.items():
            codes, labels = {"region": (self.region, REGIONS), "channel": (self.channel, CHANNELS)}[
                attribute
            ]
            mask &= codes == labels.index(value)
        return mask

    def _apply(self, shift: Shift, streams: Streams) -> None:
        since = int(self.config.shift_start(shift).timestamp())
        cell = self.member(shift.segment) & (self.ts >= since)
        if isinstance(shift, DefaultRateShift):
            self.true_logit[cell] += _solve_shift(self.true_logit[cell], shift.after)
            return
        # Scores keep `keep` of their signal; the rest is noise of the same spread.
        z = np.log(self.score[cell] / (1 - self.score[cell]))
        m, sd = float(z.mean()), float(z.std())
        noise = streams(f"degrade/{shift.name}").standard_normal(int(cell.sum()))
        degraded = m + shift.keep * (z - m) + np.sqrt(1 - shift.keep**2) * sd * noise
        self.score[cell] = expit(degraded)

    def _label_times(self, streams: Streams) -> NDArray[np.int64]:
        """When each label becomes known (epoch seconds; int64 max = never)."""
        cfg, n = self.config, self.ts.size
        means = cfg.label_mean_days or CHANNEL_LABEL_DAYS
        days = np.empty(n)
        rng = streams("label_delay")
        for c, mean in enumerate(means):
            mask = self.channel == c
            days[mask] = Delay("gamma", cfg.label_delay_shape, mean).sample(
                rng, int(mask.sum()), window=cfg.label_cutoff_days
            )
        days = np.where(self.defaulted, days * cfg.default_delay_factor, days)
        lost = streams("lost").uniform(size=n) < cfg.lost_labels
        at = self.ts + np.round(days * DAY).astype(np.int64)
        return np.where(lost, np.iinfo(np.int64).max, at)

    def label_delay(self, channel: str) -> Delay:
        """The label delay distribution of a channel (as the oracle should know it)."""
        means = self.config.label_mean_days or CHANNEL_LABEL_DAYS
        return Delay("gamma", self.config.label_delay_shape, means[CHANNELS.index(channel)])

    # -- tables ----------------------------------------------------------------

    def decisions(self, at: datetime | None = None) -> pa.Table:
        moment = int((at or self.config.exported_at).timestamp())
        i = np.flatnonzero(self.ts <= moment)
        score = self.score[i]
        decision = np.where(score < 0.2, "approve", np.where(score < 0.5, "review", "decline"))
        return pa.table(
            {
                "application_id": ids("A", i + 1, 7),
                "decided_at": iso(self.ts[i]),
                "model": pa.array([self.config.model_version] * i.size),
                "customer_id": ids("K", self.customer[i], 7),
                "p_default": pa.array(score),
                "decision": pa.array(decision.tolist()),
                "region": pa.array(np.asarray(REGIONS)[self.region[i]].tolist()),
                "channel": pa.array(np.asarray(CHANNELS)[self.channel[i]].tolist()),
                "income": pa.array(self.income[i]),
                "age": pa.array(self.age[i]),
                "employment": pa.array(np.asarray(EMPLOYMENT)[self.employment[i]].tolist()),
                "loan_amount": pa.array(self.loan[i]),
            }
        )

    def labels(self, at: datetime | None = None) -> pa.Table:
        """The labels known at ``at`` (default: the export), in the order they arrived."""
        moment = int((at or self.config.exported_at).timestamp())
        i = np.flatnonzero(self.labelled_at <= moment)
        i = i[np.argsort(self.labelled_at[i], kind="stable")]
        return pa.table(
            {
                "application_id": ids("A", i + 1, 7),
                "labelled_at": iso(self.labelled_at[i]),
                "defaulted": pa.array(self.defaulted[i].astype(np.int8)),
            }
        )

    # -- truth -----------------------------------------------------------------

    def planted(self) -> list[PlantedShift]:
        out = []
        for shift in self.config.shifts:
            start = self.config.shift_start(shift)
            cell = self.member(shift.segment)
            after = cell & (self.ts >= start.timestamp())
            before = cell & ~after
            y, s = self.defaulted, self.score
            figure: Callable[[NDArray[np.float64], NDArray[np.bool_]], float]
            if isinstance(shift, DefaultRateShift):
                metric, figure = "accuracy", accuracy
                desc = f"true default rate → {shift.after:.0%}, scores unchanged"
            else:
                metric, figure = "roc_auc", roc_auc
                desc = f"scores keep {shift.keep:.0%} of their signal"
            pair = figure(s[before], y[before]), figure(s[after], y[after])
            out.append(
                PlantedShift(
                    name=shift.name,
                    metric=f"{OUTCOME}_{metric}",
                    segment=dict(shift.segment),
                    start=start,
                    direction="down",
                    before=round(pair[0], 5),
                    after=round(pair[1], 5),
                    rows_per_day=round(float(cell.sum()) / self.config.days, 1),
                    implied=tuple(
                        f"{OUTCOME}_{m}"
                        for m in (*CLASSIFIER_METRICS, "calibration_error")
                        if m != metric
                    ),
                    description=desc,
                    extra={
                        "default_rate_before": _rate(y[before]),
                        "default_rate_after": _rate(y[after]),
                        "roc_auc_before": round(roc_auc(s[before], y[before]), 5),
                        "roc_auc_after": round(roc_auc(s[after], y[after]), 5),
                        "accuracy_before": round(accuracy(s[before], y[before]), 5),
                        "accuracy_after": round(accuracy(s[after], y[after]), 5),
                        "label_delay": [self.label_delay(c).label for c in CHANNELS],
                    },
                )
            )
        return out


def _rate(flags: NDArray[np.bool_]) -> float:
    return round(float(flags.mean()), 5) if flags.size else float("nan")


def _solve_shift(logit: NDArray[np.float64], rate: float) -> float:
    """The logit offset that makes the mean of ``expit(logit + offset)`` equal ``rate``."""
    return float(brentq(lambda d: float(expit(logit + d).mean()) - rate, -20.0, 20.0))
