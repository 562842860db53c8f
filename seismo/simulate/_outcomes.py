"""What is known of each outcome at a given moment: the censoring rule.

An outcome that has happened by ``at`` is known (1 and its timestamp). One that
has not happened is a confirmed 0 once its window has closed, and *pending*
(null) while the window is still open; a return can only be known once its
purchase is: a confirmed non-purchase is a confirmed non-return, a pending
purchase leaves the return pending. A row has its ground truth once none of its
three outcomes is pending.

The same rule turns the final outcomes into the export (``at`` = the end of
the last day) and into the truth table (``at`` = never: nothing pending).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

__all__ = ["OUTCOME_COLUMNS", "Final", "Windows", "final_from_table", "known_columns"]

OUTCOME_COLUMNS = (
    "clicked",
    "click_timestamp",
    "purchased",
    "purchase_timestamp",
    "returned",
    "return_timestamp",
    "ground_truth_available",
)
TIMESTAMP = pa.timestamp("s", tz="UTC")


@dataclass(frozen=True)
class Windows:
    """Outcome windows in seconds; the return window starts at the purchase."""

    click: int
    purchase: int
    ret: int


@dataclass(frozen=True)
class Final:
    """Final outcomes as arrays; a timestamp matters only where its flag is true."""

    ts: np.ndarray
    clicked: np.ndarray
    click_ts: np.ndarray
    purchased: np.ndarray
    purchase_ts: np.ndarray
    returned: np.ndarray
    return_ts: np.ndarray


def known_columns(final: Final, windows: Windows, at: int | None) -> dict[str, pa.Array]:
    """The outcome columns as known at ``at`` (epoch seconds; None = all final)."""
    if at is None:
        click_seen, purchase_seen, return_seen = final.clicked, final.purchased, final.returned
        click_open = np.zeros(final.ts.size, dtype=bool)
        purchase_open = return_open = click_open
    else:
        click_seen = final.clicked & (final.click_ts <= at)
        purchase_seen = final.purchased & (final.purchase_ts <= at)
        return_seen = final.returned & (final.return_ts <= at)
        click_open = ~click_seen & (final.ts + windows.click > at)
        purchase_open = ~purchase_seen & (final.ts + windows.purchase > at)
        # A return is pending while its purchase is, or while the purchase is
        # known, the item not yet back and the return window still open.
        return_open = purchase_open | (
            purchase_seen & ~return_seen & (final.purchase_ts + windows.ret > at)
        )
    return {
        "clicked": _flag(click_seen, click_open),
        "click_timestamp": _stamp(final.click_ts, click_seen),
        "purchased": _flag(purchase_seen, purchase_open),
        "purchase_timestamp": _stamp(final.purchase_ts, purchase_seen),
        "returned": _flag(return_seen, return_open),
        "return_timestamp": _stamp(final.return_ts, return_seen),
        "ground_truth_available": pa.array(~(click_open | purchase_open | return_open)),
    }


def final_from_table(table: pa.Table) -> Final:
    """Read the final outcomes back from a truth table (no pending values)."""
    pending = [c for c in ("clicked", "purchased", "returned") if table[c].null_count]
    if pending:
        raise ValueError(f"not a truth table: pending values in {', '.join(pending)}")

    def seconds(name: str) -> np.ndarray:
        column = table[name].cast(pa.int64()).combine_chunks()
        return np.asarray(column.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)

    def flag(name: str) -> np.ndarray:
        column = table[name].combine_chunks()
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=bool)

    return Final(
        ts=seconds("timestamp"),
        clicked=flag("clicked"),
        click_ts=seconds("click_timestamp"),
        purchased=flag("purchased"),
        purchase_ts=seconds("purchase_timestamp"),
        returned=flag("returned"),
        return_ts=seconds("return_timestamp"),
    )


def _flag(seen: np.ndarray, pending: np.ndarray) -> pa.Array:
    return pa.array(seen.astype(np.int8), type=pa.int8(), mask=pending)


def _stamp(ts: np.ndarray, seen: np.ndarray) -> pa.Array:
    return pa.array(ts, type=TIMESTAMP, mask=~seen)
