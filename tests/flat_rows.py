"""A small, valid flat export built by hand, for tests that corrupt one field at a time."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from seismo.simulate import COLUMNS  # the export's columns, in order


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.strftime("%Y-%m-%dT%H:%M:%SZ")


def valid_flat(n: int = 20, seed: int = 1, *, start: datetime = datetime(2026, 5, 12)) -> pa.Table:
    """``n`` consistent rows (as text, the way a CSV reads) of the seed scenario's export."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        ts = start + timedelta(minutes=37 * i)
        clicked = int(rng.random() < 0.4)
        state = rng.integers(0, 4)  # 0 no purchase, 1 purchase kept, 2 returned, 3 pending
        purchased = {0: 0, 1: 1, 2: 1, 3: None}[int(state)]
        returned = {0: 0, 1: 0, 2: 1, 3: None}[int(state)]
        p_ts = ts + timedelta(days=2) if purchased else None
        r_ts = p_ts + timedelta(days=5) if returned else None
        rows.append(
            {
                "recommendation_id": f"r{i:04d}",
                "timestamp": _iso(ts),
                "customer_id": f"c{i % 7}",
                "age_group": ["18-24", "25-34", "35-44", "45-54", "55+"][i % 5],
                "sustainability_preference": ["high", "medium", "low"][i % 3],
                "region": ["DE", "FR", "NL"][i % 3],
                "customer_type": ["new", "returning"][i % 2],
                "device": ["mobile", "desktop", "app"][i % 3],
                "product_id": f"p{i % 11}",
                "category": ["dresses", "knitwear", "tops"][i % 3],
                "brand": f"B{i % 4}",
                "is_sustainable": ["true", "false"][i % 2],
                "price_eur": f"{20 + i * 1.5:.2f}",
                "collection": "spring",
                "position": str(1 + i % 10),
                "model_version": "rec-2026.04",
                "score": f"{rng.random():.4f}",
                "clicked": str(clicked),
                "click_timestamp": _iso(ts + timedelta(minutes=2)) if clicked else None,
                "purchased": None if purchased is None else str(purchased),
                "purchase_timestamp": _iso(p_ts),
                "returned": None if returned is None else str(returned),
                "return_timestamp": _iso(r_ts),
                "ground_truth_available": "false" if purchased is None else "true",
            }
        )
    return pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.string()) for c in COLUMNS]))


def with_value(table: pa.Table, row: int, column: str, value: str | None) -> pa.Table:
    """A copy of ``table`` with data row ``row`` (1-based) of ``column`` set to ``value``."""
    values = table.column(column).to_pylist()
    values[row - 1] = value
    return table.set_column(table.column_names.index(column), column, pa.array(values, pa.string()))
