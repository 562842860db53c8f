"""Names in words: a feature's stem without its unit, and underscores as spaces."""

from __future__ import annotations

__all__ = ["CURRENCY_SUFFIXES", "stem", "words"]

#: Unit suffixes dropped from a feature's name in metric names ("price_eur" → "price"):
#: the unit belongs to the figure, not to what it measures.
CURRENCY_SUFFIXES = ("_eur", "_usd", "_gbp", "_chf", "_jpy")
_UNIT_SUFFIXES = (*CURRENCY_SUFFIXES, "_ms", "_kg", "_cm")


def stem(feature: str) -> str:
    """``price_eur`` → ``price`` (the unit belongs to the figure, not to what it measures).

    >>> stem("price_eur"), stem("eur")
    ('price', 'eur')
    """
    for suffix in _UNIT_SUFFIXES:
        if feature.endswith(suffix) and len(feature) > len(suffix):
            return feature[: -len(suffix)]
    return feature


def words(name: str) -> str:
    """``age_group`` → ``age group``."""
    return name.replace("_", " ")
