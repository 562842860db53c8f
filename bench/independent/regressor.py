"""A demand regressor: units per store × SKU × day, actuals arriving one to three days late.

Two files and a mapping (:data:`MAPPING_TOML`):

* ``forecasts.csv``: ``forecast_id, made_at, version, store, format, region,
  sku, predicted_units`` (the score), features ``promo`` and ``shelf_price``;
  made by the morning batch (03:00-05:00 UTC) for the same day;
* ``actuals.csv``: ``forecast_id, known_at, units``: the day's sales reach
  the warehouse 1, 2 or 3 days after the day ends, with a mix set by region
  (the north's tills report fastest), at some hour of that morning.

Demand of an SKU in a store is its level (log-normal, larger in
hypermarkets, at least 15 units) times a weekly profile and promotions the
forecaster knows, times log-normal noise it does not; the forecast is the
expected demand. The noise's sd is
solved so that every store's MAPE is :attr:`RegressorConfig.mape` (13 %).

Shift (:data:`DEFAULT_SHIFTS`): ``store_mape_rise``: from 20 days before the
export one store's demand drops (a competitor opened next door) by the factor
that takes its MAPE to 33 %; the forecaster does not know, so it over-forecasts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray
from scipy.optimize import brentq

from .common import DAY, PlantedShift, Streams, ids, iso
from .metrics import mape

__all__ = ["DEFAULT_SHIFTS", "MAPPING_TOML", "RegressorConfig", "RegressorData", "StoreLevelShift"]

FORMATS = ("hyper", "super", "express")
FORMAT_SIZE = (2.2, 1.0, 0.45)
REGIONS = ("north", "south", "west")
#: P(actuals 1, 2, 3 days after the day) by region.
REGION_LAG = ((0.70, 0.25, 0.05), (0.30, 0.50, 0.20), (0.50, 0.40, 0.10))
WEEKLY = (0.85, 0.85, 0.9, 0.95, 1.15, 1.45, 0.55)
OUTCOME = "units"
REGRESSION_METRICS = ("mae", "rmse", "mape", "bias")

MAPPING_TOML = """\
# The independent generator's demand regressor (bench/independent/regressor.py).
#   seismo ingest --mapping demand-mapping.toml forecasts.csv actuals.csv
[model]
name = "demand"

[predictions]
id = "forecast_id"
timestamp = "made_at"
model_version = "version"
item = "sku"
score = "predicted_units"
segments = ["store", "format", "region"]
features = { promo = "bool", shelf_price = "float" }

[outcomes]
id = "forecast_id"
timestamp = "known_at"
type = "units"
value = "units"

[outcome_types.units]
kind = "value"
window = "5d"
description = "units sold on the forecast day, reported one to three days later"
"""


@dataclass(frozen=True, kw_only=True)
class StoreLevelShift:
    """A store's demand falls by the factor that takes its MAPE to ``mape_after``."""

    name: str = "store_mape_rise"
    store: str = "S07"
    mape_after: float = 0.33
    days_before_export: int = 20


DEFAULT_SHIFTS: tuple[StoreLevelShift, ...] = (StoreLevelShift(),)


@dataclass(frozen=True, kw_only=True)
class RegressorConfig:
    days: int = 90
    stores: int = 24
    skus: int = 60
    seed: int = 0
    start: datetime = datetime(2026, 2, 2, tzinfo=UTC)  # a Monday
    shifts: tuple[StoreLevelShift, ...] = DEFAULT_SHIFTS
    mape: float = 0.13
    model_version: str = "demand-3.1"

    def no_shift(self) -> RegressorConfig:
        return dataclasses.replace(self, shifts=())

    @property
    def exported_at(self) -> datetime:
        return self.start + timedelta(days=self.days)

    @property
    def per_day(self) -> int:
        return self.stores * self.skus

    def shift_start(self, shift: StoreLevelShift) -> datetime:
        return self.exported_at - timedelta(days=shift.days_before_export)


def store_names(n: int) -> tuple[str, ...]:
    return tuple(f"S{i + 1:02d}" for i in range(n))


def _noise_sd(target: float, z: NDArray[np.float64], level: float = 1.0) -> float:
    """sd of the log noise giving MAPE ``target`` when demand is ``level`` × the forecast."""

    def gap(sd: float) -> float:
        return float(np.mean(np.abs(np.exp(-sd * z) / level - 1.0))) - target

    return float(brentq(gap, 1e-4, 3.0))


def _level_for(target: float, sd: float, z: NDArray[np.float64]) -> float:
    """The demand factor (< 1) whose over-forecast brings MAPE to ``target``."""

    def gap(level: float) -> float:
        return float(np.mean(np.abs(np.exp(-sd * z) / level - 1.0))) - target

    return float(brentq(gap, 0.05, 1.0))


