"""The store at a glance: volume per day, how much truth has arrived, first rates.

Everything is aggregated in the engine (one GROUP BY per table below); Python
only receives a few rows per day or per segment value. The rates here are
*confirmed-only* (positives over outcomes known so far) and say so: the
maturity-aware figures with nowcasts are the job of the late-truth metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import ibis
import pyarrow as pa

from seismo.store.read import Store

__all__ = ["Summary", "summarize"]


@dataclass(frozen=True)
class Summary:
    """Plain tables, ready for any presenter."""

    as_of: datetime | None
    totals: dict[str, Any]
    daily: pa.Table  # day, predictions, and per outcome type: known, positives
    completeness: pa.Table  # outcome_type, predictions, known, known_share, positives, rate
    segments: pa.Table  # attribute, value, outcome_type, earlier/recent n and rate


def _flag(condition: Any) -> Any:
    """1 where ``condition`` holds, else 0 (PostgreSQL casts boolean to integer, not bigint)."""
    return ibis.ifelse(condition, 1, 0)


def _by_prediction(store: Store, as_of: datetime | None, types: list[str]) -> Any:
    """One row per prediction: for each outcome type, whether it is known and its value."""
    o = store.outcomes(as_of)
    aggs = {}
    for t in types:
        is_t = o.outcome_type == t
        aggs[f"known_{t}"] = _flag(is_t).max()
        aggs[f"value_{t}"] = o.value.max(where=is_t)
    wide = o.group_by(o.prediction_id.name("_pid")).aggregate(**aggs)
    p = store.predictions(as_of)
    j = p.left_join(wide, p.prediction_id == wide._pid)
    # A child whose parent event did not happen (no purchase, so no return) is settled:
    # not applicable, whether the file said 0 or left it empty.
    declared = store.outcome_types()
    settled: dict[str, Any] = {}
    for t in types:
        parent = declared[t].parent
        if parent in types and declared[parent].kind == "event":
            moot = (j[f"known_{parent}"] == 1) & (j[f"value_{parent}"] == 0)
            settled[f"known_{t}"] = ibis.ifelse(moot, 1, j[f"known_{t}"])
    return j.mutate(**settled) if settled else j


def summarize(store: Store, *, as_of: datetime | None = None, recent_days: int = 10) -> Summary:
    """Summarise what the store holds as of ``as_of`` (default: everything).

    An outcome counts as known once it arrived, or once it cannot happen: a
    child (a return) whose parent event (the purchase) did not happen.
    """
    types = [n for n, t in store.outcome_types().items() if t.kind in ("event", "label", "value")]
    events = [n for n, t in store.outcome_types().items() if t.kind == "event"]
    j = _by_prediction(store, as_of, types)
    day = j.served_at.truncate("D").name("day")
    daily_aggs: dict[str, Any] = {"predictions": j.count()}
    if types:
        every = [j[f"known_{t}"].fill_null(0) for t in types]
        final = every[0]
        for k in every[1:]:
            final = final * k
        daily_aggs["all_known"] = final.sum()
    for t in types:
        daily_aggs[f"{t}_known"] = j[f"known_{t}"].fill_null(0).sum()
        daily_aggs[f"{t}_positive"] = _flag(j[f"value_{t}"] == 1).sum()
    daily = j.group_by(day).aggregate(**daily_aggs).order_by("day").to_pyarrow()

    totals_row = (
        j.aggregate(
            predictions=j.count(),
            first=j.served_at.min(),
            last=j.served_at.max(),
            models=j.model_version.nunique(),
        )
        .to_pyarrow()
        .to_pylist()[0]
    )
    n = int(totals_row["predictions"] or 0)
    completeness_rows = []
    for t in types:
        known = sum(int(v or 0) for v in daily.column(f"{t}_known").to_pylist())
        pos = sum(int(v or 0) for v in daily.column(f"{t}_positive").to_pylist())
        completeness_rows.append(
            {
                "outcome_type": t,
                "predictions": n,
                "known": known,
                "known_share": known / n if n else None,
                "positives": pos,
                "confirmed_rate": pos / known if known else None,
            }
        )
    completeness = pa.Table.from_pylist(
        completeness_rows,
        schema=pa.schema(
            [
                ("outcome_type", pa.string()),
                ("predictions", pa.int64()),
                ("known", pa.int64()),
                ("known_share", pa.float64()),
                ("positives", pa.int64()),
                ("confirmed_rate", pa.float64()),
            ]
        ),
    )
    segments = _segment_rates(store, j, events[:1], totals_row["last"], recent_days)
    totals = {**totals_row, "as_of": as_of}
    return Summary(as_of, totals, daily, completeness, segments)


def _segment_rates(
    store: Store, j: Any, types: list[str], last: datetime | None, recent_days: int
) -> pa.Table:
    """Per segment value: the confirmed rate before vs within the last ``recent_days``."""
    schema = pa.schema(
        [
            ("attribute", pa.string()),
            ("value", pa.string()),
            ("outcome_type", pa.string()),
            ("earlier_n", pa.int64()),
            ("earlier_rate", pa.float64()),
            ("recent_n", pa.int64()),
            ("recent_rate", pa.float64()),
        ]
    )
    if last is None or not types:
        return schema.empty_table()
    cut = last.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=recent_days - 1)
    recent = j.served_at >= cut
    parts = []
    for attribute in store.segments():
        for t in types:
            known = j[f"known_{t}"].fill_null(0) == 1
            positive = j[f"value_{t}"] == 1
            agg = j.group_by(
                j[attribute].cast("string").fill_null("(missing)").name("value")
            ).aggregate(
                earlier_n=_flag(known & ~recent).sum(),
                earlier_pos=_flag(positive & ~recent).sum(),
                recent_n=_flag(known & recent).sum(),
                recent_pos=_flag(positive & recent).sum(),
            )
            parts.append(
                agg.mutate(attribute=ibis.literal(attribute), outcome_type=ibis.literal(t))
            )
    if not parts:
        return schema.empty_table()
    union = ibis.union(*parts) if len(parts) > 1 else parts[0]
    rows = union.order_by(["attribute", "value"]).to_pyarrow().to_pylist()
    out = [
        {
            "attribute": r["attribute"],
            "value": r["value"],
            "outcome_type": r["outcome_type"],
            "earlier_n": r["earlier_n"],
            "earlier_rate": r["earlier_pos"] / r["earlier_n"] if r["earlier_n"] else None,
            "recent_n": r["recent_n"],
            "recent_rate": r["recent_pos"] / r["recent_n"] if r["recent_n"] else None,
        }
        for r in rows
    ]
    return pa.Table.from_pylist(out, schema=schema)
