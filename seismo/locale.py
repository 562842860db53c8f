"""Numbers, money and times in the reader's own format: the ``locale``, ``timezone``
and ``currency`` a model's ``[words]`` declare, formatted by Babel.

A German merchandising lead reads "3,00 €", "23 %" and "5. Juni 2026, 01:30
CEST", not "€3.00" and "4 Jun 2026, 23:30 UTC". The store keeps every time
in UTC and every number plain; only what people read is formatted here:

```toml
[words]
locale = "de_DE"            # numbers, dates and money as written in Germany
timezone = "Europe/Berlin"  # moments shown in this zone (stored in UTC)
currency = "EUR"            # the ISO code of the money in [words.values] and amounts
```

A model that declares none of them keeps seismo's English: "€2.46", "23%",
"4 Jun 2026, 00:00 UTC". Days stay the calendar days the windows are cut on
(UTC midnight to midnight): a window's day is named as it is, while a moment
(a check, an alert raised) is converted to the declared zone.

The presentation layer reads the formatter of the page or command it is
drawing from :func:`current`, set with :func:`using`; alert texts take the
one of their model's words through :func:`formatter_for`. Machine output (the
JSON API, ``--format json``) never passes through here: it stays ISO 8601 UTC
and plain numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, tzinfo
from functools import cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel import dates as bdates
from babel import numbers as bnumbers

from seismo.errors import ConfigError

if TYPE_CHECKING:
    from seismo.words import Words

__all__ = ["ENGLISH", "Formatter", "current", "declare", "formatter_for", "scope", "using"]

#: Symbols the English default writes, and the ISO codes Babel needs for them.
_CODES = {"€": "EUR", "$": "USD", "£": "GBP"}
_FRACTION = re.compile(r"0(?:\.[0#]+)?")


def _with_decimals(pattern: str, digits: int) -> str:
    """A CLDR number pattern with exactly ``digits`` decimals (its positive part).

    >>> _with_decimals("#,##0.00\\xa0¤", 0), _with_decimals("#,##0 %", 1)
    ('#,##0\\xa0¤', '#,##0.0 %')
    """
    fraction = "." + "0" * digits if digits else ""
    return _FRACTION.sub("0" + fraction, pattern.split(";")[0], count=1)


class Formatter:
    """How one model's readers write numbers and times.

    ``locale``: a CLDR name ("de_DE"); empty keeps seismo's English.
    ``timezone``: an IANA zone ("Europe/Berlin"); empty is UTC. ``currency``:
    an ISO 4217 code ("EUR"); empty leaves the symbol to the caller. Each is
    checked, and a bad one raises :class:`~seismo.errors.ConfigError` naming
    the ``[words]`` key and the value.

    >>> de = Formatter(locale="de_DE", timezone="Europe/Berlin", currency="EUR")
    >>> de.money(3, 2), de.percent(0.034, 1), de.moment(datetime(2026, 6, 4, 23, 30))
    ('3,00\\xa0€', '3,4\\xa0%', '5. Juni 2026, 01:30 CEST')
    >>> ENGLISH.money(3, 2, "€"), ENGLISH.percent(0.034, 1), ENGLISH.moment(datetime(2026, 6, 4))
    ('€3.00', '3.4%', '4 Jun 2026, 00:00 UTC')
    """

    def __init__(self, *, locale: str = "", timezone: str = "", currency: str = "") -> None:
        self.locale_name = locale
        self.timezone_name = timezone
        self.currency = currency
        self.locale: Locale | None = None
        if locale:
            try:
                self.locale = Locale.parse(locale)
            except (UnknownLocaleError, ValueError, TypeError) as exc:
                raise ConfigError(
                    f"[words] locale: unknown locale {locale!r} (use a name such as 'de_DE')"
                ) from exc
        self.zone: tzinfo = UTC
        if timezone:
            try:
                self.zone = ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ConfigError(
                    f"[words] timezone: unknown zone {timezone!r}"
                    " (use an IANA name such as 'Europe/Berlin')"
                ) from exc
        if currency:
            try:
                bnumbers.validate_currency(currency)
            except bnumbers.UnknownCurrencyError as exc:
                raise ConfigError(
                    f"[words] currency: unknown currency {currency!r}"
                    " (use an ISO 4217 code such as 'EUR')"
                ) from exc

    def __repr__(self) -> str:
        return (
            f"Formatter(locale={self.locale_name!r}, timezone={self.timezone_name!r},"
            f" currency={self.currency!r})"
        )

    # -- numbers -----------------------------------------------------------
    def decimal(self, x: float, digits: int, *, group: bool = True) -> str:
        """``x`` with exactly ``digits`` decimals, thousands grouped unless ``group`` is false.

        >>> ENGLISH.decimal(1234.5, 1), Formatter(locale="de_DE").decimal(1234.5, 1)
        ('1,234.5', '1.234,5')
        """
        if self.locale is None:
            return f"{x:,.{digits}f}" if group else f"{x:.{digits}f}"
        pattern = _with_decimals("#,##0" if group else "0", digits)
        return bnumbers.format_decimal(x, pattern, locale=self.locale)

    def significant(self, x: float, digits: int) -> str:
        """``x`` to at most ``digits`` significant figures.

        >>> ENGLISH.significant(0.71344, 3), Formatter(locale="de_DE").significant(0.71344, 3)
        ('0.713', '0,713')
        >>> ENGLISH.significant(3.6e-36, 2), Formatter(locale="de_DE").significant(3.6e-36, 2)
        ('3.6e-36', '3,6E-36')
        """
        english = f"{x:.{digits}g}"
        if self.locale is None:
            return english
        if "e" in english:  # as tiny or as huge as English writes with an exponent
            pattern = "0." + "#" * (digits - 1) + "E0"
            return bnumbers.format_scientific(x, pattern, locale=self.locale)
        return bnumbers.format_decimal(x, "@" + "#" * (digits - 1), locale=self.locale)

    def percent(self, share: float, digits: int) -> str:
        """A share (0.23) as a percentage with ``digits`` decimals.

        >>> ENGLISH.percent(0.2346, 0), Formatter(locale="fr_FR").percent(0.2346, 0)
        ('23%', '23\\xa0%')
        """
        if self.locale is None:
            return f"{100 * share:.{digits}f}%"
        pattern = _with_decimals(self.locale.percent_formats[None].pattern, digits)
        return bnumbers.format_percent(share, pattern, locale=self.locale)

    def money(self, amount: float, digits: int, symbol: str = "€") -> str:
        """An amount of the declared currency (else of ``symbol``) with ``digits`` decimals.

        >>> Formatter(locale="de_DE", currency="EUR").money(1234.5, 0)
        '1.234\\xa0€'
        >>> Formatter(currency="USD").money(2.5, 2), Formatter(locale="en_US").money(2.5, 2, "£")
        ('$2.50', '£2.50')
        """
        code = self.currency or _CODES.get(symbol, "")
        if self.locale is None or not code:
            if self.currency:
                symbol = bnumbers.get_currency_symbol(self.currency, "en")
            return f"{symbol}{amount:,.{digits}f}"
        pattern = _with_decimals(self.locale.currency_formats["standard"].pattern, digits)
        return bnumbers.format_currency(
            amount, code, pattern, locale=self.locale, currency_digits=False
        )

    # -- days and moments --------------------------------------------------
    def day(self, d: date, *, year: bool = False) -> str:
        """A calendar day (a window's day: not converted), with its year if asked.

        >>> de = Formatter(locale="de_DE")
        >>> ENGLISH.day(date(2026, 6, 1)), de.day(date(2026, 6, 1), year=True)
        ('1 Jun', '1. Juni 2026')
        """
        if self.locale is None:
            text = f"{d.day} {d:%b}"
            return f"{text} {d.year}" if year else text
        return bdates.format_skeleton("yMMMd" if year else "MMMd", d, locale=self.locale)

    def long_day(self, d: date) -> str:
        """A calendar day with its month in full, for sentences ("since 1 June").

        >>> ENGLISH.long_day(date(2026, 6, 1)), Formatter(locale="de_DE").long_day(date(2026, 6, 1))
        ('1 June', '1. Juni')
        """
        if self.locale is None:
            return f"{d.day} {d:%B}"
        return bdates.format_skeleton("MMMMd", d, locale=self.locale)

    def days(self, first: date, last: date) -> str:
        """The days ``first`` to ``last`` (both included, ``last`` after ``first``).

        >>> ENGLISH.days(date(2026, 5, 12), date(2026, 5, 25))
        '12–25 May'
        >>> Formatter(locale="de_DE").days(date(2026, 5, 12), date(2026, 5, 25))
        '12.–25. Mai'
        """
        if self.locale is None:
            if (first.year, first.month) == (last.year, last.month):
                return f"{first.day}–{last.day} {last:%b}"
            return f"{self.day(first)} – {self.day(last)}"
        return bdates.format_interval(first, last, "MMMd", locale=self.locale)

    def local(self, t: datetime) -> datetime:
        """A stored moment (naive UTC) in the declared zone."""
        aware = t if t.tzinfo else t.replace(tzinfo=UTC)
        return aware.astimezone(self.zone)

    def _clock(self, t: datetime) -> str:
        return f"{t:%H:%M}" if self.locale is None else bdates.format_time(t, "HH:mm")

    def moment(self, t: datetime) -> str:
        """A moment to the minute in the declared zone, which it names.

        >>> Formatter(timezone="Europe/Berlin").moment(datetime(2026, 1, 4, 23, 30))
        '5 Jan 2026, 00:30 CET'
        """
        local = self.local(t)
        return f"{self.day(local, year=True)}, {self._clock(local)} {local.tzname()}"

    def stamp(self, t: datetime) -> str:
        """A moment within the period on screen: day and time in the declared zone, no year."""
        local = self.local(t)
        return f"{self.day(local)} {self._clock(local)}"

    def table_time(self, t: datetime) -> str:
        """A time in a terminal table: the day alone at midnight UTC (a window), else to the minute.

        >>> ENGLISH.table_time(datetime(2026, 6, 1)), ENGLISH.table_time(datetime(2026, 6, 1, 14))
        ('2026-06-01', '2026-06-01 14:00')
        >>> de = Formatter(locale="de_DE", timezone="Europe/Berlin")
        >>> de.table_time(datetime(2026, 6, 1)), de.table_time(datetime(2026, 6, 1, 23, 30))
        ('01.06.2026', '02.06.2026 01:30')
        """
        if not (t.hour or t.minute):
            day = t.date()
            return f"{day:%Y-%m-%d}" if self.locale is None else self._short(day)
        local = self.local(t)
        if self.locale is None:
            return f"{local:%Y-%m-%d %H:%M}"
        return f"{self._short(local)} {self._clock(local)}"

    def when(self, t: datetime) -> str:
        """A moment in a terminal line, to the minute, in the declared zone, which it names.

        >>> ENGLISH.when(datetime(2026, 6, 4)), Formatter(timezone="Europe/Berlin").when(
        ...     datetime(2026, 6, 4, 23, 30))
        ('2026-06-04 00:00 UTC', '2026-06-05 01:30 CEST')
        """
        local = self.local(t)
        if self.locale is None:
            return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"
        return f"{self._short(local)} {self._clock(local)} {local.tzname()}"

    def _short(self, d: date) -> str:
        return bdates.format_skeleton("yMMdd", d, locale=self.locale)


ENGLISH = Formatter()

_CURRENT: ContextVar[Formatter] = ContextVar("seismo_formatter", default=ENGLISH)


def current() -> Formatter:
    """The formatter of the page or command being drawn (seismo's English if none was set)."""
    return _CURRENT.get()


@contextmanager
def using(formatter: Formatter) -> Iterator[Formatter]:
    """Draw with ``formatter`` inside the block (the one before comes back after it)."""
    token = _CURRENT.set(formatter)
    try:
        yield formatter
    finally:
        _CURRENT.reset(token)


@contextmanager
def scope() -> Iterator[None]:
    """A scope for :func:`declare` (one CLI command): whatever it declared is undone after."""
    token = _CURRENT.set(current())
    try:
        yield
    finally:
        _CURRENT.reset(token)


def declare(formatter: Formatter) -> None:
    """Draw with ``formatter`` from now until the enclosing :func:`scope` ends.

    For a command that learns the words only once it has opened its store;
    elsewhere prefer :func:`using`.
    """
    _CURRENT.set(formatter)


@cache
def _formatter(locale: str, timezone: str, currency: str) -> Formatter:
    return Formatter(locale=locale, timezone=timezone, currency=currency)


def formatter_for(words: Words) -> Formatter:
    """The formatter a model's words declare (``locale``, ``timezone``, ``currency``)."""
    return _formatter(words.locale, words.timezone, words.currency)
