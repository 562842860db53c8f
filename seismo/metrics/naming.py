"""Names in words: a feature's stem without its unit, and underscores as spaces."""

from __future__ import annotations

__all__ = ["CURRENCY_SUFFIXES", "PAIR_SEP", "segment_of", "stem", "words"]

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


#: Separates the attributes (and the values) of a pair segment in metric tables.
PAIR_SEP = " × "


def segment_of(attribute: str | None, value: str | None) -> dict[str, str] | None:
    """The segment dict of a metric row's (attribute, value); pairs have two entries.

    >>> segment_of(None, None), segment_of("age_group", "25-34")
    (None, {'age_group': '25-34'})
    >>> segment_of("age_group × region", "25-34 × DE")
    {'age_group': '25-34', 'region': 'DE'}
    """
    if attribute is None:
        return None
    names, values = attribute.split(PAIR_SEP), str(value).split(PAIR_SEP)
    if len(names) != len(values):
        return {attribute: str(value)}
    return dict(zip(names, values, strict=True))
