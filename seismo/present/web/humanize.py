"""Numbers and dates rounded for people: what the dashboard's words are made of.

A merchandising team reads "23%", "€2.45", "−46%" and "1–3 Jun", not
``0.23456`` or ``2026-06-01T00:00:00``. Every function takes ``None`` (a value
that could not be computed) and returns a dash, so a template never prints
"None". Precision follows the size of the number: a share under 10 % keeps one
decimal (conversion moves by tenths of a point), a larger one none.

The digits, separators, month names and time zone come from the formatter of
the page being drawn (:func:`seismo.locale.current`): seismo's English unless
the model's ``[words]`` declare a ``locale``, ``timezone`` or ``currency``.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

from seismo.locale import current

__all__ = [
    "DASH",
    "a",
    "about",
    "change",
    "count",
    "day",
    "day_range",
    "duration",
    "moment",
    "money",
    "points",
    "share",
    "stamp",
    "value",
]

DASH = "—"
_MINUS = "\u2212"


def _bad(x: float | None) -> bool:
    return x is None or not math.isfinite(x)


def share(x: float | None) -> str:
    """A share as a percentage, precise where it matters.

    >>> share(0.2346), share(0.0342), share(0.00451), share(None)
    ('23%', '3.4%', '0.45%', '—')
    """
    if x is None or _bad(x):
        return DASH
    pct = abs(100 * x)
    return current().percent(x, 0 if pct >= 10 else 1 if pct >= 1 else 2)


def money(x: float | None, currency: str = "€") -> str:
    """An amount with its currency: cents below 100, whole units above.

    >>> money(2.4567), money(1234.5), money(-3.2, "$"), money(None)
    ('€2.46', '€1,234', '−$3.20', '—')
    """
    if x is None or _bad(x):
        return DASH
    sign = _MINUS if x < 0 else ""
    x = abs(x)
    return sign + current().money(x, 2 if x < 100 else 0, currency)


def value(x: float | None, unit: str, currency: str = "€") -> str:
    """A metric value in its unit: ``share`` as %, ``amount`` as money, ``score`` as a number.

    >>> value(0.153, "share"), value(2.5, "amount"), value(0.7134, "score")
    ('15%', '€2.50', '0.713')
    """
    if unit == "share":
        return share(x)
    if unit == "amount":
        return money(x, currency)
    if x is None or _bad(x):
        return DASH
    return current().significant(x, 3)


def count(n: float | None) -> str:
    """A count of things: exact up to 100,000, then in thousands or millions.

    >>> count(68670), count(9999990), count(250_000), count(None)
    ('68,670', '10.0 million', '250 thousand', '—')
    """
    if n is None or _bad(n):
        return DASH
    fmt = current()
    if abs(n) < 100_000:
        return fmt.decimal(round(n), 0)
    if abs(n) < 1_000_000:
        return f"{fmt.decimal(n / 1000, 0)} thousand"
    return f"{fmt.decimal(n / 1_000_000, 1)} million"


def change(rel: float | None) -> str:
    """A relative change, signed, with a real minus sign.

    >>> change(-0.456), change(0.02), change(0.004), change(None)
    ('−46%', '+2%', '±0%', '—')
    """
    if rel is None or _bad(rel):
        return DASH
    pct = round(100 * rel)
    text = current().percent(abs(pct) / 100, 0)
    if pct == 0:
        return f"±{text}"
    return f"+{text}" if pct > 0 else f"{_MINUS}{text}"


def points(diff: float | None) -> str:
    """A difference of two shares in percentage points.

    >>> points(-0.1312), points(0.004), points(None)
    ('−13 pts', '+0.4 pts', '—')
    """
    if diff is None or _bad(diff):
        return DASH
    pct = 100 * diff
    text = current().decimal(abs(pct), 0 if abs(pct) >= 10 else 1)
    return f"{_MINUS if pct < 0 else '+'}{text} pts"


def day(d: date | datetime | None, *, year: bool = False) -> str:
    """A day as people write it.

    >>> day(datetime(2026, 6, 1)), day(date(2026, 5, 12), year=True), day(None)
    ('1 Jun', '12 May 2026', '—')
    """
    if d is None:
        return DASH
    return current().day(d, year=year)


def day_range(start: datetime | None, end: datetime | None) -> str:
    """The days covered by windows from ``start`` to ``end`` (exclusive, at midnight).

    >>> day_range(datetime(2026, 5, 12), datetime(2026, 5, 26))
    '12–25 May'
    >>> day_range(datetime(2026, 5, 30), datetime(2026, 6, 2))
    '30 May – 1 Jun'
    >>> day_range(datetime(2026, 6, 3), datetime(2026, 6, 4))
    '3 Jun'
    """
    if start is None or end is None:
        return DASH
    last = end - timedelta(microseconds=1)
    if last.date() <= start.date():
        return day(start)
    return current().days(start.date(), last.date())


def moment(t: datetime | None) -> str:
    """A stored moment (UTC) to the minute, in the declared zone, which it names.

    >>> moment(datetime(2026, 6, 4))
    '4 Jun 2026, 00:00 UTC'
    """
    if t is None:
        return DASH
    return current().moment(t)


def duration(span: timedelta) -> str:
    """A waiting time in its natural unit.

    >>> duration(timedelta(days=12)), duration(timedelta(minutes=30)), duration(timedelta(hours=1))
    ('12 days', '30 minutes', '1 hour')
    """
    seconds = span.total_seconds()
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = round(seconds / size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds:.0f} seconds"


def about(x: float | None) -> str:
    """A count rounded to two significant figures, for "about N a day".

    >>> about(123.4), about(8.6), about(0.4), about(45678), about(2986)
    ('120', '9', 'fewer than 1', '46,000', '3,000')
    """
    if x is None or _bad(x):
        return DASH
    if x < 1:
        return "fewer than 1"
    if x < 100:
        return current().decimal(round(x), 0)
    digits = len(str(int(x))) - 2
    return current().decimal(round(x, -digits), 0)


def stamp(t: datetime | None) -> str:
    """A moment within the period on screen: day and time, no year.

    >>> stamp(datetime(2026, 5, 13, 1, 30))
    '13 May 01:30'
    """
    return DASH if t is None else current().stamp(t)


def a(noun: str) -> str:
    """A noun with its indefinite article.

    >>> a("recommendation"), a("credit decision"), a("forecast")
    ('a recommendation', 'a credit decision', 'a forecast')
    >>> a("order")
    'an order'
    """
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"
