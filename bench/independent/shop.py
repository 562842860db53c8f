"""The recommender's world: who shops, what is sold, how fast they act.

Deliberately unlike seismo's simulator (``seismo/simulate/_population.py``):
other segment values and shares (five age bands with 35-49 and 50-64, UK and
Iberia at 22 % each, a third customer type, four devices with a tablet at 15 %),
other rates (click-through set per *device*, conversion per customer type),
and delays whose shape is set by device and region, not by age:

* click: log-normal, median about a minute, within 30 minutes;
* purchase: a same-session exponential (mean 30 minutes) mixed with a
  heavy-tailed Weibull (shape 0.65) whose scale grows with the device
  (phone fast, tablet slow) and the region (Iberia slowest), within 12 days;
* return: log-normal by region (shipping and postage: median 5-9 days) plus a
  bump just before the 14-day deadline.

Every multiplicative factor is normalised to mean 1 over the population it
applies to, so a segment's rate is exactly the figure written here (the
device click-through of the tablet is 0.23), which is what lets a benchmark
plant "0.23 → 0.153" and mean it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .common import Streams
from .delays import Delay, Mixture, mixture

__all__ = [
    "AGE_GROUPS",
    "CUSTOMER_TYPES",
    "DEVICES",
    "PREFERENCES",
    "REGIONS",
    "Catalog",
    "Customers",
    "click_delay",
    "draw_catalog",
    "draw_customers",
    "normalised",
    "purchase_delay",
    "return_delay",
]

AGE_GROUPS = ("18-24", "25-34", "35-49", "50-64", "65+")
AGE_SHARE = (0.17, 0.33, 0.27, 0.15, 0.08)
REGIONS = ("uk", "iberia", "dach", "nordics", "benelux")
REGION_SHARE = (0.22, 0.22, 0.26, 0.16, 0.14)
CUSTOMER_TYPES = ("new", "returning", "reactivated")
CUSTOMER_TYPE_SHARE = (0.35, 0.50, 0.15)
DEVICES = ("android", "ios", "desktop", "tablet")
DEVICE_SHARE = (0.38, 0.30, 0.17, 0.15)
PREFERENCES = ("high", "medium", "low")
PREFERENCE_SHARE = (0.15, 0.35, 0.50)

#: Click-through by device (the rate of the segment: other factors average 1).
DEVICE_CTR = (0.20, 0.22, 0.18, 0.23)
AGE_CLICK = (1.15, 1.05, 0.97, 0.90, 0.82)
#: Eight slots; the first is clicked about 2.3 times as often as the last.
POSITION_CLICK = (1.5, 1.3, 1.1, 1.0, 0.9, 0.8, 0.75, 0.65)
#: Purchase probability after a click, by customer type; and without a click.
CONVERSION = (0.16, 0.23, 0.19)
VIEW_THROUGH = 0.012
#: Return probability per purchase, by customer type (new customers send back most).
RETURN_RATE = (0.20, 0.13, 0.17)

CATEGORIES = ("sneakers", "jackets", "jeans", "shirts", "bags", "dresses", "knitwear", "sport")
CATEGORY_SHARE = (0.16, 0.10, 0.14, 0.16, 0.08, 0.14, 0.10, 0.12)
CATEGORY_PRICE = (95.0, 160.0, 75.0, 45.0, 120.0, 80.0, 70.0, 55.0)
CATEGORY_RETURN = (1.1, 0.9, 1.3, 0.8, 0.5, 1.4, 0.9, 0.8)
BRANDS = (
    "alder",
    "birch",
    "cobalt",
    "dune",
    "ember",
    "fjord",
    "gale",
    "heron",
    "iris",
    "juniper",
    "kestrel",
    "lumen",
    "moss",
    "nimbus",
    "opal",
    "pine",
    "quill",
    "reef",
    "sable",
    "tundra",
)
ECO_BRANDS = frozenset({"alder", "fjord", "moss", "pine", "reef"})
COLLECTIONS = ("core", "winter26")

#: Purchase delays: (same-session weight, Weibull scale in days) by device; × region.
DEVICE_PURCHASE = ((0.40, 1.4), (0.45, 1.0), (0.30, 2.2), (0.25, 3.0))
REGION_PURCHASE_SCALE = (1.0, 1.5, 0.8, 1.2, 0.9)
#: Median return delay in days by region (shipping and post office habits).
REGION_RETURN_MEDIAN = (7.0, 9.0, 5.0, 8.0, 6.0)


def normalised(
    factors: tuple[float, ...] | NDArray[np.float64], shares: tuple[float, ...]
) -> NDArray[np.float64]:
    """Factors scaled so their share-weighted mean is 1.

    >>> normalised((1.0, 3.0), (0.5, 0.5)).tolist()
    [0.5, 1.5]
    """
    f = np.asarray(factors, dtype=np.float64)
    return f / float(np.dot(f, np.asarray(shares) / np.sum(shares)))


def click_delay(device: int) -> Delay:
    """Minutes to a click: desktop users take a little longer."""
    return Delay("lognormal", 2.0 if DEVICES[device] == "desktop" else 1.1, 1.1)


def purchase_delay(device: int, region: int) -> Mixture:
    """Days to a purchase: same session, or a heavy-tailed wait set by device and region."""
    weight, scale = DEVICE_PURCHASE[device]
    return mixture(
        (weight, Delay("exponential", 30 / 1440)),
        (1.0 - weight, Delay("weibull", 0.65, scale * REGION_PURCHASE_SCALE[region])),
    )


def return_delay(region: int) -> Mixture:
    """Days from purchase to return: shipping by region, and a rush before the deadline."""
    return mixture(
        (0.88, Delay("lognormal", REGION_RETURN_MEDIAN[region], 0.4)),
        (0.12, Delay("lognormal", 13.2, 0.04)),
    )


@dataclass(frozen=True)
class Customers:
    """The customer pool: attribute codes, traffic weight and click propensity per customer."""

    age: NDArray[np.int64]
    region: NDArray[np.int64]
    customer_type: NDArray[np.int64]
    device: NDArray[np.int64]
    preference: NDArray[np.int64]
    activity: NDArray[np.float64]
    propensity: NDArray[np.float64]

    @property
    def size(self) -> int:
        return int(self.age.size)


@dataclass(frozen=True)
class Catalog:
    category: NDArray[np.int64]
    brand: NDArray[np.int64]
    sustainable: NDArray[np.bool_]
    price: NDArray[np.float64]
    collection: NDArray[np.int64]
    appeal: NDArray[np.float64]
    return_factor: NDArray[np.float64]

    @property
    def size(self) -> int:
        return int(self.category.size)


def _codes(rng: np.random.Generator, n: int, shares: tuple[float, ...]) -> NDArray[np.int64]:
    p = np.asarray(shares) / np.sum(shares)
    return np.asarray(rng.choice(len(shares), size=n, p=p), dtype=np.int64)


def draw_customers(streams: Streams, n: int, heterogeneity: float) -> Customers:
    """Independent attributes; heavy users (log-normal activity); a click propensity each.

    ``heterogeneity`` is the sd of the log propensity (mean 1): customers differ,
    so a segment's daily click-through varies more than a binomial would.
    """
    rng = streams("customers")
    z = streams("propensity").standard_normal(n)
    return Customers(
        age=_codes(rng, n, AGE_SHARE),
        region=_codes(rng, n, REGION_SHARE),
        customer_type=_codes(rng, n, CUSTOMER_TYPE_SHARE),
        device=_codes(rng, n, DEVICE_SHARE),
        preference=_codes(rng, n, PREFERENCE_SHARE),
        activity=np.exp(streams("activity").normal(0.0, 1.0, n)),
        propensity=np.exp(heterogeneity * z - heterogeneity**2 / 2),
    )


def draw_catalog(streams: Streams, n: int) -> Catalog:
    """Products with a category, brand, price, collection and an appeal (mean 1)."""
    rng = streams("catalog")
    category = _codes(rng, n, CATEGORY_SHARE)
    brand = rng.integers(0, len(BRANDS), size=n)
    eco = np.array([BRANDS[b] in ECO_BRANDS for b in brand])
    sustainable = np.where(eco, rng.uniform(size=n) < 0.8, rng.uniform(size=n) < 0.12)
    base = np.asarray(CATEGORY_PRICE)[category]
    price = np.round(base * np.exp(rng.normal(0.0, 0.35, n)), 2)
    collection = (rng.uniform(size=n) < 0.3).astype(np.int64)
    appeal = np.exp(rng.normal(0.0, 0.3, n))
    appeal /= appeal.mean()  # mean 1 over this catalog, so segment rates are as written
    return_factor = normalised(CATEGORY_RETURN, CATEGORY_SHARE)[category]
    return Catalog(category, brand, sustainable, price, collection, appeal, return_factor)
