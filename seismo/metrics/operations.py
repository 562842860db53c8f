"""The operations layer: latency, errors, volume and the versions serving, per window.

What the serving system did, as the first layer of monitoring (infrastructure,
before model behaviour): per model × model version × window (``hour`` or
``day``) × segment value, from the predictions' ``latency_ms`` and ``status``
columns. Nothing here waits for late truth: a window is settled once it has
ended. Rows of :data:`OPERATIONS_SCHEMA`, one per figure:

============== ================================================================
``volume``      predictions served in the window (all versions together:
                ``model_version`` is null); hours without any count as 0
``traffic_share`` a version's share of its model's predictions
``latency_p50``, ``latency_p95``, ``latency_p99``  quantiles of ``latency_ms``
                (exact: DuckDB's ``quantile_cont``, PostgreSQL's
                ``percentile_cont``, through Ibis)
``error_rate``  share of requests with a status that is not a success
                (:func:`is_success`) among those with a status
``status_share`` one row per failing status (``status`` says which): its share
============== ================================================================

Every row also says what is *normal* for it (``expected``, with the range
``expected_low`` .. ``expected_high`` and the ``history`` windows it rests on),
because traffic and latency have a daily and a weekly rhythm:

- volume: the mean of the same hour of the week (a day: the same weekday) in
  up to :data:`WEEKS` previous weeks; the range is a 95 % interval for one
  window, Poisson widened by the cell's own overdispersion (the median
  scaled χ² of its windows, at least 1) and by the mean's uncertainty;
- latency: the median of the same quantile at the same hour of day over the
  previous 7 days (a day: the previous 7 days); the range is the lowest and
  highest of them;
- error rate, status and traffic shares: the pooled share over the previous
  7 days; the range is the 95 % binomial interval of a window of this size.

The engine does the grouping (one scan per segment attribute, counted by
status, plus one for the quantiles); Python adds the normal, on a few
thousand rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import stats

from seismo.errors import ConfigError
from seismo.metrics.windows import cutoff
from seismo.store.read import Store

__all__ = [
    "METRICS",
    "OPERATIONS_SCHEMA",
    "WEEKS",
    "OpsPeriod",
    "compute_operations",
    "is_success",
]

OpsPeriod = Literal["hour", "day"]
#: Weeks of the same hour-of-week a volume is compared with.
WEEKS = 4
#: The operations figures, in the order they are listed.
METRICS = (
    "volume",
    "traffic_share",
    "latency_p50",
    "latency_p95",
    "latency_p99",
    "error_rate",
    "status_share",
)
_QUANTILES = {"latency_p50": 0.5, "latency_p95": 0.95, "latency_p99": 0.99}
#: The columns that name a cell (null: all versions / all predictions).
_KEYS = ("model_name", "model_version", "attribute", "value")
_ALL = "\x00"
_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
_TRUNC = {"hour": "h", "day": "D"}
#: Status values that mean the request was answered (compared trimmed, in lower case).
SUCCESS = frozenset({"ok", "success", "succeeded", "served", "true"})

OPERATIONS_SCHEMA = pa.schema(
    [
        ("metric", pa.string()),
        ("model_name", pa.string()),
        ("model_version", pa.string()),
        ("attribute", pa.string()),
        ("value", pa.string()),
        ("status", pa.string()),
        ("window_start", pa.timestamp("us")),
        ("window_end", pa.timestamp("us")),
        ("n", pa.int64()),
        ("events", pa.int64()),
        ("figure", pa.float64()),
        ("expected", pa.float64()),
        ("expected_low", pa.float64()),
        ("expected_high", pa.float64()),
        ("history", pa.int64()),
        ("final", pa.bool_()),
        ("as_of", pa.timestamp("us")),
    ]
)


def is_success(status: Any) -> bool | None:
    """Whether a request's status says it was answered (None: no status recorded).

    ``ok``/``success``/``served``, and HTTP codes 1xx-3xx, are successes;
    anything else (``error``, ``timeout``, ``500``) is a failure.

    >>> is_success("OK"), is_success("200"), is_success("timeout"), is_success("503")
    (True, True, False, False)
    >>> is_success(None), is_success("  ")
    (None, None)
    """
    if not isinstance(status, str) or not status.strip():  # None, or NaN from a frame
        return None
    s = status.strip().lower()
    if s.isdigit() and len(s) == 3:
        return s[0] in "123"
    return s in SUCCESS


def compute_operations(
    store: Store,
    *,
    as_of: datetime | None = None,
    period: OpsPeriod = "hour",
    by: Sequence[str] = (),
    since: datetime | None = None,
    versions: bool = True,
) -> pa.Table:
    """The operations figures per window × model × version × segment value, as of ``as_of``.

    ``period`` is ``hour`` or ``day``; ``by`` adds rows per value of these segment
    attributes; ``since`` keeps the windows from then on (their normal is still
    read from the weeks before). ``versions=False`` leaves out the per-version
    rows (latency, errors and shares of all versions together instead).

    >>> from seismo.store import open_store
    >>> store = open_store(":memory:")
    >>> compute_operations(store).num_rows
    0
    """
    if period not in _STEP:
        raise ConfigError(f"operations windows are 'hour' or 'day', not {period!r}")
    known = set(store.segments())
    unknown = [a for a in by if a not in known]
    if unknown:
        raise ConfigError(
            f"unknown segment attribute(s) {', '.join(map(repr, unknown))};"
            f" the store has {', '.join(sorted(known)) or 'none'}"
        )
    if not store.count("predictions"):
        return OPERATIONS_SCHEMA.empty_table()
    cut = cutoff(store, as_of)
    step = _STEP[period]
    first = None if since is None else _floor(since, period)
    # a volume is compared with the same hour of up to WEEKS previous weeks
    start = None if first is None else first - timedelta(weeks=WEEKS) - step
    counts, quantiles = _engine_rows(store, period, start, cut, list(by), versions)
    tables = [
        _volume(counts, period),
        _shares(counts, period),
        _latency(quantiles, period),
        _errors(counts, period),
    ]
    frame = pd.concat([t for t in tables if len(t)], ignore_index=True)
    if frame.empty:
        return OPERATIONS_SCHEMA.empty_table()
    frame["window_end"] = frame["window_start"] + step
    frame["final"] = frame["window_end"] <= cut
    frame["as_of"] = cut
    if first is not None:
        frame = frame[frame["window_start"] >= first]
    order = {m: i for i, m in enumerate(METRICS)}
    frame["_order"] = frame["metric"].map(order)
    frame = frame.sort_values(
        ["_order", "model_name", "model_version", "attribute", "value", "status", "window_start"],
        na_position="first",
        kind="stable",
    )
    for column in OPERATIONS_SCHEMA.names:
        if column not in frame:
            frame[column] = None
    frame = frame[OPERATIONS_SCHEMA.names].copy()
    for column in _KEYS:
        frame[column] = frame[column].map(_none)
    return pa.Table.from_pandas(frame, schema=OPERATIONS_SCHEMA, preserve_index=False)


def _floor(moment: datetime, period: OpsPeriod) -> datetime:
    if moment.tzinfo is not None:
        from datetime import UTC

        moment = moment.astimezone(UTC).replace(tzinfo=None)
    moment = moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if period == "day" else moment


def _engine_rows(
    store: Store,
    period: OpsPeriod,
    start: datetime | None,
    cut: datetime,
    by: list[str],
    versions: bool,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per window × model × version × segment value: requests by status, and latency quantiles."""
    p = store.predictions()
    p = (
        p.filter(p.served_at < cut)
        if start is None
        else p.filter((p.served_at >= start) & (p.served_at < cut))
    )
    p = p.mutate(window_start=p.served_at.truncate(_TRUNC[period]))
    keys = ["model_name", "model_version", "window_start", "attribute", "value"]
    counted, timed = [], []
    for attribute in [None, *by]:
        cells = p.mutate(
            attribute=ibis.literal(attribute, type="string") if attribute else ibis.null("string"),
            value=p[attribute].cast("string") if attribute else ibis.null("string"),
        )
        if not versions:
            cells = cells.mutate(model_version=ibis.null("string"))
        counted.append(cells.group_by([*keys, "status"]).aggregate(n=cells.count()))
        timed.append(
            cells.group_by(keys).aggregate(
                timed=cells.latency_ms.count(),
                **{m: cells.latency_ms.quantile(q) for m, q in _QUANTILES.items()},
            )
        )
    counts = ibis.union(*counted).to_pyarrow().to_pandas()
    quantiles = ibis.union(*timed).to_pyarrow().to_pandas()
    for frame in (counts, quantiles):
        frame["window_start"] = pd.to_datetime(frame["window_start"]).astype("datetime64[us]")
        # a sentinel for "all" / "none", so pandas groups them like any value
        frame.fillna({c: _ALL for c in _KEYS}, inplace=True)
    return counts, quantiles


