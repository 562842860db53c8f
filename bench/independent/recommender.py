"""The recommender scenario, in the seed export format, with the outside tester's four shifts.

One row per recommendation shown, exactly the seed CSV's columns, as known
at the end of the last day (the censoring rule, and the other systems'
convention of an empty ``returned`` after no purchase, are in :mod:`.export`).

The default shifts (:data:`DEFAULT_SHIFTS`, each a :class:`RateShift`, all
multiplicative on the true probability, none known to the model's score):

* ``region_purchase_drop``: purchases in region ``uk`` (22 % of traffic, ~880
  recommendations a day) × 0.55 from 12 days before the export;
* ``intersection_click_drop``: clicks of age 25-34 in ``iberia`` only (~290 a
  day) halved from 15 days before the export;
* ``new_customer_returns``: the return rate of ``new`` customers (35 %) 0.20 →
  0.40 of purchases from 25 days before the export;
* ``device_click_drop``: clicks on ``tablet`` (15 %, 600 a day) 0.23 → 0.153
  from 9 days before the export.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from . import shop
from .common import DAY, PlantedShift, Streams, arrivals, ids, iso, measured_rate
from .export import COLUMNS, Outcomes, known_outcomes

__all__ = ["COLUMNS", "DEFAULT_SHIFTS", "RateShift", "RecommenderConfig", "RecommenderData"]

#: Sunday busiest, Tuesday quietest (Monday first); late-evening peak (UTC hours).
WEEKLY = (0.92, 0.88, 0.93, 0.97, 1.02, 1.10, 1.18)
HOURLY = (
    *(1.2, 0.7, 0.4, 0.3, 0.3, 0.5, 1.2, 2.6, 3.0, 2.6, 2.4, 2.6),
    *(3.4, 3.1, 2.7, 2.6, 2.9, 3.5, 4.4, 5.6, 6.8, 7.4, 5.9, 3.0),
)
METRIC = {"click": "click_through_rate", "purchase": "purchase_conversion", "return": "return_rate"}
#: What else a shift of each outcome moves in its cell, by this generator's mechanics.
#: What else a planted shift moves in its cell. The scores are the click model's and do
#: not learn of a click drop, so its calibration and log loss move with the clicks.
IMPLIED = {
    "click": (
        "purchase_conversion",
        "revenue_per_recommendation",
        "click_calibration_in_the_large",
        "click_calibration_error",
        "click_log_loss",
        "click_brier",
    ),
    "purchase": ("revenue_per_recommendation", "purchase_per_click"),
    "return": (),
}
_ATTRIBUTES = {
    "age_group": ("age", shop.AGE_GROUPS),
    "region": ("region", shop.REGIONS),
    "customer_type": ("customer_type", shop.CUSTOMER_TYPES),
    "device": ("device", shop.DEVICES),
    "sustainability_preference": ("preference", shop.PREFERENCES),
}


@dataclass(frozen=True, kw_only=True)
class RateShift:
    """Multiply an outcome's true probability by ``factor`` in a segment from a day on."""

    name: str
    outcome: Literal["click", "purchase", "return"]
    segment: dict[str, str]
    factor: float
    days_before_export: int

    def __post_init__(self) -> None:
        for attribute, value in self.segment.items():
            if attribute not in _ATTRIBUTES or value not in _ATTRIBUTES[attribute][1]:
                raise ValueError(f"shift {self.name}: no segment {attribute}={value}")
        if self.factor <= 0 or self.days_before_export < 1:
            raise ValueError(f"shift {self.name}: factor > 0 and days_before_export >= 1")


DEFAULT_SHIFTS = (
    RateShift(
        name="region_purchase_drop",
        outcome="purchase",
        segment={"region": "uk"},
        factor=0.55,
        days_before_export=12,
    ),
    RateShift(
        name="intersection_click_drop",
        outcome="click",
        segment={"age_group": "25-34", "region": "iberia"},
        factor=0.5,
        days_before_export=15,
    ),
    RateShift(
        name="new_customer_returns",
        outcome="return",
        segment={"customer_type": "new"},
        factor=2.0,
        days_before_export=25,
    ),
    RateShift(
        name="device_click_drop",
        outcome="click",
        segment={"device": "tablet"},
        factor=2 / 3,
        days_before_export=9,
    ),
)