class RegressorData:
    """Every forecast with its actual and when the actual becomes known."""

    mapping_toml = MAPPING_TOML

    def __init__(self, config: RegressorConfig) -> None:
        self.config = config
        cfg = config
        streams = Streams(cfg.seed, "regressor")
        rng = streams("stores")
        names = store_names(cfg.stores)
        self.store_format = rng.choice(len(FORMATS), size=cfg.stores, p=(0.25, 0.45, 0.30))
        self.store_region = rng.choice(len(REGIONS), size=cfg.stores, p=(0.4, 0.35, 0.25))
        level = np.exp(rng.normal(np.log(90), 0.7, (cfg.stores, cfg.skus)))
        level *= np.asarray(FORMAT_SIZE)[self.store_format][:, None]
        level = np.maximum(level, 15.0)
        price = np.round(np.exp(rng.normal(1.2, 0.6, cfg.skus)), 2)
        # One row per day × store × SKU, in time order.
        day, store, sku = (a.ravel() for a in np.meshgrid(
            np.arange(cfg.days), np.arange(cfg.stores), np.arange(cfg.skus), indexing="ij"
        ))  # fmt: skip
        first = int(cfg.start.timestamp())
        self.made_at = first + day * DAY + 3 * 3600 + streams("batch").integers(0, 7200, day.size)
        weekday = (cfg.start.weekday() + day) % 7
        promo = streams("promo").uniform(size=day.size) < 0.08
        expected = level[store, sku] * np.asarray(WEEKLY)[weekday] * np.where(promo, 1.6, 1.0)
        z = streams("noise").standard_normal(day.size)
        probe = np.random.default_rng(cfg.seed).standard_normal(200_000)
        sd = _noise_sd(cfg.mape, probe)
        demand = expected * np.exp(sd * z)
        self.planted_levels: dict[str, float] = {}
        for shift in cfg.shifts:
            lv = _level_for(shift.mape_after, sd, probe)
            self.planted_levels[shift.name] = lv
            since = (int(cfg.shift_start(shift).timestamp()) - first) // DAY
            demand[(store == names.index(shift.store)) & (day >= since)] *= lv
        self.day, self.store, self.sku, self.promo = day, store, sku, promo
        self.price = price[sku]
        self.forecast = np.round(expected, 1)
        # Whole units; demand of at least 15 keeps rounding out of the error (< 4 %).
        self.units = np.round(demand)
        lag = np.empty(day.size, dtype=np.int64)
        rng_lag = streams("lag")
        for r, probs in enumerate(REGION_LAG):
            mask = self.store_region[store] == r
            lag[mask] = rng_lag.choice((1, 2, 3), size=int(mask.sum()), p=probs)
        hour = streams("report_hour").integers(2 * 3600, 10 * 3600, day.size)
        self.known_at = first + (day + lag) * DAY + hour
        self.names = names

    def forecasts(self, at: datetime | None = None) -> pa.Table:
        moment = int((at or self.config.exported_at).timestamp())
        i = np.flatnonzero(self.made_at <= moment)
        s = self.store[i]
        return pa.table(
            {
                "forecast_id": ids("F", i + 1, 8),
                "made_at": iso(self.made_at[i]),
                "version": pa.array([self.config.model_version] * i.size),
                "store": pa.array(np.asarray(self.names)[s].tolist()),
                "format": pa.array(np.asarray(FORMATS)[self.store_format[s]].tolist()),
                "region": pa.array(np.asarray(REGIONS)[self.store_region[s]].tolist()),
                "sku": ids("SKU", self.sku[i], 4),
                "predicted_units": pa.array(self.forecast[i]),
                "promo": pa.array(np.where(self.promo[i], "true", "false").tolist()),
                "shelf_price": pa.array(self.price[i]),
            }
        )

    def actuals(self, at: datetime | None = None) -> pa.Table:
        moment = int((at or self.config.exported_at).timestamp())
        i = np.flatnonzero(self.known_at <= moment)
        i = i[np.argsort(self.known_at[i], kind="stable")]
        return pa.table(
            {
                "forecast_id": ids("F", i + 1, 8),
                "known_at": iso(self.known_at[i]),
                "units": pa.array(self.units[i]),
            }
        )

    def planted(self) -> list[PlantedShift]:
        out = []
        for shift in self.config.shifts:
            start = self.config.shift_start(shift)
            cell = self.store == self.names.index(shift.store)
            t0 = int(start.timestamp())
            before, after = cell & (self.made_at < t0), cell & (self.made_at >= t0)
            out.append(
                PlantedShift(
                    name=shift.name,
                    metric=f"{OUTCOME}_mape",
                    segment={"store": shift.store},
                    start=start,
                    direction="up",
                    before=round(mape(self.forecast[before], self.units[before]), 5),
                    after=round(mape(self.forecast[after], self.units[after]), 5),
                    rows_per_day=float(self.config.skus),
                    implied=tuple(f"{OUTCOME}_{m}" for m in REGRESSION_METRICS if m != "mape"),
                    description=f"demand × {self.planted_levels[shift.name]:.3f}, forecast unaware",
                    extra={"demand_factor": self.planted_levels[shift.name]},
                )
            )
        return out
