"""Ranking metrics for a model that ranks, in the tidy result shape every metric shares.

For a model that serves ordered lists (see :mod:`seismo.metrics.ranking_spec`
for when a model ranks, and how ``k`` and the relevance grades are set):

* per slate (:mod:`seismo.metrics.slates`): NDCG@k, MRR@k, precision@k and
  hit rate@k, with late outcomes counted as provisional and nowcast like the
  rate metrics; click-through at position 1 and its lift over positions
  2..k (position bias);
* over the catalog (:mod:`seismo.metrics.popularity`): catalog coverage,
  exposure Gini, the share of exposure of the most popular items, novelty.

Per window × model version × segment cell, in
:data:`~seismo.metrics.compute.RESULT_SCHEMA`, so ``seismo check`` watches
them like any other quality metric. A model that does not rank gets an
empty table.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from seismo.errors import ConfigError
from seismo.metrics.compute import RESULT_SCHEMA, compute_metrics
from seismo.metrics.popularity import popularity_rows
from seismo.metrics.ranking_spec import RankingSpec, ranking_spec
from seismo.metrics.slates import slate_rows
from seismo.metrics.windows import Period, Windows, cutoff
from seismo.store.read import Store

__all__ = ["compute_ranking"]


def compute_ranking(
    store: Store,
    *,
    as_of: datetime | None = None,
    period: Period = "day",
    every: int | None = None,
    by: list[str] | None = None,
    spec: RankingSpec | None = None,
    rates: pa.Table | None = None,
) -> pa.Table:
    """Every ranking metric × window × segment cell × model version (empty if the model ranks not).

    Windows, ``as_of`` and ``by`` mean what they mean for
    :func:`~seismo.metrics.compute.compute_metrics`. ``rates``: that
    function's table for the same cut-off and windows, whose nowcasts turn
    the slate metrics' observed values into estimates of their final ones
    (computed here when not given). ``spec`` declares the model a ranker
    with its settings (default: found from the store).
    """
    chosen = ranking_spec(store, spec)
    if chosen is None:
        return RESULT_SCHEMA.empty_table()
    segments = store.segments() if by is None else list(by)
    unknown = [s for s in segments if s not in store.attributes()]
    if unknown:
        raise ConfigError(
            f"unknown segment attribute(s) {unknown}; the store has {store.segments()}"
        )
    cut = cutoff(store, as_of)
    windows = Windows(store, period, every, cut)
    if rates is None:
        rates = compute_metrics(
            store, as_of=cut, period=period, every=every, by=segments, quality=False
        )
    rows = slate_rows(store, chosen, cut=cut, windows=windows, segments=segments, rates=rates)
    rows += popularity_rows(store, chosen, cut=cut, windows=windows, segments=segments)
    table = pa.Table.from_pylist(rows, schema=RESULT_SCHEMA)
    order = ("metric", "attribute", "value", "model_version", "window_start")
    return table.sort_by([(c, "ascending") for c in order])