@dataclass(frozen=True, kw_only=True)
class RecommenderConfig:
    """Everything that decides the export; same config, same bytes."""

    days: int = 70
    per_day: float = 4000.0
    seed: int = 0
    start: datetime = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
    shifts: tuple[RateShift, ...] = DEFAULT_SHIFTS
    reference_days: int = 21
    #: sd of the log click propensity per customer (0 = every row binomial).
    heterogeneity: float = 0.35
    #: sd of the log activity of customers (0 = all customers equally active).
    activity_sigma: float = 1.0
    empty_returns_unless_purchased: bool = True
    model_version: str = "recsys-7.2"
    catalog_size: int = 3000
    click_window: timedelta = timedelta(minutes=30)
    purchase_window: timedelta = timedelta(days=12)
    return_window: timedelta = timedelta(days=14)
    extra: dict[str, str] = field(default_factory=dict)

    def no_shift(self) -> RecommenderConfig:
        return dataclasses.replace(self, shifts=())

    @property
    def exported_at(self) -> datetime:
        return self.start + timedelta(days=self.days)

    def shift_start(self, shift: RateShift) -> datetime:
        return self.exported_at - timedelta(days=shift.days_before_export)


@dataclass(frozen=True)
class _Rows:
    """One period's rows: fixed columns as arrays, and the final outcomes."""

    ts: NDArray[np.int64]
    codes: dict[str, NDArray[np.int64]]
    customer: NDArray[np.int64]
    product: NDArray[np.int64]
    position: NDArray[np.int64]
    score: NDArray[np.float64]
    clicked: NDArray[np.bool_]
    click_ts: NDArray[np.int64]
    purchased: NDArray[np.bool_]
    purchase_ts: NDArray[np.int64]
    returned: NDArray[np.bool_]
    return_ts: NDArray[np.int64]

    def member(self, segment: dict[str, str]) -> NDArray[np.bool_]:
        return segment_mask(self.codes, segment)

    def outcomes(self, index: NDArray[np.int64]) -> Outcomes:
        return Outcomes(
            self.ts[index],
            self.clicked[index],
            self.click_ts[index],
            self.purchased[index],
            self.purchase_ts[index],
            self.returned[index],
            self.return_ts[index],
        )


def segment_mask(codes: dict[str, NDArray[np.int64]], segment: dict[str, str]) -> NDArray[np.bool_]:
    """Rows in ``segment`` (every attribute matches)."""
    mask = np.ones(next(iter(codes.values())).size, dtype=bool)
    for attribute, value in segment.items():
        key, labels = _ATTRIBUTES[attribute]
        mask &= codes[key] == labels.index(value)
    return mask


