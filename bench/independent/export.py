"""The seed export format and its censoring rule: what an export taken at a moment says.

The columns are exactly the seed CSV's (``production-recommendations-sample.csv``,
what ``seismo.RECOMMENDATIONS`` maps). An outcome is 1 with its time once it has
happened, 0 once its window has closed (click 30 minutes and purchase 12 days
after the recommendation, return 14 days after the purchase) and empty while
pending; ``ground_truth_available`` is true once none of the three can change.

Other systems' exports leave ``returned`` *empty* when ``purchased`` is 0 (a
return of nothing is not a thing): ``empty_returns=True`` writes that
convention, and :class:`~.recommender.RecommenderConfig` has it on by default.
seismo on the ``gen`` branch rejects such a file ("says the truth is final but
an outcome is still empty", ``seismo/ingest/convert.py`` ``_flat_outcomes``);
the fix is in another worktree.

>>> o = Outcomes(*(np.array([v]) for v in (0, False, 0, False, 0, False, 0)))
>>> cols = known_outcomes(o, 100_000_000, click=1800, purchase=86400, ret=86400,
...                       empty_returns=True)
>>> cols["purchased"].to_pylist(), cols["returned"].to_pylist()
([0], [None])
>>> cols["ground_truth_available"].to_pylist()
['true']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from .common import iso

__all__ = ["COLUMNS", "Outcomes", "known_outcomes"]

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
    "clicked",
    "click_timestamp",
    "purchased",
    "purchase_timestamp",
    "returned",
    "return_timestamp",
    "ground_truth_available",
)


@dataclass(frozen=True)
class Outcomes:
    """Rows' final outcomes: flags, and epoch-second times (used where the flag is set)."""

    ts: NDArray[np.int64]
    clicked: NDArray[np.bool_]
    click_ts: NDArray[np.int64]
    purchased: NDArray[np.bool_]
    purchase_ts: NDArray[np.int64]
    returned: NDArray[np.bool_]
    return_ts: NDArray[np.int64]


def known_outcomes(
    o: Outcomes, at: int | None, *, click: int, purchase: int, ret: int, empty_returns: bool
) -> dict[str, pa.Array]:
    """The outcome columns as known at ``at`` (epoch seconds; None = final).

    ``click``, ``purchase``: windows in seconds from the recommendation; ``ret``
    from the purchase.
    """
    moment = np.iinfo(np.int64).max if at is None else at
    click_seen = o.clicked & (o.click_ts <= moment)
    buy_seen = o.purchased & (o.purchase_ts <= moment)
    ret_seen = o.returned & (o.return_ts <= moment)
    click_open = ~click_seen & (o.ts + click > moment)
    buy_open = ~buy_seen & (o.ts + purchase > moment)
    ret_open = buy_open | (buy_seen & ~ret_seen & (o.purchase_ts + ret > moment))
    # No purchase, no return: empty in the other systems' convention, else 0.
    ret_empty = ret_open | (~buy_seen & ~buy_open & empty_returns)
    final = ~(click_open | buy_open | ret_open)
    return {
        "clicked": _flag(click_seen, click_open),
        "click_timestamp": iso(o.click_ts, click_seen),
        "purchased": _flag(buy_seen, buy_open),
        "purchase_timestamp": iso(o.purchase_ts, buy_seen),
        "returned": _flag(ret_seen, ret_empty),
        "return_timestamp": iso(o.return_ts, ret_seen),
        "ground_truth_available": pa.array(np.where(final, "true", "false").tolist()),
    }


def _flag(seen: NDArray[np.bool_], empty: NDArray[np.bool_]) -> pa.Array:
    return pa.array(seen.astype(np.int8), type=pa.int8(), mask=np.asarray(empty, dtype=bool))
