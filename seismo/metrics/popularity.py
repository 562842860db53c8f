"""What a ranker spreads its exposure over: catalog coverage, popularity bias and novelty.

The catalog is every item served before the cut-off (the store's whole
history, every model version); an item's popularity is its share of all
those rows. Per window × model version × segment cell:

* **catalog coverage**: distinct items served in the cell, over the catalog;
* **exposure Gini**: the Gini coefficient of the items' exposure counts over
  the whole catalog (an item never served counts 0): 0 when every item is
  served equally, near 1 when a few take everything;
* **popular exposure share**: the share of the cell's rows that went to the
  ``top_share`` (1 %) most popular items of the catalog;
* **novelty**: the mean over rows of ``-log2(popularity)`` of the item
  served (in bits: higher is less obvious).

Exposure is known when served, so every figure is settled at once (as in
:mod:`seismo.metrics.exposure`). Their standard errors are a binomial scale
(coverage over the catalog, the share over rows, the Gini as a share of the
rows); the detector widens them by the baseline days' overdispersion.

The engine counts rows per cell × item (``GROUPING SETS``) and sums per cell
with each item's rank among the cell's counts, the Gini's only ingredient;
Python divides.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime
from typing import Any

import ibis

from seismo.metrics.cohorts import AGGREGATE, MISSING, segment_labels
from seismo.metrics.ranking_spec import RankingSpec, window_of
from seismo.metrics.windows import Windows
from seismo.store.engine import quote
from seismo.store.read import Store

__all__ = ["gini", "popularity_rows"]

#: Half-width of a 90 % normal interval, in standard errors.
_Z90 = 1.6448536269514722


def gini(counts: list[float], catalog: int) -> float:
    """The Gini coefficient of exposure ``counts`` over a catalog of ``catalog`` items.

    Items of the catalog not in ``counts`` count 0.

    >>> gini([5, 5, 5, 5], 4), round(gini([10], 4), 4), round(gini([1, 3], 4), 4)
    (0.0, 0.75, 0.625)
    """
    ranked = sorted(counts)
    total = float(sum(ranked))
    unserved = catalog - len(ranked)
    weighted = sum((unserved + j) * c for j, c in enumerate(ranked, start=1))
    return _gini(weighted, total, catalog)


def _gini(weighted: float, total: float, catalog: int) -> float:
    return 2.0 * weighted / (catalog * total) - (catalog + 1.0) / catalog


def _items(store: Store, cut: datetime, spec: RankingSpec) -> tuple[Any, int, int]:
    """Every served item with its history count, top flag and novelty; catalog size, rows."""
    p = store.predictions()
    p = p.filter((p.served_at < cut) & p.item_id.notnull())
    hist = p.group_by(item=p.item_id).aggregate(c=p.count())
    row = hist.aggregate(m=hist.count(), t=hist.c.sum()).to_pyarrow().to_pylist()[0]
    catalog, rows = int(row["m"] or 0), int(row["t"] or 0)
    top_n = max(1, math.ceil(spec.top_share * catalog))
    ranked = hist.mutate(
        rank=ibis.row_number().over(ibis.window(order_by=[ibis.desc(hist.c), hist.item]))
    )
    items = ranked.select(
        item2=ranked.item,
        top=ibis.ifelse(ranked.rank < top_n, 1, 0),
        nov=-(ranked.c.cast("float64") / max(rows, 1)).log2(),
    )
    return items, catalog, rows


_Key = tuple[tuple[datetime, datetime], Any, str, str]


def _cell_sums(
    store: Store, cut: datetime, spec: RankingSpec, segments: list[str], windows: Windows
) -> tuple[dict[_Key, dict[str, float]], int]:
    items, catalog, _ = _items(store, cut, spec)
    if catalog == 0:
        return {}, 0
    p = store.predictions()
    p = p.filter((p.served_at < cut) & p.item_id.notnull())
    j = p.join(items, p.item_id == items.item2)
    cols: dict[str, Any] = {
        "window_start": window_of(j.served_at, windows),
        "model_version": j.model_version,
        "item": j.item_id,
        "top": j.top,
        "nov": j.nov,
    }
    for i, s in enumerate(segments):
        cols[f"seg_{i}"] = j[s].cast("string").fill_null(MISSING)
    rows_sql = ibis.to_sql(j.select(**cols), dialect=store.engine.kind)
    dims = "window_start, model_version, item"
    segs = [quote(f"seg_{i}") for i in range(len(segments))]
    sets = ", ".join([f"({dims})", *(f"({dims}, {s})" for s in segs)])
    attribute, value = segment_labels(segs, segments)
    per_item = (
        f"SELECT window_start, model_version, item, {attribute} AS attribute, {value} AS value,"
        f" COUNT(*) AS c, MAX(top) AS top, MAX(nov) AS nov"
        f" FROM ({rows_sql}) AS r WHERE window_start IS NOT NULL"
        f" GROUP BY GROUPING SETS ({sets})"
    )
    cell = "window_start, model_version, attribute, value"
    ranked = (
        f"SELECT *, ROW_NUMBER() OVER (PARTITION BY {cell} ORDER BY c, item) AS j"
        f" FROM ({per_item}) AS i"
    )
    sums = {
        "m": "COUNT(*)",
        "total": "SUM(c)",
        "jc": "SUM(j * c)",
        "top": "SUM(top * c)",
        "nov": "SUM(nov * c)",
        "nov2": "SUM(nov * nov * c)",
    }
    sql = f"SELECT {cell}, {', '.join(sums.values())} FROM ({ranked}) AS x GROUP BY {cell}"
    out: dict[_Key, dict[str, float]] = defaultdict(dict)
    for start, version, attribute_, value_, *numbers in store.engine.query(sql):
        key = (windows.span(start), version, str(attribute_), str(value_))
        out[key] = {name: float(x or 0) for name, x in zip(sums, numbers, strict=True)}
    return out, catalog


def popularity_rows(
    store: Store,
    spec: RankingSpec,
    *,
    cut: datetime,
    windows: Windows,
    segments: list[str],
) -> list[dict[str, Any]]:
    """Catalog coverage, exposure Gini, popular exposure share and novelty per cell."""
    cells, catalog = _cell_sums(store, cut, spec, segments, windows)
    noun = store.words().item or "item"
    items = noun if noun.endswith("s") else f"{noun}s"
    pct = f"{spec.top_share * 100:g}%"
    out = []
    for (span, version, attribute, value), c in cells.items():
        aggregate = attribute == AGGREGATE
        base = {
            "attribute": None if aggregate else attribute,
            "value": None if aggregate else value,
            "model_version": version,
            "window_start": span[0],
            "window_end": span[1],
            "final": span[1] <= cut,
            "final_at": span[1],
            "as_of": cut,
            "estimator": "observed",
            "pending_n": 0,
        }
        total = c["total"]
        coverage = c["m"] / catalog
        concentration = _gini((catalog - c["m"]) * total + c["jc"], total, catalog)
        share = c["top"] / total
        novelty = c["nov"] / total
        spread = max(c["nov2"] / total - novelty * novelty, 0.0)
        figures = [
            ("catalog_coverage", f"Share of the {items} seen that were served", "share",
             coverage, catalog, math.sqrt(coverage * (1 - coverage) / catalog)),
            ("exposure_gini", f"Concentration of exposure over {items} (Gini)", "score",
             concentration, total, math.sqrt(max(concentration * (1 - concentration), 0) / total)),
            ("popular_exposure_share", f"Share of exposure to the {pct} most popular {items}",
             "share", share, total, math.sqrt(share * (1 - share) / total)),
            ("novelty", f"Novelty of the {items} served (bits, -log2 popularity)", "score",
             novelty, total, math.sqrt(spread / total)),
        ]  # fmt: skip
        for metric, label, unit, x, n, se in figures:
            out.append(
                {
                    **base,
                    "metric": metric,
                    "label": label,
                    "unit": unit,
                    "n": int(n),
                    "confirmed_n": int(n),
                    "confirmed_value": x,
                    "observed_value": x,
                    "estimate": x,
                    "estimate_low": x - _Z90 * se,
                    "estimate_high": x + _Z90 * se,
                    "std_error": se,
                }
            )
    return out