class RecommenderData:
    """The generated month: :meth:`export` (as known at a moment), :meth:`reference`, truth."""

    #: The seed format needs no mapping file: seismo's built-in one reads it.
    mapping_toml: str | None = None

    def __init__(self, config: RecommenderConfig) -> None:
        self.config = config
        streams = Streams(config.seed, "recommender")
        n_customers = max(2000, int(config.per_day * (config.days + config.reference_days) / 6))
        self._customers = shop.draw_customers(streams, n_customers, config.heterogeneity)
        if config.activity_sigma != 1.0:
            z = np.log(self._customers.activity)  # drawn with sd 1: rescale
            self._customers = dataclasses.replace(
                self._customers, activity=np.exp(z * config.activity_sigma)
            )
        self._catalog = shop.draw_catalog(streams, config.catalog_size)
        self.rows = self._draw(Streams(config.seed, "export"), 0, config.days, config.shifts)
        self._reference = self._draw(
            Streams(config.seed, "reference"), -config.reference_days, config.reference_days, ()
        )

    # -- drawing ---------------------------------------------------------------

    def _draw(
        self, streams: Streams, first_day: int, days: int, shifts: tuple[RateShift, ...]
    ) -> _Rows:
        cfg, cu, cat = self.config, self._customers, self._catalog
        ts = arrivals(
            streams("arrivals"),
            start=cfg.start + timedelta(days=first_day),
            days=days,
            per_day=cfg.per_day,
            weekly=WEEKLY,
            hourly=HOURLY,
        )
        n = ts.size
        c = streams("who").choice(cu.size, size=n, p=cu.activity / cu.activity.sum())
        product = streams("what").integers(0, cat.size, n)
        position = streams("slot").integers(1, 9, n)
        codes = {
            "age": cu.age[c],
            "region": cu.region[c],
            "customer_type": cu.customer_type[c],
            "device": cu.device[c],
            "preference": cu.preference[c],
        }
        p_click = (
            np.asarray(shop.DEVICE_CTR)[codes["device"]]
            * shop.normalised(shop.AGE_CLICK, shop.AGE_SHARE)[codes["age"]]
            * shop.normalised(shop.POSITION_CLICK, (1.0,) * 8)[position - 1]
            * cu.propensity[c]
            * cat.appeal[product]
        )
        p_click = np.clip(p_click, 1e-4, 0.95)
        noise = streams("score").normal(-0.1, 0.45, n)
        score = np.round(1 / (1 + np.exp(-(np.log(p_click / (1 - p_click)) + noise))), 5)
        factor = {o: np.ones(n) for o in ("click", "purchase", "return")}
        for shift in shifts:
            since = int(self.config.shift_start(shift).timestamp())
            cell = segment_mask(codes, shift.segment) & (ts >= since)
            factor[shift.outcome][cell] *= shift.factor
        clicked = streams("clicks").uniform(size=n) < np.clip(p_click * factor["click"], 0, 0.95)
        ctype = codes["customer_type"]
        p_buy = np.where(clicked, np.asarray(shop.CONVERSION)[ctype], shop.VIEW_THROUGH)
        purchased = streams("purchases").uniform(size=n) < p_buy * factor["purchase"]
        p_return = np.asarray(shop.RETURN_RATE)[ctype] * cat.return_factor[product]
        returned = purchased & (
            streams("returns").uniform(size=n) < np.clip(p_return * factor["return"], 0, 0.95)
        )
        click_lag, purchase_lag, return_lag = self._delays(streams, codes)
        click_ts, purchase_ts = ts + click_lag, ts + purchase_lag
        # Bought after the click it followed (moves a same-session purchase by seconds).
        purchase_ts = np.where(clicked, np.maximum(purchase_ts, click_ts + 30), purchase_ts)
        return_ts = purchase_ts + return_lag
        return _Rows(
            ts, codes, c, product, position, score,
            clicked, click_ts, purchased, purchase_ts, returned, return_ts,
        )  # fmt: skip

    def _delays(
        self, streams: Streams, codes: dict[str, NDArray[np.int64]]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        """Seconds to click, to purchase and from purchase to return, for every row (used
        only where the outcome happens): the same draws whatever the shifts."""
        cfg, n = self.config, codes["device"].size
        click_min = np.empty(n)
        purchase_days, return_days = np.empty(n), np.empty(n)
        rng_c, rng_p, rng_r = streams("click_delay"), streams("buy_delay"), streams("ret_delay")
        device, region = codes["device"], codes["region"]
        window_min = cfg.click_window.total_seconds() / 60
        for d in range(len(shop.DEVICES)):
            mask = device == d
            click_min[mask] = shop.click_delay(d).sample(rng_c, int(mask.sum()), window=window_min)
            for r in range(len(shop.REGIONS)):
                cell = mask & (region == r)
                purchase_days[cell] = shop.purchase_delay(d, r).sample(
                    rng_p, int(cell.sum()), window=cfg.purchase_window.total_seconds() / DAY
                )
        for r in range(len(shop.REGIONS)):
            cell = region == r
            return_days[cell] = shop.return_delay(r).sample(
                rng_r, int(cell.sum()), window=cfg.return_window.total_seconds() / DAY
            )
        return (
            np.round(click_min * 60).astype(np.int64),
            np.round(purchase_days * DAY).astype(np.int64),
            np.round(return_days * DAY).astype(np.int64),
        )

    # -- tables ----------------------------------------------------------------

    def export(self, at: datetime | None = None) -> pa.Table:
        """The export as known at ``at`` (default: the end of the last day), rows shown by then."""
        at = at or self.config.exported_at
        return self._table(self.rows, "R", int(at.timestamp()))

    def final(self) -> pa.Table:
        """Every row with its final outcomes (nothing pending)."""
        return self._table(self.rows, "R", None)

    def reference(self) -> pa.Table:
        """Training reference: the weeks before deployment, no shift, all outcomes final."""
        return self._table(self._reference, "T", None)

    def _table(self, rows: _Rows, prefix: str, at: int | None) -> pa.Table:
        keep = np.ones(rows.ts.size, dtype=bool) if at is None else rows.ts <= at
        index = np.flatnonzero(keep)
        cat = self._catalog
        p = rows.product[index]
        columns: dict[str, pa.Array] = {
            "recommendation_id": ids(prefix, index + 1, 8),
            "timestamp": iso(rows.ts[index]),
            "customer_id": ids("C", rows.customer[index], 6),
        }
        for attribute, (key, labels) in _ATTRIBUTES.items():
            columns[attribute] = pa.array(np.asarray(labels)[rows.codes[key][index]].tolist())
        columns |= {
            "product_id": ids("P", p, 5),
            "category": pa.array(np.asarray(shop.CATEGORIES)[cat.category[p]].tolist()),
            "brand": pa.array(np.asarray(shop.BRANDS)[cat.brand[p]].tolist()),
            "is_sustainable": pa.array(np.where(cat.sustainable[p], "true", "false").tolist()),
            "price_eur": pa.array(cat.price[p]),
            "collection": pa.array(np.asarray(shop.COLLECTIONS)[cat.collection[p]].tolist()),
            "position": pa.array(rows.position[index]),
            "model_version": pa.array([self.config.model_version] * index.size),
            "score": pa.array(rows.score[index]),
        }
        columns |= known_outcomes(
            rows.outcomes(index),
            at,
            click=int(self.config.click_window.total_seconds()),
            purchase=int(self.config.purchase_window.total_seconds()),
            ret=int(self.config.return_window.total_seconds()),
            empty_returns=self.config.empty_returns_unless_purchased,
        )
        return pa.table({name: columns[name] for name in COLUMNS})

    # -- truth -----------------------------------------------------------------

    def planted(self) -> list[PlantedShift]:
        """Each planted shift with its cell's measured before/after rates and volume."""
        out = []
        rows = self.rows
        for shift in self.config.shifts:
            member = rows.member(shift.segment)
            outcome = {"click": rows.clicked, "purchase": rows.purchased}.get(shift.outcome)
            if outcome is None:  # a rate per purchase
                member, outcome = member & rows.purchased, rows.returned
            start = self.config.shift_start(shift)
            before, after, per_day = measured_rate(
                member, outcome, rows.ts, start, self.config.days
            )
            out.append(
                PlantedShift(
                    name=shift.name,
                    metric=METRIC[shift.outcome],
                    segment=dict(shift.segment),
                    start=start,
                    direction="down" if shift.factor < 1 else "up",
                    before=round(before, 5),
                    after=round(after, 5),
                    rows_per_day=round(per_day, 1),
                    implied=IMPLIED[shift.outcome],
                    description=f"{shift.outcome} probability × {shift.factor:.3g}",
                    extra={"factor": shift.factor, "outcome": shift.outcome},
                )
            )
        return out
