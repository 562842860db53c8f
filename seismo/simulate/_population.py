"""Who shops and what is for sale: the customer pool and the product catalog.

Both are drawn once per seed and shared by the production export and the
training reference, so a customer keeps their attributes across the two (a
monitor joining them by ``customer_id`` sees one person, not two).

Every label and share that shapes the seed scenario lives here as a module
constant, so the calibration is read in one place rather than hunted for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from seismo.simulate._strings import prefixed_ids

__all__ = [
    "AGE_GROUPS",
    "AGE_SHARE",
    "BASE_CTR",
    "BRANDS",
    "CATEGORIES",
    "COLLECTIONS",
    "CUSTOMER_TYPES",
    "DEVICES",
    "PREFERENCES",
    "REGIONS",
    "Catalog",
    "Customers",
    "draw_catalog",
    "draw_customers",
]

AGE_GROUPS = ("18-24", "25-34", "35-44", "45-54", "55+")
#: Share of *traffic* (not of customers): 25-34 is the 12 % minority the source names.
AGE_SHARE = (0.20, 0.12, 0.25, 0.23, 0.20)
#: True click-through before any shift. Chosen so the 30-day overall CTR is 23.5 %
#: with 25-34 at 28 % for 20 days and 15 % for 10: the other groups average 23.48 %.
BASE_CTR = (0.255, 0.280, 0.240, 0.228, 0.217)

PREFERENCES = ("high", "medium", "low")
PREFERENCE_SHARE = (0.25, 0.45, 0.30)
REGIONS = ("DE", "AT", "CH", "NL", "FR")
REGION_SHARE = (0.45, 0.15, 0.12, 0.16, 0.12)
CUSTOMER_TYPES = ("new", "returning")
CUSTOMER_TYPE_SHARE = (0.30, 0.70)
DEVICES = ("mobile", "app", "desktop")
DEVICE_SHARE = (0.50, 0.30, 0.20)

COLLECTIONS = ("spring", "summer")
CATEGORIES = (
    "dresses",
    "tops",
    "knitwear",
    "outerwear",
    "trousers",
    "shorts",
    "swimwear",
    "shoes",
    "accessories",
)
#: Category mix of each collection's catalog: spring is knitwear/outerwear/trousers,
#: summer dresses/tops/shorts/swimwear; shoes and accessories are in both.
CATEGORY_MIX = {
    "spring": (0.06, 0.12, 0.20, 0.18, 0.18, 0.00, 0.00, 0.13, 0.13),
    "summer": (0.24, 0.22, 0.02, 0.03, 0.06, 0.12, 0.10, 0.11, 0.10),
}
BASE_PRICE = (69.0, 29.0, 59.0, 119.0, 59.0, 35.0, 39.0, 89.0, 25.0)
#: Summer is new-season full price; its lighter category mix would otherwise make
#: it *cheaper* than spring, and the source says the price range goes up.
COLLECTION_PRICE = {"spring": 1.0, "summer": 1.6}
#: Probability a purchase of the category is sent back (dresses and swimwear are
#: tried on and returned most; accessories hardly ever).
RETURN_RATE = (0.38, 0.26, 0.22, 0.18, 0.30, 0.24, 0.32, 0.30, 0.10)

#: Brands and whether they are eco labels (most of their lines are sustainable).
#: Plain ASCII without commas or quotes so the CSV needs no quoting.
BRANDS = (
    ("Alpenrose", False),
    ("Nordwind", False),
    ("Hafenliebe", False),
    ("Linnea", True),
    ("Maison Verte", True),
    ("Kiez Atelier", False),
    ("Brisa", False),
    ("Fjordline", False),
    ("Olivia Moss", True),
    ("Stadtgarten", False),
    ("Lumi", False),
    ("Riviera", False),
    ("Tessin", False),
    ("Blauwe Duin", True),
    ("Ecrin", False),
    ("Wolke Sieben", False),
    ("Sol y Sal", False),
    ("Marlene K", False),
    ("Hanf & Co", True),
    ("Edelweiss Basics", False),
    ("Urban Fox", False),
    ("Kleinod", True),
    ("Terra Nova", True),
    ("Ostsee", False),
)


@dataclass(frozen=True)
class Customers:
    """The customer pool; index ``i`` is customer ``ids[i]``.

    ``traffic[i]`` is the chance a recommendation is shown to customer ``i``:
    each age group's customers share that group's traffic share (in proportion
    to their activity), which fixes the 25-34 share of traffic in expectation
    whatever the pool's size.
    """

    ids: pa.Array
    age: np.ndarray
    preference: np.ndarray
    region: np.ndarray
    customer_type: np.ndarray
    device: np.ndarray
    traffic: np.ndarray


@dataclass(frozen=True)
class Catalog:
    """The product catalog; spring products first, then summer ones."""

    ids: pa.Array
    collection: np.ndarray  # index into COLLECTIONS
    category: np.ndarray  # index into CATEGORIES
    brand: np.ndarray  # index into BRANDS
    is_sustainable: np.ndarray
    price: np.ndarray
    popularity: np.ndarray  # relative exposure weight before personalisation
    youth: np.ndarray  # > 0: appeals to younger customers
    appeal: np.ndarray  # multiplicative click effect of the item, around 1


def draw_customers(rng: np.random.Generator, n: int) -> Customers:
    """Draw ``n`` customers, split across age groups by the traffic shares."""
    per_age = np.maximum(1, np.round(np.asarray(AGE_SHARE) * n).astype(np.int64))
    total = int(per_age.sum())
    age = np.repeat(np.arange(len(AGE_GROUPS), dtype=np.int8), per_age)
    # A few customers account for much of the traffic, as on any shop.
    activity = rng.gamma(1.5, size=total)
    group_activity = np.bincount(age, weights=activity, minlength=len(AGE_GROUPS))
    traffic = np.asarray(AGE_SHARE)[age] * activity / group_activity[age]
    return Customers(
        ids=prefixed_ids("c", np.arange(1, total + 1)),
        age=age,
        preference=_categorical(rng, PREFERENCE_SHARE, total),
        region=_categorical(rng, REGION_SHARE, total),
        customer_type=_categorical(rng, CUSTOMER_TYPE_SHARE, total),
        device=_categorical(rng, DEVICE_SHARE, total),
        traffic=traffic / traffic.sum(),
    )


def draw_catalog(rng: np.random.Generator, size: int) -> Catalog:
    """Draw ``size`` products, half spring and half summer."""
    per = [size // 2, size - size // 2]
    collection = np.repeat(np.arange(2, dtype=np.int8), per)
    category = np.concatenate(
        [_categorical(rng, CATEGORY_MIX[name], k) for name, k in zip(COLLECTIONS, per, strict=True)]
    )
    brand = rng.integers(0, len(BRANDS), size=size).astype(np.int8)
    eco = np.array([is_eco for _, is_eco in BRANDS])[brand]
    is_sustainable = rng.random(size) < np.where(eco, 0.8, 0.2)
    tier = rng.uniform(0.8, 1.4, size=len(BRANDS))[brand]
    season = np.array([COLLECTION_PRICE[name] for name in COLLECTIONS])[collection]
    raw = np.asarray(BASE_PRICE)[category] * season * tier * rng.lognormal(0.0, 0.2, size)
    # Retail prices end in .99 (and never fall below 4.99).
    price = np.maximum(np.floor(raw), 4.0) + 0.99
    return Catalog(
        ids=prefixed_ids("p", np.arange(1, size + 1)),
        collection=collection,
        category=category,
        brand=brand,
        is_sustainable=is_sustainable,
        price=np.round(price, 2),
        popularity=rng.lognormal(0.0, 1.0, size),
        # The summer collection skews young.
        youth=rng.normal(np.where(collection == 1, 0.6, 0.0), 1.0),
        # Bounded so a click probability can never exceed 1 (see _events).
        appeal=np.clip(rng.lognormal(0.0, 0.15, size), 0.7, 1.4),
    )


def _categorical(rng: np.random.Generator, shares: tuple[float, ...], n: int) -> np.ndarray:
    p = np.asarray(shares, dtype=float)
    return rng.choice(len(p), size=n, p=p / p.sum()).astype(np.int8)
