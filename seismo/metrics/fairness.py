"""Gaps between segments, per metric × window: disparate impact as it develops.

A model can be fair at deployment and drift out of it: when the summer
collection replaces spring, 55+ customers are shown far fewer sustainable
items while their click-through stays flat. This module turns any table in
:data:`~seismo.metrics.compute.RESULT_SCHEMA` (quality metrics from
:func:`~seismo.metrics.compute.compute_metrics`, exposure metrics from
:func:`~seismo.metrics.exposure.compute_exposure`) into one row per metric ×
window × model version × segment value with the vocabulary of Fairlearn's
``MetricFrame``, computed on the ``estimate`` column (the nowcast of the final
value, so a window whose purchases are still arriving is not read as a
segment falling behind):

``gap_to_overall`` = value − overall; ``ratio_to_overall`` = value / overall;
``ratio_to_best`` = value / the best value of the attribute (a "best" group
needs at least ``min_n`` members, so a handful of rows cannot set the bar);
``four_fifths_ok`` = ``ratio_to_best >= 0.8`` (the four-fifths rule of
disparate-impact practice).

**Direction.** For metrics in ``lower_is_better`` (losses and errors, and
those the model declares lower-is-better, such as a return rate) the best
group is the one with the *lowest* value and
``ratio_to_best`` is best / value, so it stays in [0, 1] and the same 0.8 bar
reads "at most 1.25 × the best group's return rate". ``gap_to_overall`` and
``ratio_to_overall`` stay plain value − overall and value / overall; the
``lower_is_better`` column says which way is worse. Exposure shares count as
higher-is-better: being shown less is the harm measured. Ratios of negative
values (a regression bias) mean nothing and are left empty.

**Against the deployment baseline.** A fixed bar misses a gap that was
small and has doubled, and flags one that was always there. With
``baseline`` (from :func:`fairness_baseline`: the n-weighted values of a
reference period, e.g. the first two weeks) each row also carries the gap it
had then and ``gap_change`` = gap − baseline gap, so a detector can test
whether a gap *opened or widened* since deployment. Baselines pool model
versions: the question is whether a segment's standing changed since then,
whichever model caused it.

The input is already aggregated (a few thousand rows), so this is plain
Python over Arrow: no engine work.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime
from typing import Any

import pyarrow as pa

from seismo.errors import ConfigError
from seismo.metrics.compute import RESULT_SCHEMA

__all__ = [
    "BASELINE_SCHEMA",
    "FAIRNESS_SCHEMA",
    "LOWER_IS_BETTER",
    "fairness_baseline",
    "fairness_table",
]

#: Metrics where a lower value is better; a name also matches every metric ending
#: in ``_`` + name (``log_loss`` covers ``click_log_loss``).
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "calibration_error", "mae", "rmse", "mape"})
FOUR_FIFTHS = 0.8
#: Columns copied from the input row.
_CARRIED = (
    "metric",
    "label",
    "unit",
    "attribute",
    "value",
    "model_version",
    "window_start",
    "window_end",
)

BASELINE_SCHEMA = pa.schema(
    [
        ("metric", pa.string()),
        ("attribute", pa.string()),
        ("value", pa.string()),
        ("n", pa.int64()),
        ("estimate", pa.float64()),
        ("overall", pa.float64()),
        ("gap_to_overall", pa.float64()),
        ("ratio_to_best", pa.float64()),
    ]
)

_IDENTITY = (
    "metric",
    "label",
    "unit",
    "attribute",
    "value",
    "model_version",
    "window_start",
    "window_end",
    "n",
    "estimate",
)

FAIRNESS_SCHEMA = pa.schema(
    [
        # a metric row's identity and value, as every metric table has them
        *(RESULT_SCHEMA.field(name) for name in _IDENTITY),
        ("overall", pa.float64()),
        ("best_value", pa.string()),
        ("best_estimate", pa.float64()),
        ("gap_to_overall", pa.float64()),
        ("ratio_to_overall", pa.float64()),
        ("ratio_to_best", pa.float64()),
        ("four_fifths_ok", pa.bool_()),
        ("lower_is_better", pa.bool_()),
        ("baseline_estimate", pa.float64()),
        ("baseline_gap", pa.float64()),
        ("baseline_ratio_to_best", pa.float64()),
        ("gap_change", pa.float64()),
        ("final", pa.bool_()),
        ("as_of", pa.timestamp("us")),
    ]
)


def _lower(metric: str, names: Collection[str]) -> bool:
    return metric in names or any(metric.endswith(f"_{n}") for n in names)


def _ratio(a: float | None, b: float | None) -> float | None:
    """a / b for non-negative figures; 0 / 0 is parity (every group at zero)."""
    if a is None or b is None or a < 0 or b < 0:
        return None
    if b == 0:
        return 1.0 if a == 0 else None
    return a / b


def _best(rows: list[dict[str, Any]], lower: bool, min_n: int) -> tuple[str | None, float | None]:
    """The best-placed value of one attribute among those large enough to count."""
    ranked = [r for r in rows if r["estimate"] is not None and r["n"] >= min_n]
    if not ranked:
        return None, None
    pick = min if lower else max
    # Ties go to the first value in sort order, so the result is deterministic.
    top = pick(sorted(ranked, key=lambda r: r["value"]), key=lambda r: r["estimate"])
    return top["value"], top["estimate"]


def _ratio_to_best(estimate: float | None, best: float | None, lower: bool) -> float | None:
    return _ratio(best, estimate) if lower else _ratio(estimate, best)


def fairness_table(
    metrics: pa.Table,
    *,
    baseline: pa.Table | None = None,
    lower_is_better: Collection[str] = LOWER_IS_BETTER,
    threshold: float = FOUR_FIFTHS,
    min_n: int = 30,
) -> pa.Table:
    """One row per metric × window × model version × segment value, in :data:`FAIRNESS_SCHEMA`.

    ``metrics`` is a ``RESULT_SCHEMA`` table holding the aggregate rows and
    the segment rows; ``baseline`` a :func:`fairness_baseline` table. A value
    with fewer than ``min_n`` members is reported but not judged
    (``four_fifths_ok`` empty).

    >>> from datetime import datetime
    >>> day = datetime(2026, 6, 1)
    >>> rows = [
    ...     {"metric": "sustainable_share", "attribute": a, "value": v, "window_start": day,
    ...      "n": n, "estimate": e}
    ...     for a, v, n, e in [(None, None, 1000, 0.32), ("age_group", "18-24", 600, 0.36),
    ...                        ("age_group", "55+", 400, 0.15)]
    ... ]
    >>> table = fairness_table(pa.Table.from_pylist(rows))
    >>> [(r["value"], round(r["ratio_to_best"], 3), r["four_fifths_ok"])
    ...  for r in table.to_pylist()]
    [('18-24', 1.0, True), ('55+', 0.417, False)]
    """
    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"threshold must be in (0, 1], got {threshold}")
    _check_columns(metrics, ("metric", "attribute", "value", "window_start", "n", "estimate"))
    base = _baseline_index(baseline)
    groups = _groups(metrics.to_pylist())
    out: list[dict[str, Any]] = []
    for (metric, *_), (overall_row, by_attr) in groups.items():
        lower = _lower(metric, lower_is_better)
        overall = overall_row["estimate"] if overall_row else None
        for attribute, rows in by_attr.items():
            best_value, best = _best(rows, lower, min_n)
            for r in rows:
                estimate = r["estimate"]
                gap = None if estimate is None or overall is None else estimate - overall
                to_best = _ratio_to_best(estimate, best, lower)
                b = base.get((metric, attribute, r["value"]), {})
                b_gap = b.get("gap_to_overall")
                ok = None if to_best is None or r["n"] < min_n else to_best >= threshold
                out.append(
                    {
                        **{k: r.get(k) for k in _CARRIED},
                        "n": r["n"],
                        "estimate": estimate,
                        "overall": overall,
                        "best_value": best_value,
                        "best_estimate": best,
                        "gap_to_overall": gap,
                        "ratio_to_overall": _ratio(estimate, overall),
                        "ratio_to_best": to_best,
                        "four_fifths_ok": ok,
                        "lower_is_better": lower,
                        "baseline_estimate": b.get("estimate"),
                        "baseline_gap": b_gap,
                        "baseline_ratio_to_best": b.get("ratio_to_best"),
                        "gap_change": None if gap is None or b_gap is None else gap - b_gap,
                        "final": r.get("final"),
                        "as_of": r.get("as_of"),
                    }
                )
    table = pa.Table.from_pylist(out, schema=FAIRNESS_SCHEMA)
    order = ("metric", "attribute", "value", "model_version", "window_start")
    return table.sort_by([(c, "ascending") for c in order])


def fairness_baseline(
    metrics: pa.Table,
    *,
    until: datetime,
    since: datetime | None = None,
    lower_is_better: Collection[str] = LOWER_IS_BETTER,
    min_n: int = 30,
) -> pa.Table:
    """Each segment value's standing over a reference period, in :data:`BASELINE_SCHEMA`.

    The windows that lie wholly before ``until`` (and start at or after
    ``since``) are pooled, model versions included, weighting each window's
    estimate by its ``n``: exact for shares, means and rates (the pooled
    value), an approximation for ranking scores such as AUC. Fit it once on
    the deployment period and pass it to :func:`fairness_table` for every later
    run: the reference must not move with the data it is compared against.

    >>> from datetime import datetime
    >>> rows = [
    ...     {"metric": "sustainable_share", "attribute": a, "value": v,
    ...      "window_start": datetime(2026, 5, d), "window_end": datetime(2026, 5, d + 1),
    ...      "n": n, "estimate": e}
    ...     for d in (12, 13)
    ...     for a, v, n, e in [(None, None, 1000, 0.35), ("age_group", "55+", 400, 0.34)]
    ... ]
    >>> base = fairness_baseline(pa.Table.from_pylist(rows), until=datetime(2026, 5, 14))
    >>> [(r["value"], r["n"], round(r["gap_to_overall"], 3)) for r in base.to_pylist()]
    [('55+', 800, -0.01)]
    """
    _check_columns(metrics, ("metric", "attribute", "value", "window_start", "n", "estimate"))
    sums: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for r in metrics.to_pylist():
        end = r.get("window_end") or r["window_start"]
        if end > until or (since is not None and r["window_start"] < since):
            continue
        if r["estimate"] is None or not r["n"]:
            continue
        acc = sums[(r["metric"], r["attribute"], r["value"])]
        acc[0] += r["n"]
        acc[1] += r["n"] * r["estimate"]
    pooled = {k: (int(n), s / n) for k, (n, s) in sums.items()}
    by_attr: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for (metric, attribute, value), (n, estimate) in pooled.items():
        if attribute is not None:
            by_attr[(metric, attribute)].append({"value": value, "n": n, "estimate": estimate})
    out = []
    for (metric, attribute), rows in by_attr.items():
        lower = _lower(metric, lower_is_better)
        overall = pooled.get((metric, None, None), (0, None))[1]
        _, best = _best(rows, lower, min_n)
        for r in rows:
            gap = None if overall is None else r["estimate"] - overall
            to_best = _ratio_to_best(r["estimate"], best, lower)
            out.append(
                {
                    **r,
                    "metric": metric,
                    "attribute": attribute,
                    "overall": overall,
                    "gap_to_overall": gap,
                    "ratio_to_best": to_best,
                }
            )
    table = pa.Table.from_pylist(out, schema=BASELINE_SCHEMA)
    return table.sort_by([(c, "ascending") for c in ("metric", "attribute", "value")])


def _check_columns(table: pa.Table, needed: tuple[str, ...]) -> None:
    missing = [c for c in needed if c not in table.column_names]
    if missing:
        raise ConfigError(f"the metrics table lacks column(s) {missing}; expected RESULT_SCHEMA")


def _baseline_index(baseline: pa.Table | None) -> dict[tuple[Any, ...], dict[str, Any]]:
    if baseline is None:
        return {}
    _check_columns(baseline, tuple(BASELINE_SCHEMA.names))
    return {(r["metric"], r["attribute"], r["value"]): r for r in baseline.to_pylist()}


_GroupKey = tuple[Any, ...]


def _groups(
    rows: list[dict[str, Any]],
) -> dict[_GroupKey, tuple[dict[str, Any] | None, dict[str, list[dict[str, Any]]]]]:
    """Per metric × model version × window: the overall row and the segment rows by attribute."""
    overall: dict[_GroupKey, dict[str, Any]] = {}
    segments: dict[_GroupKey, dict[str, list[dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for r in rows:
        key = (r["metric"], r.get("model_version"), r["window_start"], r.get("window_end"))
        if r["attribute"] is None:
            overall[key] = r
        else:
            segments[key][r["attribute"]].append(r)
    return {key: (overall.get(key), dict(by)) for key, by in segments.items()}
