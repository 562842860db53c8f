"""The seed scenario: a month of fashion recommendations with planted shifts.

An online fashion retailer shows product recommendations; Max's merchandising
team reads the monitoring. The month (30 days from 2026-05-12, so day 20 is
2026-06-01, the summer launch) carries the shifts a monitor must find or must
*not* cry wolf over:

- the 25-34 age group's click-through falls from about 28 % to 15 % over the
  last 10 days while every other segment stays put; 25-34 is 12 % of traffic,
  so the overall rate (about 23.5 %) moves by under 2 points;
- on day 20 the summer collection replaces spring: more dresses, tops, shorts
  and swimwear, less knitwear and outerwear, higher prices (input drift);
- summer skews young: the share of sustainable items shown to 55+ customers
  falls from about 35 % to about 15 % while their click-through stays flat
  (a fairness shift only exposure monitoring sees);
- older customers take longer to buy (median delay 0.5 days for 18-24 up to
  4 days for 55+), so a metric computed on confirmed rows alone favours fast
  deciders;
- every request has a latency (a daily rhythm: slower at the evening peak) and a
  status (about 0.07 % errors and timeouts); off unless asked for
  (``serving_incident``), a three-hour serving incident on day 25: latency eight
  times higher and 8 % of requests failing;
- off unless asked for (``position_shift``): from a given day the top slot's
  click-through halves while every other position keeps its own (position
  bias, which only the ranking metrics see: the overall rate moves by 7 %).

Outcome windows (all :class:`Scenario` fields): a click counts within
``click_window`` = 30 minutes of the recommendation, a purchase within
``purchase_window`` = 12 days (attribution window), a return within
``return_window`` = 14 days of the purchase. With 30 days exported, rows older
than 12 days are settled unless a return window is still open, which leaves
about 60 % of the export with ``ground_truth_available``.

The score is the model's predicted click probability: the true pre-shift
probability seen through noise (logit noise, sd 0.3). The model never learns
of the drop, so it over-predicts 25-34 clicks afterwards.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa

from seismo.errors import ConfigError
from seismo.simulate._events import STATUSES, Events, draw_events
from seismo.simulate._files import FILE_NAMES, write_simulation
from seismo.simulate._outcomes import OUTCOME_COLUMNS, Windows, final_from_table, known_columns
from seismo.simulate._population import (
    AGE_GROUPS,
    BRANDS,
    CATEGORIES,
    COLLECTIONS,
    CUSTOMER_TYPES,
    DEVICES,
    PREFERENCES,
    REGIONS,
    Catalog,
    Customers,
    draw_catalog,
    draw_customers,
)
from seismo.simulate._strings import labels, prefixed_ids

__all__ = [
    "COLUMNS",
    "FILE_NAMES",
    "Scenario",
    "Simulation",
    "as_known_at",
    "simulate",
    "write_scenario",
    "write_simulation",
]

#: The export's columns, in file order.
COLUMNS = (
    "recommendation_id",
    "timestamp",
    "customer_id",
    "age_group",
    "sustainability_preference",
    "region",
    "customer_type",
    "device",
    "product_id",
    "category",
    "brand",
    "is_sustainable",
    "price_eur",
    "collection",
    "position",
    "model_version",
    "score",
    "latency_ms",
    "status",
    "clicked",
    "click_timestamp",
    "purchased",
    "purchase_timestamp",
    "returned",
    "return_timestamp",
    "ground_truth_available",
)

#: The columns that do not change as outcomes arrive.
_FIXED_COLUMNS = [name for name in COLUMNS if name not in OUTCOME_COLUMNS]


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """Everything that decides the simulated month; same scenario, same data.

    Every planted shift has a switch, so tests can generate the same traffic
    with and without it (see :meth:`no_shift`).

    >>> s = Scenario(days=3, per_day=100)
    >>> s.exported_at.isoformat()
    '2026-05-15T00:00:00+00:00'
    >>> s.no_shift().segment_drop, s.no_shift().days
    (False, 3)
    """

    days: int = 30
    per_day: int = 3000
    seed: int = 0
    start: datetime = datetime(2026, 5, 12, tzinfo=UTC)
    #: The drop segment's click-through falls to ``drop_ctr`` for the last
    #: ``drop_days`` (all of them if the month is shorter).
    segment_drop: bool = True
    drop_segment: str = "25-34"
    drop_days: int = 10
    drop_ctr: float = 0.15
    #: From ``changeover_day`` (0-based; never if it is >= ``days``) summer
    #: replaces spring; ``spring_linger`` of the rows still show spring stock.
    collection_changeover: bool = True
    changeover_day: int = 20
    spring_linger: float = 0.05
    #: Summer's sustainable items are rarely shown to 55+: their share of
    #: sustainable items goes from ``sustainable_share`` to ``shifted_sustainable_share``.
    sustainable_exposure_shift: bool = True
    sustainable_share: float = 0.35
    shifted_sustainable_share: float = 0.15
    #: From ``position_shift_day`` (0-based; never if it is >= ``days``) the top slot loses
    #: its pull: click-through at position 1 falls to ``top_position_factor`` of what it
    #: was (a page layout that pushes the first slot out of sight), every other position
    #: as before. Off by default, so the seed month stays as the source material describes.
    position_shift: bool = False
    position_shift_day: int = 20
    top_position_factor: float = 0.5
    #: Off unless asked for: on ``incident_day`` (0-based) from ``incident_hour`` (UTC) for
    #: ``incident_hours``, serving slows by ``incident_latency_factor`` and
    #: ``incident_error_rate`` of the requests fail (a feature cache that expired).
    serving_incident: bool = False
    incident_day: int = 25
    incident_hour: int = 14
    incident_hours: int = 3
    incident_latency_factor: float = 8.0
    incident_error_rate: float = 0.08
    #: Older customers decide more slowly; False = one delay distribution for all.
    segment_purchase_delays: bool = True
    #: Days of training reference just before ``start``: no shift, all outcomes final.
    reference_days: int = 14
    click_window: timedelta = timedelta(minutes=30)
    purchase_window: timedelta = timedelta(days=12)
    return_window: timedelta = timedelta(days=14)
    #: Customer pool size; None = one customer per 15 recommendations (at least 500).
    customers: int | None = None
    catalog_size: int = 4000
    #: Busier weekends (±7 %); False = exactly ``per_day`` rows every day.
    weekly_pattern: bool = True
    model_version: str = "rec-2026.04"

    def __post_init__(self) -> None:
        if self.days < 1 or self.per_day < 1:
            raise ConfigError(f"days and per_day must be >= 1, got {self.days}, {self.per_day}")
        if self.start.tzinfo is None:
            raise ConfigError("start must be timezone-aware (e.g. tzinfo=UTC)")
        if self.drop_segment not in AGE_GROUPS:
            raise ConfigError(f"drop_segment {self.drop_segment!r} is not one of {AGE_GROUPS}")
        # Longer than the month is allowed: a short demo month is then all
        # "after the drop" / all spring, which is still a shift against the reference.
        for name in (
            "drop_days",
            "changeover_day",
            "reference_days",
            "position_shift_day",
            "incident_day",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        shares = {
            "drop_ctr": self.drop_ctr,
            "spring_linger": self.spring_linger,
            "sustainable_share": self.sustainable_share,
            "shifted_sustainable_share": self.shifted_sustainable_share,
        }
        for name, value in shares.items():
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be a share in [0, 1], got {value}")
        if not 0.0 <= self.top_position_factor <= 2.0:
            raise ConfigError(
                f"top_position_factor must lie in [0, 2], got {self.top_position_factor}"
            )
        if not 0 <= self.incident_hour < 24 or self.incident_hours < 1:
            raise ConfigError(
                f"incident_hour must lie in 0..23 and incident_hours be >= 1, got"
                f" {self.incident_hour}, {self.incident_hours}"
            )
        if self.incident_latency_factor <= 0 or not 0.0 <= self.incident_error_rate <= 1.0:
            raise ConfigError(
                "incident_latency_factor must be positive and incident_error_rate a share in"
                f" [0, 1], got {self.incident_latency_factor}, {self.incident_error_rate}"
            )
        if self.sustainable_share == 0.0:
            raise ConfigError("sustainable_share must be above 0")
        for name in ("click_window", "purchase_window", "return_window"):
            window: timedelta = getattr(self, name)
            if window.total_seconds() < 1:
                raise ConfigError(f"{name} must be at least one second, got {window}")
        if self.customers is not None and self.customers < len(AGE_GROUPS):
            raise ConfigError(f"customers must be >= {len(AGE_GROUPS)}, got {self.customers}")
        if self.catalog_size < 20:
            raise ConfigError(f"catalog_size must be >= 20, got {self.catalog_size}")

    def no_shift(self) -> Scenario:
        """The same traffic with every planted shift switched off."""
        return dataclasses.replace(
            self,
            segment_drop=False,
            collection_changeover=False,
            sustainable_exposure_shift=False,
            segment_purchase_delays=False,
            position_shift=False,
            serving_incident=False,
        )

    @property
    def exported_at(self) -> datetime:
        """The end of the last day: the moment the export describes."""
        return self.start + timedelta(days=self.days)

    @property
    def outcome_windows(self) -> dict[str, timedelta]:
        """Outcome name → window; ``return`` counts from the purchase, the others
        from the recommendation (what a store registers as maturity windows)."""
        return {
            "click": self.click_window,
            "purchase": self.purchase_window,
            "return": self.return_window,
        }

    def _windows(self) -> Windows:
        return Windows(
            click=int(self.click_window.total_seconds()),
            purchase=int(self.purchase_window.total_seconds()),
            ret=int(self.return_window.total_seconds()),
        )


@dataclass(frozen=True)
class Simulation:
    """The tables of one simulated month.

    ``export`` is what the shop's export says at ``exported_at``; ``truth``
    holds the same rows once every window has closed (``export`` is exactly
    ``truth`` censored at ``exported_at``); ``reference`` is the training
    data from before deployment, all outcomes final.
    """

    export: pa.Table
    reference: pa.Table
    truth: pa.Table
    exported_at: datetime
    scenario: Scenario

    def known_at(self, at: datetime) -> pa.Table:
        """The export as it would have read at ``at`` (rows shown by then)."""
        return as_known_at(self.truth, at, self.scenario)


def simulate(scenario: Scenario) -> Simulation:
    """Generate the scenario's export, reference and truth tables.

    >>> sim = simulate(Scenario(days=3, per_day=200, seed=1))
    >>> sim.export.num_rows, sim.reference.num_rows
    (574, 2800)
    >>> sim.export.column_names == list(COLUMNS)
    True
    >>> bool(sim.truth["ground_truth_available"].to_numpy().all())
    True
    """
    rows = scenario.per_day * (scenario.days + scenario.reference_days)
    population, export_seed, reference_seed = np.random.SeedSequence(scenario.seed).spawn(3)
    pool_rng, catalog_rng = (np.random.default_rng(s) for s in population.spawn(2))
    customers = draw_customers(pool_rng, scenario.customers or max(500, rows // 15))
    catalog = draw_catalog(catalog_rng, scenario.catalog_size)

    events = draw_events(
        export_seed, scenario, customers, catalog, first_day=0, days=scenario.days, shifted=True
    )
    fixed = _fixed_columns(events, "r", scenario, customers, catalog)
    windows = scenario._windows()
    exported_at = scenario.exported_at
    export = _table(fixed, known_columns(events.final, windows, int(exported_at.timestamp())))
    truth = _table(fixed, known_columns(events.final, windows, None))

    ref_events = draw_events(
        reference_seed,
        scenario,
        customers,
        catalog,
        first_day=-scenario.reference_days,
        days=scenario.reference_days,
        shifted=False,
    )
    ref_fixed = _fixed_columns(ref_events, "t", scenario, customers, catalog)
    reference = _table(ref_fixed, known_columns(ref_events.final, windows, None))
    return Simulation(export, reference, truth, exported_at, scenario)


def as_known_at(truth: pa.Table, at: datetime, scenario: Scenario) -> pa.Table:
    """``truth`` as an export taken at ``at`` would show it.

    Rows shown after ``at`` are left out; outcomes not yet happened are null
    while their window is open, 0 once it has closed. Use it to replay how the
    ground truth arrived day by day.

    >>> sim = simulate(Scenario(days=3, per_day=200, seed=1))
    >>> as_known_at(sim.truth, sim.exported_at, sim.scenario).equals(sim.export)
    True
    >>> day1 = as_known_at(sim.truth, sim.scenario.start + timedelta(days=1), sim.scenario)
    >>> day1.num_rows, int(day1["ground_truth_available"].to_numpy().sum())
    (188, 0)
    """
    if at.tzinfo is None:
        raise ConfigError("at must be timezone-aware (e.g. tzinfo=UTC)")
    moment = int(at.timestamp())
    shown = truth["timestamp"].cast(pa.int64()).to_numpy() <= moment
    rows = truth.filter(pa.array(shown))
    known = known_columns(final_from_table(rows), scenario._windows(), moment)
    return _table(rows.select(_FIXED_COLUMNS), known)


def write_scenario(
    out_dir: Path,
    scenario: Scenario,
    *,
    fmt: Literal["csv", "parquet"] = "csv",
    truth: bool = True,
) -> dict[str, Path]:
    """Simulate ``scenario`` and write its files; returns ``{"export": path, ...}``.

    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> paths = write_scenario(out, Scenario(days=2, per_day=50, reference_days=1))
    >>> sorted(p.name for p in paths.values())
    ['final-outcomes.csv', 'production-recommendations-sample.csv', 'training-reference.csv']
    """
    return write_simulation(simulate(scenario), out_dir, fmt=fmt, truth=truth)


def _fixed_columns(
    events: Events, prefix: str, scenario: Scenario, customers: Customers, catalog: Catalog
) -> dict[str, pa.Array]:
    """The columns that do not depend on when the table is exported."""
    n = events.final.ts.size
    c, p = events.customer, events.product
    brand_names = [name for name, _ in BRANDS]
    return {
        "recommendation_id": prefixed_ids(prefix, np.arange(1, n + 1)),
        "timestamp": pa.array(events.final.ts, type=pa.timestamp("s", tz="UTC")),
        "customer_id": customers.ids.take(pa.array(c)),
        "age_group": labels(AGE_GROUPS, customers.age[c]),
        "sustainability_preference": labels(PREFERENCES, customers.preference[c]),
        "region": labels(REGIONS, customers.region[c]),
        "customer_type": labels(CUSTOMER_TYPES, customers.customer_type[c]),
        "device": labels(DEVICES, customers.device[c]),
        "product_id": catalog.ids.take(pa.array(p)),
        "category": labels(CATEGORIES, catalog.category[p]),
        "brand": labels(brand_names, catalog.brand[p]),
        "is_sustainable": pa.array(catalog.is_sustainable[p]),
        "price_eur": pa.array(catalog.price[p]),
        "collection": labels(COLLECTIONS, catalog.collection[p]),
        "position": pa.array(events.position, type=pa.int8()),
        "model_version": labels([scenario.model_version], np.zeros(n, dtype=np.int8)),
        "score": pa.array(events.score),
        "latency_ms": pa.array(events.latency_ms),
        "status": labels(list(STATUSES), events.status),
    }


def _table(fixed: dict[str, pa.Array] | pa.Table, known: dict[str, pa.Array]) -> pa.Table:
    if isinstance(fixed, pa.Table):
        fixed = {name: fixed[name] for name in fixed.column_names}
    columns = {**fixed, **known}
    return pa.table({name: columns[name] for name in COLUMNS})
