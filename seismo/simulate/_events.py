"""Drawing one period of recommendation events and their final outcomes.

Everything is a whole-array NumPy operation; the only Python loops run over the
30 (age group x preference x collection) cells that build the exposure tables.

Each concern (timestamps, ages, products, clicks, ...) draws from its own child
stream of the period's ``SeedSequence``, and every stream draws the same number
of values whatever the shift switches say. So switching one planted shift off
leaves every other draw as it was: ``no_shift()`` is the same month of traffic
without the shifts (common random numbers), not a different month.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from seismo.simulate._outcomes import Final
from seismo.simulate._population import (
    AGE_GROUPS,
    BASE_CTR,
    PREFERENCE_SHARE,
    PREFERENCES,
    RETURN_RATE,
    Catalog,
    Customers,
)

if TYPE_CHECKING:
    from seismo.simulate.scenario import Scenario

__all__ = ["STATUSES", "Events", "draw_events"]

#: The status each code of ``Events.status`` stands for.
STATUSES = ("ok", "error", "timeout")

DAY = 86_400
#: Traffic by weekday (Monday first), mean 1: the shop is busier at the weekend.
WEEKLY = (0.96, 0.94, 0.95, 0.98, 1.02, 1.07, 1.08)
#: Traffic by hour of day (UTC): quiet nights, a lunch bump and an evening peak.
HOURLY = (
    *(0.6, 0.4, 0.3, 0.3, 0.4, 0.8, 1.5, 2.5, 3.5, 4.0, 4.2, 4.8),
    *(5.5, 5.0, 4.6, 4.6, 5.0, 5.8, 7.0, 8.0, 8.2, 7.0, 4.5, 2.0),
)
#: Click-through by position 1..10 relative to the average position: the top
#: slot is clicked about twice as often as the last.
POSITION_EFFECT = np.array([1.40, 1.28, 1.17, 1.08, 1.00, 0.94, 0.88, 0.80, 0.75, 0.70])
POSITION_EFFECT = POSITION_EFFECT / POSITION_EFFECT.mean()
#: Purchase probability after a click, by age group, and without one
#: (view-through: the customer saw the item and bought it later anyway).
CONVERSION = (0.09, 0.10, 0.11, 0.12, 0.13)
VIEW_THROUGH = 0.008
#: Median purchase delay in days by age group: older customers decide more slowly.
PURCHASE_DELAY_DAYS = (0.5, 1.0, 1.8, 2.8, 4.0)
#: The single median used when purchase delays do not differ by segment.
COMMON_PURCHASE_DELAY_DAYS = 1.6
#: How much each age group's exposure follows an item's youth appeal.
YOUTH_AXIS = (1.0, 0.5, 0.0, -0.5, -1.0)
#: Relative share of sustainable items shown, by sustainability preference.
PREFERENCE_SUSTAINABLE = (1.4, 1.0, 0.65)
#: Serving latency: log-normal around a median that rises with the hour's load (a busy
#: evening is slower than the night), so the P95 is about 40 ms at night and 60 ms at peak.
LATENCY_MEDIAN_MS = 22.0
LATENCY_LOAD = 0.5
LATENCY_SIGMA = 0.35
#: What a timed-out request's latency reads (the serving system's timeout).
TIMEOUT_MS = 1000.0
#: A clean month's failures: share of requests answered with an error, and timing out.
ERROR_RATE = 0.0004
TIMEOUT_RATE = 0.0003

_STREAMS = (
    "times",
    "customers",
    "linger",
    "products",
    "positions",
    "relevance",
    "score",
    "clicks",
    "click_delay",
    "purchases",
    "purchase_delay",
    "returns",
    "return_delay",
    "latency",
    "status",
)


@dataclass(frozen=True)
class Events:
    """Rows of one period as index arrays, with outcomes as they finally are.

    Timestamps are integer seconds since the epoch (``final.ts``).
    """

    customer: np.ndarray
    product: np.ndarray
    position: np.ndarray
    score: np.ndarray
    final: Final
    latency_ms: np.ndarray
    status: np.ndarray  # 0 ok, 1 error, 2 timeout (see STATUSES)


def draw_events(
    seed: np.random.SeedSequence,
    scenario: Scenario,
    customers: Customers,
    catalog: Catalog,
    *,
    first_day: int,
    days: int,
    shifted: bool,
) -> Events:
    """Draw ``days`` days from day ``first_day`` (0 = ``scenario.start``).

    ``shifted=False`` draws the training reference: no planted shift and the
    spring collection only. Segment purchase delays are a trait of the
    customers, not a shift in time, so they follow the scenario either way.
    """
    rng = {
        name: np.random.default_rng(s)
        for name, s in zip(_STREAMS, seed.spawn(len(_STREAMS)), strict=True)
    }
    start = int(scenario.start.timestamp())
    ts = _timestamps(rng["times"], scenario, start, first_day, days)
    n = ts.size
    day = (ts - start) // DAY  # relative to scenario.start, negative in the reference

    # How many recommendations each customer gets, then dealt out in random
    # order: the same law as drawing a customer per row, but without a binary
    # search per row in a pool that outgrows the CPU cache at benchmark sizes.
    visits = rng["customers"].multinomial(n, customers.traffic)
    customer = np.repeat(np.arange(customers.traffic.size), visits)
    rng["customers"].shuffle(customer)
    age = customers.age[customer]
    preference = customers.preference[customer]

    summer_on = shifted and scenario.collection_changeover
    linger = rng["linger"].random(n) < scenario.spring_linger
    collection = ((day >= scenario.changeover_day) & ~linger & summer_on).astype(np.int8)

    cells = (age.astype(np.int64) * len(PREFERENCES) + preference) * 2 + collection
    exposure = _ExposureTable.build(
        catalog, scenario, exposure_shift=shifted and scenario.sustainable_exposure_shift
    )
    slot = np.searchsorted(exposure.keys, cells + rng["products"].random(n), side="right")
    product = exposure.product[slot]

    position = rng["positions"].integers(1, 11, size=n, dtype=np.int8)
    # Per-row relevance the model partly sees: what makes the score informative.
    relevance = 0.4 + 1.2 * rng["relevance"].beta(2.0, 2.0, size=n)
    p_model = (
        np.asarray(BASE_CTR)[age]
        * POSITION_EFFECT[position - 1]
        * (catalog.appeal[product] / exposure.mean_appeal[cells])
        * relevance
    )
    p_true = p_model.copy()
    if shifted and scenario.segment_drop:
        seg = AGE_GROUPS.index(scenario.drop_segment)
        dropped = (age == seg) & (day >= scenario.days - scenario.drop_days)
        p_true[dropped] *= scenario.drop_ctr / BASE_CTR[seg]
    if shifted and scenario.position_shift:
        hidden = (position == 1) & (day >= scenario.position_shift_day)
        p_true[hidden] *= scenario.top_position_factor
    # Bounded by construction (0.28 * 1.4 * 1.4 * 1.6 < 0.9); the clip only
    # guards parameter choices such as a drop_ctr above the base rate.
    np.clip(p_true, 0.0, 0.99, out=p_true)
    noise = rng["score"].normal(0.0, 0.3, size=n)
    logit = np.log(p_model) - np.log1p(-p_model) + noise
    score = np.round(1.0 / (1.0 + np.exp(-logit)), 4)

    clicked = rng["clicks"].random(n) < p_true
    click_window = int(scenario.click_window.total_seconds())
    click_delay = np.round(3.0 + rng["click_delay"].lognormal(np.log(40.0), 1.0, size=n))
    click_delay = np.minimum(click_delay.astype(np.int64), click_window)
    click_ts = ts + click_delay

    purchased, purchase_ts = _purchases(rng, scenario, age, clicked, click_delay, ts)

    category = catalog.category[product]
    returns = rng["returns"].random(n) < np.asarray(RETURN_RATE)[category]
    return_delay = rng["return_delay"].lognormal(np.log(6.0 * DAY), 0.5, size=n).astype(np.int64)
    returned = purchased & returns & (return_delay <= scenario.return_window.total_seconds())
    final = Final(
        ts=ts,
        clicked=clicked,
        click_ts=click_ts,
        purchased=purchased,
        purchase_ts=purchase_ts,
        returned=returned,
        return_ts=purchase_ts + return_delay,
    )
    latency_ms, status = _serving(rng, scenario, ts, start, shifted=shifted)
    return Events(
        customer=customer,
        product=product,
        position=position,
        score=score,
        final=final,
        latency_ms=latency_ms,
        status=status,
    )


def _serving(
    rng: dict[str, np.random.Generator],
    scenario: Scenario,
    ts: np.ndarray,
    start: int,
    *,
    shifted: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Each request's latency and status, with the daily rhythm and the planted incident.

    The median follows the hour's share of the day's traffic (``HOURLY``), so the
    normal P95 differs by hour of day and a monitor must compare like with like.
    During the planted serving incident (``scenario.serving_incident``, off by
    default: a feature cache that expired, every request going to the database)
    latency is ``incident_latency_factor`` times higher and ``incident_error_rate``
    of the requests fail, half as errors, half as timeouts.
    """
    n = ts.size
    hour = (ts // 3600) % 24
    load = np.asarray(HOURLY)[hour] / max(HOURLY)
    median = LATENCY_MEDIAN_MS * (1.0 + LATENCY_LOAD * load)
    latency = median * np.exp(LATENCY_SIGMA * rng["latency"].standard_normal(n))
    u = rng["status"].random(n)
    error: Any = ERROR_RATE
    timeout: Any = ERROR_RATE + TIMEOUT_RATE
    if shifted and scenario.serving_incident:
        begin = start + scenario.incident_day * DAY + scenario.incident_hour * 3600
        during = (ts >= begin) & (ts < begin + scenario.incident_hours * 3600)
        latency = np.where(during, latency * scenario.incident_latency_factor, latency)
        rate = scenario.incident_error_rate
        error = np.where(during, rate / 2, error)
        timeout = np.where(during, rate, timeout)
    status = np.where(u < error, 1, np.where(u < timeout, 2, 0)).astype(np.int8)
    latency = np.where(status == 2, TIMEOUT_MS, np.minimum(np.round(latency, 1), TIMEOUT_MS))
    return latency, status


def _timestamps(
    rng: np.random.Generator, scenario: Scenario, start: int, first_day: int, days: int
) -> np.ndarray:
    day = np.arange(first_day, first_day + days)
    if scenario.weekly_pattern:
        weekday = (scenario.start.weekday() + day) % 7
        counts = np.round(scenario.per_day * np.asarray(WEEKLY)[weekday]).astype(np.int64)
    else:
        counts = np.full(days, scenario.per_day, dtype=np.int64)
    n = int(counts.sum())
    hourly = np.asarray(HOURLY) / np.sum(HOURLY)
    second = rng.choice(24, size=n, p=hourly) * 3600 + rng.integers(0, 3600, size=n)
    ts = start + np.repeat(day, counts) * DAY + second
    ts.sort()  # day-major already, so this orders each day's seconds
    return ts


def _purchases(
    rng: dict[str, np.random.Generator],
    scenario: Scenario,
    age: np.ndarray,
    clicked: np.ndarray,
    click_delay: np.ndarray,
    ts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    n = ts.size
    intent = rng["purchases"].random(n) < np.where(
        clicked, np.asarray(CONVERSION)[age], VIEW_THROUGH
    )
    if scenario.segment_purchase_delays:
        median = np.asarray(PURCHASE_DELAY_DAYS)[age] * DAY
    else:
        median = np.full(n, COMMON_PURCHASE_DELAY_DAYS * DAY)
    delay = (median * rng["purchase_delay"].lognormal(0.0, 0.9, size=n)).astype(np.int64)
    # A purchase after a click comes after the click (and its product page).
    delay = np.where(clicked, np.maximum(delay, click_delay + 60), delay)
    # Bought after the attribution window closed = not credited to the recommendation.
    purchased = intent & (delay <= scenario.purchase_window.total_seconds())
    return purchased, ts + np.maximum(delay, 1)


@dataclass(frozen=True)
class _ExposureTable:
    """Which products each (age, preference, collection) cell is shown.

    ``keys`` concatenates ``cell + cdf`` over all cells so one ``searchsorted``
    on ``cell + u`` picks a product for every row at once; ``product`` maps a
    slot back to the catalog. ``mean_appeal`` is each cell's expected item
    appeal, divided out so item effects never move a segment's click-through
    (the 55+ rate stays flat across the changeover by construction).
    """

    keys: np.ndarray
    product: np.ndarray
    mean_appeal: np.ndarray

    @classmethod
    def build(cls, catalog: Catalog, scenario: Scenario, *, exposure_shift: bool) -> _ExposureTable:
        pref_weight = np.asarray(PREFERENCE_SUSTAINABLE)
        pref_weight = pref_weight / np.dot(pref_weight, PREFERENCE_SHARE)
        oldest = len(AGE_GROUPS) - 1
        keys, product, mean_appeal = [], [], []
        for a in range(len(AGE_GROUPS)):
            for p in range(len(PREFERENCES)):
                for c in (0, 1):
                    idx = np.flatnonzero(catalog.collection == c)
                    weight = catalog.popularity[idx] * np.exp(
                        0.4 * YOUTH_AXIS[a] * catalog.youth[idx]
                    )
                    share = scenario.sustainable_share * pref_weight[p]
                    if exposure_shift and a == oldest and c == 1:
                        share *= scenario.shifted_sustainable_share / scenario.sustainable_share
                    prob = _with_sustainable_share(weight, catalog.is_sustainable[idx], share)
                    cdf = np.cumsum(prob)
                    cdf /= cdf[-1]
                    cdf[-1] = 1.0
                    cell = (a * len(PREFERENCES) + p) * 2 + c
                    keys.append(cell + cdf)
                    product.append(idx)
                    mean_appeal.append(float(np.dot(prob, catalog.appeal[idx])))
        return cls(np.concatenate(keys), np.concatenate(product), np.asarray(mean_appeal))


def _with_sustainable_share(
    weight: np.ndarray, sustainable: np.ndarray, share: float
) -> np.ndarray:
    """Rescale so sustainable items get exactly ``share`` of the exposure.

    Targeting the share directly (rather than letting it follow whatever the
    random catalog holds) keeps every group's sustainable exposure stable when
    summer replaces spring, so the only exposure shift is the planted one.
    """
    share = min(max(share, 0.0), 1.0)
    eco, other = float(weight[sustainable].sum()), float(weight[~sustainable].sum())
    if eco == 0 or other == 0:
        prob = weight
    else:
        prob = np.where(sustainable, weight * share / eco, weight * (1.0 - share) / other)
    return np.asarray(prob / prob.sum(), dtype=float)
