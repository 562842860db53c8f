"""Plausibility at ingest: values that convert but cannot be true are refused, row by row.

A value of the right type can still be impossible, and one is enough to move
every figure computed from it: a prediction served in 1900 pulls a check's
baseline back a century, one served in 2999 sets the export time, a score of
1.7 or a price of 1e308 turns a day's revenue into nonsense, and a control
character in a segment value rewrites the operator's terminal. Each rule runs
as one query over the converted rows (the ``typed`` table of
:mod:`seismo.ingest.convert`) and refuses the batch on its first bad row, with
the row, the column, the value and what would have been accepted; the rules
and their bounds are the mapping's ``[checks]`` (:class:`~seismo.config.Checks`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from seismo.config import Checks, Range
from seismo.errors import InputError
from seismo.events import ROW

if TYPE_CHECKING:
    from seismo.ingest.convert import _Checker

__all__ = ["check_rows", "earliest_allowed"]

#: Columns that name things (and are printed): no control characters in them.
NAMES = ("prediction_id", "model_version", "entity_id", "item_id", "label", "status")
_CONTROL = "regexp_matches({v}, '[\\x00-\\x1f\\x7f]')"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def earliest_allowed(checker: _Checker, column: str, checks: Checks, store_first: Any) -> Any:
    """The earliest time believed: ``past`` before the batch's median time or the store's first.

    The median, not the minimum, so that stray rows cannot vouch for themselves.
    """
    row = checker.one(f"SELECT quantile_disc({_q(column)}, 0.5) FROM typed")
    anchors = [t for t in (row[0] if row else None, store_first) if t is not None]
    return min(anchors) - checks.past if anchors else None


def check_rows(
    checker: _Checker,
    columns: dict[str, tuple[str, str]],
    checks: Checks,
    *,
    times: list[str],
    names: list[str],
    score_range: Range | None,
    store_first: datetime | None,
) -> list[dict[str, Any]]:
    """Refuse the batch on the first implausible value of ``columns`` (alias -> user, dtype).

    ``times``: the timestamp aliases, the first one the batch's own time (served
    at, or an outcome's event time); ``names``: the aliases that name things.
    With ``checks.implausible == "quarantine"`` every implausible row is taken
    out of the batch instead and returned (row, column, value, reason), the
    first reason found for each.
    """
    _nested(checker, columns, names)
    held: dict[int, dict[str, Any]] = {}
    quarantine = checks.implausible == "quarantine"

    def _refuse(condition: str, alias: str, user: str, reason: str) -> None:
        if not quarantine:
            _first_refused(checker, condition, alias, user, reason)
            return
        rows = checker.con.execute(
            f"SELECT {ROW}, {_q(alias)} FROM typed WHERE {condition} ORDER BY {ROW}"
        ).fetchall()
        for row, value in rows:
            held.setdefault(
                int(row),
                {"row": int(row), "column": user, "value": _shown(value), "reason": reason},
            )

    now = datetime.now(UTC).replace(tzinfo=None)
    latest = now + checks.future
    earliest = earliest_allowed(checker, times[0], checks, store_first) if times else None
    for alias in times:
        user = columns[alias][0]
        _refuse(
            f"{_q(alias)} > TIMESTAMP '{latest.isoformat()}'",
            alias,
            user,
            f"lies in the future (after {latest:%Y-%m-%d %H:%M} UTC, now plus "
            f"{_days(checks.future)}); fix the clock or the column",
        )
        if earliest is not None:
            _refuse(
                f"{_q(alias)} < TIMESTAMP '{earliest.isoformat()}'",
                alias,
                user,
                f"is more than {_days(checks.past)} before the rest of the data (earliest "
                f"believed: {earliest:%Y-%m-%d}); set [checks] past to accept older rows",
            )
    bounded = dict(checks.ranges)
    if score_range is not None and "score" in columns:
        bounded["score"] = score_range
    for alias, (low, high) in bounded.items():
        if alias not in columns:
            continue
        accepted = f"[{_bound(low)}, {_bound(high)}]"
        hint = (
            '; a score is read as a probability: declare [checks] score = "any" if it is not'
            if alias == "score" and checks.score == "auto"
            else ""
        )
        for op, bound in (("<", low), (">", high)):
            if bound is not None:
                _refuse(
                    f"{_q(alias)} {op} {float(bound)!r}",
                    alias,
                    columns[alias][0],
                    f"lies outside the accepted range {accepted}{hint}",
                )
    for alias in names:
        if alias in columns:
            _refuse(
                _CONTROL.format(v=_q(alias)),
                alias,
                columns[alias][0],
                "holds a control character (names and segment values are printed)",
            )
    if held:
        rows = ", ".join(str(r) for r in sorted(held))
        checker.con.execute(f"DELETE FROM typed WHERE {ROW} IN ({rows})")
    return [held[r] for r in sorted(held)]


def _shown(value: Any) -> Any:
    return value.isoformat(sep=" ") if isinstance(value, datetime) else value


def _first_refused(checker: _Checker, condition: str, alias: str, user: str, reason: str) -> None:
    bad = checker.first(f"FROM typed WHERE {condition}", _q(alias))
    if bad:
        raise checker.fail(bad[0], user, reason, _shown(bad[1]))


def _nested(checker: _Checker, columns: dict[str, tuple[str, str]], names: list[str]) -> None:
    """A list, map or struct where one value per row is expected is refused outright."""
    schema = checker.source.table.schema
    for alias in names:
        if alias not in columns:
            continue
        user = columns[alias][0]
        kind = schema.field(user).type
        if pa.types.is_nested(kind):
            raise InputError(
                f"column {user!r} holds {kind} values; it needs one value per row",
                source=checker.source.name,
            )


def _days(span: Any) -> str:
    days = span.total_seconds() / 86400
    return f"{days:g} day" + ("" if days == 1 else "s")


def _bound(value: float | None) -> str:
    return "…" if value is None else f"{value:g}"