# -- the figures and their normal --------------------------------------------------------


def _dense(series: pd.Series, period: OpsPeriod) -> pd.Series:
    """A window-indexed series with every window from the first to the last, missing = 0."""
    index = pd.date_range(series.index.min(), series.index.max(), freq=_STEP[period])
    return series.reindex(index, fill_value=0)


def _lags(values: np.ndarray, lags: Sequence[int]) -> np.ndarray:
    """Row i, column j: ``values[i - lags[j]]`` (NaN before the start)."""
    out = np.full((values.size, len(lags)), np.nan)
    for j, lag in enumerate(lags):
        if lag < values.size:
            out[lag:, j] = values[: values.size - lag]
    return out


def _none(v: Any) -> Any:
    return None if v == _ALL else v


def _volume(counts: pd.DataFrame, period: OpsPeriod) -> pd.DataFrame:
    """Predictions per window (all versions), against the same hour of previous weeks."""
    week = 168 if period == "hour" else 7
    total = counts.groupby(["model_name", "attribute", "value", "window_start"]).n.sum()
    out = []
    for (model, attribute, value), series in total.groupby(level=[0, 1, 2]):
        values = _dense(series.droplevel([0, 1, 2]), period)
        x = values.to_numpy(dtype=float)
        past = _lags(x, [week * k for k in range(1, WEEKS + 1)])
        history = np.sum(~np.isnan(past), axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            expected = np.where(
                history > 0, np.nansum(past, axis=1) / np.maximum(history, 1), np.nan
            )
            scale = expected * (1 + 1 / np.maximum(history, 1))
            ratio = (x - expected) ** 2 / scale
        usable = np.isfinite(ratio) & (expected >= 5)
        # the median of a χ² with one degree of freedom is 0.455: a robust dispersion
        phi = max(1.0, float(np.median(ratio[usable])) / 0.455) if usable.any() else 1.0
        spread = 1.96 * np.sqrt(phi * scale)
        out.append(
            pd.DataFrame(
                {
                    "metric": "volume",
                    "model_name": model,
                    "model_version": _ALL,
                    "attribute": attribute,
                    "value": value,
                    "window_start": values.index,
                    "n": x.astype(np.int64),
                    "events": x.astype(np.int64),
                    "figure": x,
                    "expected": expected,
                    "expected_low": np.maximum(expected - spread, 0.0),
                    "expected_high": expected + spread,
                    "history": history,
                }
            )
        )
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def _pooled_share(
    events: np.ndarray, n: np.ndarray, period: OpsPeriod
) -> tuple[np.ndarray, np.ndarray]:
    """Each window's share over the previous 7 days (pooled), and how many windows had any."""
    days = 168 if period == "hour" else 7
    ce = np.concatenate([[0.0], np.cumsum(events)])
    cn = np.concatenate([[0.0], np.cumsum(n)])
    idx = np.arange(events.size)
    lo = np.maximum(idx - days, 0)
    past_e, past_n = ce[idx] - ce[lo], cn[idx] - cn[lo]
    had = np.concatenate([[0], np.cumsum(n > 0)])
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(past_n > 0, past_e / past_n, np.nan)
    return share, (had[idx] - had[lo]).astype(np.int64)


def _binomial_range(p: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 95 % range of a share over ``n`` requests whose rate is ``p``."""
    ok = np.isfinite(p) & (n > 0)
    pp, nn = np.where(ok, p, 0.0), np.where(ok, n, 1)
    low = stats.binom.ppf(0.025, nn, pp) / nn
    high = stats.binom.ppf(0.975, nn, pp) / nn
    return np.where(ok, low, np.nan), np.where(ok, high, np.nan)


def _share_rows(
    metric: str, frame: pd.DataFrame, period: OpsPeriod, status: str | None = None
) -> list[pd.DataFrame]:
    """Rows of a share (``part`` over ``whole`` per window) with its pooled 7-day normal."""
    out = []
    for key, g in frame.groupby(list(_KEYS)):
        g = g.set_index("window_start").sort_index()[["part", "whole"]]
        index = pd.date_range(g.index.min(), g.index.max(), freq=_STEP[period])
        g = g.reindex(index, fill_value=0)
        e, n = g["part"].to_numpy(float), g["whole"].to_numpy(float)
        normal, history = _pooled_share(e, n, period)
        low, high = _binomial_range(normal, n)
        keep = n > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            figure = e / n
        out.append(
            pd.DataFrame(
                {
                    "metric": metric,
                    **dict(zip(_KEYS, key, strict=True)),
                    "status": status,
                    "window_start": index[keep],
                    "n": n[keep].astype(np.int64),
                    "events": e[keep].astype(np.int64),
                    "figure": figure[keep],
                    "expected": normal[keep],
                    "expected_low": low[keep],
                    "expected_high": high[keep],
                    "history": history[keep],
                }
            )
        )
    return out


def _shares(counts: pd.DataFrame, period: OpsPeriod) -> pd.DataFrame:
    """Each version's share of its model's predictions per window."""
    if (counts["model_version"] == _ALL).all():
        return pd.DataFrame()
    per = counts.groupby([*_KEYS, "window_start"]).n.sum().rename("part").reset_index()
    whole = ["model_name", "attribute", "value", "window_start"]
    per = per.merge(per.groupby(whole).part.sum().rename("whole").reset_index(), on=whole)
    rows = _share_rows("traffic_share", per, period)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def _errors(counts: pd.DataFrame, period: OpsPeriod) -> pd.DataFrame:
    """The error rate per window, and each failing status's share."""
    success = counts["status"].map(is_success)
    known = counts[success.notna()].copy()
    if known.empty:
        return pd.DataFrame()
    known["failed"] = np.where(success[success.notna()].astype(bool), 0, known["n"])
    keys = [*_KEYS, "window_start"]
    per = known.groupby(keys).agg(whole=("n", "sum"), part=("failed", "sum")).reset_index()
    rows = _share_rows("error_rate", per, period)
    for status in sorted(known.loc[known["failed"] > 0, "status"].unique()):
        of = known[known["status"] == status].groupby(keys).n.sum().rename("part")
        merged = per[[*keys, "whole"]].merge(of.reset_index(), on=keys, how="left")
        merged["part"] = merged["part"].fillna(0)
        rows += _share_rows("status_share", merged, period, status)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def _latency(quantiles: pd.DataFrame, period: OpsPeriod) -> pd.DataFrame:
    """Latency quantiles per window, against the same hour of day over the previous 7 days."""
    quantiles = quantiles[quantiles["timed"] > 0]
    if quantiles.empty:
        return pd.DataFrame()
    lags = [24 * k for k in range(1, 8)] if period == "hour" else list(range(1, 8))
    out = []
    for key, g in quantiles.groupby(list(_KEYS)):
        g = g.set_index("window_start").sort_index()[["timed", *_QUANTILES]]
        index = pd.date_range(g.index.min(), g.index.max(), freq=_STEP[period])
        g = g.reindex(index)
        keep = g["timed"].notna().to_numpy()
        n = g["timed"].fillna(0).to_numpy(np.int64)
        for metric in _QUANTILES:
            x = g[metric].to_numpy(float)
            past = _lags(x, lags)
            history = np.sum(~np.isnan(past), axis=1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # windows without history
                expected = np.nanmedian(past, axis=1)
                low, high = np.nanmin(past, axis=1), np.nanmax(past, axis=1)
            out.append(
                pd.DataFrame(
                    {
                        "metric": metric,
                        **dict(zip(_KEYS, key, strict=True)),
                        "window_start": index[keep],
                        "n": n[keep],
                        "events": n[keep],
                        "figure": x[keep],
                        "expected": expected[keep],
                        "expected_low": low[keep],
                        "expected_high": high[keep],
                        "history": history[keep],
                    }
                )
            )
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()
