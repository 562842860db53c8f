"""Model quality (classification or regression) per window × segment, as of any moment.

Reads the model-quality passes of the stored cohort state: per score bin (for
classifiers) the members, and the labelled positives and negatives with their
score and log sums; per cell (for regressors) the error sums. The cut-off is
applied in the engine exactly as for the rates; Python stacks every cell's
score bins into one :class:`~seismo.metrics.quality_batch.BinStack` (computed
for all cells at once, as the per-cell
:class:`~seismo.metrics.classification.ScoreBins` functions would one by one)
or rebuilds each cell's :class:`~seismo.metrics.regression.RegressionSums`,
and computes:

* realized values once every label of the window is in (``estimator`` =
  ``confirmed``);
* otherwise, for classifiers, a confidence-based estimate of the final value
  (CBPE, with probabilities recalibrated on mature labelled data, and the
  calibration checked there: ``cbpe`` or ``realized+cbpe``, with
  ``(uncalibrated)`` appended when the check fails), and for regressors the
  confirmed value with an interval that assumes pending rows are like
  labelled ones.

A row whose label never arrived within its window is a negative for an
*event* outcome (no click is a no) and drops out for a *label* outcome (an
unlabelled loan is unknown, not good).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import ibis
import numpy as np
import pandas as pd

from seismo.config import OutcomeType
from seismo.metrics import cbpe
from seismo.metrics import classification as clf
from seismo.metrics import quality_batch as batch
from seismo.metrics import regression as reg
from seismo.metrics.cohorts import AGGREGATE, SCORE_BINS, cohort_state, quality_key
from seismo.metrics.label_delays import LabelDelays, label_delays
from seismo.metrics.std_errors import regression_std_errors
from seismo.store.read import Store

if TYPE_CHECKING:
    from seismo.metrics.windows import Windows

__all__ = [
    "CLASSIFIER_METRICS",
    "RANKER_METRICS",
    "REGRESSION_METRICS",
    "evaluate_quality",
    "pooled_bins",
]

#: For a scored event (a click probability) the threshold metrics mean little.
RANKER_METRICS = ("roc_auc", "log_loss", "calibration_error", "calibration_in_the_large")
#: A classifier with labels: the threshold metrics (on the served decision, else the
#: score at the threshold), the score's quality, and the label's own observed and
#: predicted rates (a default rate going from 8% to 23% in one region is news).
CLASSIFIER_METRICS = (
    "accuracy",
    "precision",
    "recall",
    "specificity",
    "f1",
    "roc_auc",
    "log_loss",
    "brier",
    "calibration_error",
    "calibration_in_the_large",
    "positive_rate",
    "mean_score",
)
REGRESSION_METRICS = ("mae", "rmse", "mape", "bias")
#: Shares (shown as %); every other quality figure is a score.
_SHARES = frozenset({"positive_rate", "mean_score"})
_LABELS = {
    "accuracy": "accuracy",
    "precision": "precision",
    "recall": "recall",
    "specificity": "specificity",
    "f1": "F1",
    "roc_auc": "ROC AUC",
    "log_loss": "log loss",
    "brier": "Brier score",
    "calibration_error": "calibration error",
    "calibration_in_the_large": "predicted / observed rate",
    "positive_rate": "rate",
    "mean_score": "predicted rate",
    "mae": "mean absolute error",
    "rmse": "RMSE",
    "mape": "MAPE",
    "bias": "bias",
}
#: The state's sums each kind of pass reads (of :data:`~seismo.metrics.cohorts.QUALITY_SUMS`).
_CLASSIFIER_SUMS = ("n", "s", "s2", "ls", "l1s", "ls2", "l1s2")
_REGRESSION_SUMS = ("n", "s", "e", "e1", "e2", "e4", "ep", "ep2", "npct")
#: Monte-Carlo finals drawn per cell whose labels are pending, for CBPE's predictive
#: interval: the 5 % and 95 % quantiles of 300 draws are the 15th from each end (their
#: coverage within about 1.3 points of 90 %); a store with months of pending labels has
#: thousands of such cells, and the draws are most of its check's time.
CBPE_DRAWS = 300
#: A cell: ((window start, window end), model version, attribute, value).
Cell = tuple[tuple[datetime, datetime], Any, str, Any]


def _groups(
    store: Store,
    key: str,
    window_s: int,
    cut: datetime,
    windows: Windows,
    sums: tuple[str, ...],
    *,
    aggregate_only: bool = False,
) -> pd.DataFrame:
    """Per window start × version × segment × stratum × closed: the population's sums
    (``pop_*``) and the live labelled positives' and negatives' (``pos_*``, ``neg_*``).

    Regression passes read only ``pop_n`` of the population; ``aggregate_only``
    reads the aggregate cell's groups (every row, no segment) and no other.
    """
    s, window = cohort_state(store, windows)
    s = s.mutate(window_start=window)
    s = s.filter((s.pass_key == key) & (s.served_hour < cut))
    if aggregate_only:
        s = s.filter(s.attribute == AGGREGATE)
    live = (s.obs_hour <= cut) & (s.sup_hour.isnull() | (s.sup_hour > cut))
    expired = (s.served_hour + ibis.interval(seconds=window_s + 3600)) <= cut
    zero = ibis.literal(0.0)
    aggs: dict[str, Any] = {}
    for kind, cond in (
        ("pop", s.kind == "pop"),
        ("pos", (s.kind == "pos") & live),
        ("neg", (s.kind == "neg") & live),
    ):
        for col in ("n",) if kind == "pop" and sums == _REGRESSION_SUMS else sums:
            aggs[f"{kind}_{col}"] = ibis.ifelse(cond, s[col].cast("float64"), zero).sum()
    grouped = s.group_by(
        window_start=s.window_start,
        model_version=s.model_version,
        attribute=s.attribute,
        value=s.value,
        stratum=s.stratum,
        closed=expired,
    ).aggregate(**aggs)
    return grouped.to_pyarrow().to_pandas()


_BIN_ARRAYS = (
    "pos",
    "neg",
    "pend",
    "sum_score_pos",
    "sum_score_neg",
    "sum_score_pend",
    "sum_sq_score_pos",
    "sum_sq_score_neg",
    "sum_sq_score_pend",
    "sum_log_s_pos",
    "sum_log_1ms_neg",
    "sum_log_s_pend",
    "sum_log_1ms_pend",
    "sum_sq_log_s_pos",
    "sum_sq_log_1ms_neg",
    "sum_sq_log_s_pend",
    "sum_sq_log_1ms_pend",
    "pos_predicted",
    "neg_predicted",
    "pend_predicted",
)
_COUNT_ARRAYS = frozenset(
    {"pos", "neg", "pend", "pos_predicted", "neg_predicted", "pend_predicted"}
)


def _bin_columns(df: pd.DataFrame, event: bool, first_positive: int) -> dict[str, np.ndarray]:
    """Per engine group, its contribution to each ScoreBins array (vectorised).

    A group's stratum is its score bin + SCORE_BINS × decision slot (see
    :data:`seismo.metrics.cohorts.DECISION_SLOTS`): predicted positive when the
    model served a positive decision, or served none and the bin is at or above
    the threshold's (``first_positive``).
    """
    closed = df["closed"].to_numpy(dtype=bool)
    code = df["stratum"].astype(int).to_numpy()
    score_bin, slot = code % SCORE_BINS, code // SCORE_BINS
    flagged = np.where((slot == 2) | ((slot == 0) & (score_bin >= first_positive)), 1.0, 0.0)
    open_ = {
        c: (df[f"pop_{c}"] - df[f"pos_{c}"] - df[f"neg_{c}"]).to_numpy()
        for c in ("n", "s", "s2", "ls", "l1s", "ls2", "l1s2")
    }
    pend = np.where(closed, 0.0, 1.0)
    # An event whose window closed without it is a negative; an absent label is unknown.
    extra_neg = np.where(closed, 1.0, 0.0) if event else np.zeros(len(df))
    out = {
        "pos": df["pos_n"].to_numpy(),
        "neg": df["neg_n"].to_numpy() + extra_neg * open_["n"],
        "pend": pend * open_["n"],
        "sum_score_pos": df["pos_s"].to_numpy(),
        "sum_score_neg": df["neg_s"].to_numpy() + extra_neg * open_["s"],
        "sum_score_pend": pend * open_["s"],
        "sum_sq_score_pos": df["pos_s2"].to_numpy(),
        "sum_sq_score_neg": df["neg_s2"].to_numpy() + extra_neg * open_["s2"],
        "sum_sq_score_pend": pend * open_["s2"],
        "sum_log_s_pos": df["pos_ls"].to_numpy(),
        "sum_log_1ms_neg": df["neg_l1s"].to_numpy() + extra_neg * open_["l1s"],
        "sum_log_s_pend": pend * open_["ls"],
        "sum_log_1ms_pend": pend * open_["l1s"],
        "sum_sq_log_s_pos": df["pos_ls2"].to_numpy(),
        "sum_sq_log_1ms_neg": df["neg_l1s2"].to_numpy() + extra_neg * open_["l1s2"],
        "sum_sq_log_s_pend": pend * open_["ls2"],
        "sum_sq_log_1ms_pend": pend * open_["l1s2"],
    }
    for name in ("pos", "neg", "pend"):
        out[f"{name}_predicted"] = flagged * out[name]
    return out


def _scatter(
    ids: np.ndarray, bins: np.ndarray, values: dict[str, np.ndarray], size: int
) -> dict[str, np.ndarray]:
    """Sum the groups' values into cells × bins arrays, in row order (bincount adds in order)."""
    flat = ids * SCORE_BINS + bins
    out = {}
    for name in _BIN_ARRAYS:
        total = np.bincount(flat, weights=values[name], minlength=size * SCORE_BINS)
        out[name] = total.reshape(size, SCORE_BINS)
    return out


def _stack(acc: dict[str, np.ndarray], threshold: float) -> batch.BinStack:
    # Counts are sums of whole numbers; rounding removes float dust from subtraction.
    arrays = {k: (np.rint(v) if k in _COUNT_ARRAYS else v) for k, v in acc.items()}
    return batch.BinStack.from_arrays(arrays, threshold=threshold)


def evaluate_quality(
    store: Store,
    otype: OutcomeType,
    cut: datetime,
    windows: Windows,
    by: list[str] | None,
    level: float,
    threshold: float = 0.5,
) -> list[dict[str, Any]]:
    """Result rows (the schema of :data:`seismo.metrics.compute.RESULT_SCHEMA`).

    ``threshold``: where the model served no decision, a score at or above it
    is a predicted positive (a bin edge, see :class:`~seismo.metrics.spec.MetricsConfig`).
    Every row carries ``std_error``, the sampling error of its final value
    (:mod:`seismo.metrics.std_errors`).
    """
    window_s = int(otype.window.total_seconds())
    value = otype.kind == "value"
    sums = _REGRESSION_SUMS if value else _CLASSIFIER_SUMS
    df = _groups(store, quality_key(otype.name), window_s, cut, windows, sums)
    if df.empty:
        return []
    if value:
        rows = _regression(df, otype, cut, windows, by, level)
    else:
        delays = None
        if otype.kind != "event":  # an event's negatives are known only as its window closes
            delays = label_delays(store, quality_key(otype.name), window_s, cut)
        rows = _classifier(df, otype, cut, windows, by, level, threshold, delays)
    # The outcome as its model's words name it ("default_90d" → "default": "Default rate").
    title = store.words().column(otype.name)
    title = title[:1].upper() + title[1:]
    for r in rows:
        r["label"] = f"{title} {_LABELS[r['metric'][len(otype.name) + 1 :]]}"
    return rows


def pooled_bins(
    store: Store, otype: OutcomeType, cut: datetime, threshold: float = 0.5
) -> clf.ScoreBins | None:
    """Every scored prediction served before ``cut`` as one cell, its labels as known at ``cut``.

    The aggregate cell (no segment) over every window and model version, read
    from the same stored score bins as :func:`evaluate_quality` (a few hundred
    engine groups, never the rows): what the engineering view draws its
    confusion matrix, ROC, PR and calibration curves from. None when the
    outcome's model scored nothing.
    """
    from seismo.metrics.windows import Windows

    df = _groups(
        store,
        quality_key(otype.name),
        int(otype.window.total_seconds()),
        cut,
        Windows(store, "day", None, cut),
        _CLASSIFIER_SUMS,
        aggregate_only=True,
    )
    if df.empty:
        return None
    values = _bin_columns(df, otype.kind == "event", clf.threshold_bin(threshold, SCORE_BINS))
    score_bin = df["stratum"].astype(int).to_numpy() % SCORE_BINS
    one = np.zeros(len(df), dtype=np.int64)
    return _stack(_scatter(one, score_bin, values, 1), threshold).cell(0)


def _classifier_cells(
    df: pd.DataFrame,
    event: bool,
    threshold: float,
    windows: Windows,
    by: list[str] | None,
    cut: datetime,
) -> tuple[list[Cell], list[bool], batch.BinStack, clf.ScoreBins]:
    """The engine groups as cells: their keys, whether each window is over, their bins
    stacked, and the mature bins."""
    first_positive = clf.threshold_bin(threshold, SCORE_BINS)
    values = _bin_columns(df, event, first_positive)
    score_bin = df["stratum"].astype(int).to_numpy() % SCORE_BINS
    # Calibration learns from settled labels: for a label outcome every label that
    # arrived is final; for an event only closed windows know their negatives.
    learn = ((df["attribute"] == "*") & (df["closed"] | (not event))).to_numpy()
    mature = _scatter(
        np.zeros(int(learn.sum()), dtype=np.int64),
        score_bin[learn],
        {k: v[learn] for k, v in values.items()},
        1,
    )
    keep = np.ones(len(df), dtype=bool)
    if by is not None:
        keep = df["attribute"].isin(["*", *by]).to_numpy()
    ids, cells, closed = _cell_ids(df[keep], windows, cut)
    values = {k: v[keep] for k, v in values.items()}
    stack = _stack(_scatter(ids, score_bin[keep], values, len(cells)), threshold)
    return cells, closed, stack, _stack(mature, threshold).cell(0)


def _classifier(
    df: pd.DataFrame,
    otype: OutcomeType,
    cut: datetime,
    windows: Windows,
    by: list[str] | None,
    level: float,
    threshold: float,
    delays: LabelDelays | None = None,
) -> list[dict[str, Any]]:
    """Rows of a classifier's cells; ``delays``: a label outcome's per-class label delays.

    A label outcome's rows also carry ``observed_value``: the metric on the
    labels in so far, each class weighed back to its final share
    (:mod:`seismo.metrics.label_delays`), which the detector tests beside the
    estimate. With ``delays``, the estimate's pending rows take the chance of
    being positive that what is still pending at their age implies.
    """
    event = otype.kind == "event"
    cells, closed, stack, mature = _classifier_cells(df, event, threshold, windows, by, cut)
    names = RANKER_METRICS if event else CLASSIFIER_METRICS
    calibration = None
    if mature.n_labelled:
        calibration = cbpe.fit_calibration(mature, min_rows=min(1000, mature.n_labelled))
    labelled, pending = stack.n_labelled, stack.n_pending
    confirmed = batch.realized(stack)
    errors = batch.std_errors(stack)  # right for settled cells, replaced for the others
    waiting = np.flatnonzero(pending > 0)
    ages = _ages(cells, cut)
    so_far = None if event else _so_far(stack, delays, ages)
    for column in errors.values():
        column[waiting] = math.nan  # no final value without a calibration, no error of it
    found: dict[int, dict[str, clf.Estimate]] = {}
    if calibration is not None and waiting.size:
        open_ = stack.take(waiting)
        p = calibration.probability
        if delays is not None:
            p = delays.pending_probability(p[None, :], ages[waiting])
        _put(errors, waiting, batch.std_errors(open_, p))
        seeds = [_seed(cells[i]) for i in waiting]
        estimated = batch.estimates(
            open_, calibration, seeds, level=level, draws=CBPE_DRAWS, probability=p
        )
        found = dict(zip(waiting.tolist(), estimated, strict=True))
    none = {k: clf.Estimate(math.nan, math.nan, math.nan, "none") for k in clf.METRICS}
    out = []
    for i, cell in enumerate(cells):
        n_labelled, n_pending = int(labelled[i]), int(pending[i])
        n = n_labelled + n_pending
        if n == 0:
            continue
        value = {m: float(confirmed[m][i]) for m in names}
        se = {m: float(errors[m][i]) for m in names}
        if n_pending == 0:
            est = {k: clf.Estimate(v, v, v, "confirmed") for k, v in value.items()}
        else:  # without a calibration: no final value, no error of it
            est = found.get(i, none)
        rows = _rows(otype, names, cell, closed[i], n, n_labelled, n_pending, value, est, cut, se)
        if so_far is not None:
            for r in rows:
                r["observed_value"] = _num(so_far[r["metric"][len(otype.name) + 1 :]][i])
        out.extend(rows)
    return out


def _ages(cells: list[Cell], cut: datetime) -> np.ndarray:
    """Each cell's age at ``cut`` in whole days, from the middle of its window."""
    return np.array(
        [max(0, int((cut - (start + (end - start) / 2)).total_seconds() // 86400))
         for (start, end), *_ in cells],
        dtype=np.int64,
    )  # fmt: skip


def _so_far(
    stack: batch.BinStack, delays: LabelDelays | None, ages: np.ndarray
) -> dict[str, np.ndarray]:
    """Every metric on the labels in so far, positives weighed by ``delays`` at each age."""
    if delays is None:
        return batch.realized(stack)
    w = delays.weight(ages)[:, None]
    own = stack.own
    weighed = own._replace(
        pos=own.pos * w, tp=own.tp * w, ssp=own.ssp * w, sqp=own.sqp * w,
        lsp=own.lsp * w, lsp2=own.lsp2 * w,
    )  # fmt: skip
    with np.errstate(divide="ignore", invalid="ignore"):
        return clf.metrics(weighed)


def _put(into: dict[str, np.ndarray], rows: np.ndarray, values: dict[str, np.ndarray]) -> None:
    for name, column in values.items():
        into[name][rows] = column


def _regression(
    df: pd.DataFrame,
    otype: OutcomeType,
    cut: datetime,
    windows: Windows,
    by: list[str] | None,
    level: float,
) -> list[dict[str, Any]]:
    if by is not None:
        df = df[df["attribute"].isin(["*", *by])]
    ids, cells, closed = _cell_ids(df, windows, cut)

    def total(values: pd.Series[float]) -> np.ndarray:  # in row order, as a loop would add
        return np.bincount(ids, weights=values.to_numpy(), minlength=len(cells))

    acc = {col: total(df[f"pos_{col}"] + df[f"neg_{col}"]) for col in _REGRESSION_SUMS}
    pending_rows = total((df["pop_n"] - df["pos_n"] - df["neg_n"]).where(~df["closed"], 0.0))
    out = []
    for i, cell in enumerate(cells):
        n = round(acc["n"][i])
        pending = round(pending_rows[i])
        if n + pending == 0:
            continue
        sums = reg.RegressionSums(
            n=n,
            sum_abs_err=acc["e1"][i],
            sum_sq_err=acc["e2"][i],
            sum_abs_pct_err=acc["ep"][i],
            n_pct=round(acc["npct"][i]),
            sum_y=acc["s"][i] - acc["e"][i],
            sum_yhat=acc["s"][i],
            n_pending=pending,
            sum_quartic_err=acc["e4"][i],
            sum_sq_pct_err=acc["ep2"][i],
        )
        confirmed = reg.realized(sums) if n else dict.fromkeys(REGRESSION_METRICS, math.nan)
        est = (
            reg.estimate(sums, level=level)
            if n
            else {k: clf.Estimate(math.nan, math.nan, math.nan, "none") for k in REGRESSION_METRICS}
        )
        se = regression_std_errors(sums)
        out.extend(
            _rows(
                otype,
                REGRESSION_METRICS,
                cell,
                closed[i],
                n + pending,
                n,
                pending,
                confirmed,
                est,
                cut,
                se,
            )
        )
    return out


def _cell_ids(
    df: pd.DataFrame, windows: Windows, cut: datetime
) -> tuple[np.ndarray, list[Cell], list[bool]]:
    """Each engine group's cell, the cells in the order the groups first show them, and
    whether each cell's window is over (``window_start`` is the engine's window key)."""
    keys = ["window_start", "model_version", "attribute", "value"]
    ids = df[keys].groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    first = df[keys].drop_duplicates(keys).to_dict("records")
    cells: list[Cell] = [
        (windows.span(r["window_start"], r["model_version"]), *(r[k] for k in keys[1:]))
        for r in first
    ]
    closed = [windows.closed(r["window_start"], r["model_version"], cut) for r in first]
    return ids, cells, closed


def _rows(
    otype: OutcomeType,
    names: tuple[str, ...],
    cell: tuple[Any, ...],
    closed: bool,
    n: int,
    labelled: int,
    pending: int,
    confirmed: dict[str, float],
    est: dict[str, clf.Estimate],
    cut: datetime,
    std_errors: dict[str, float],
) -> list[dict[str, Any]]:
    (start, end), version, attribute, value = cell
    final_at = end + otype.window + timedelta(hours=1)
    out = []
    for name in names:
        e = est[name]
        estimator = {"realized": "confirmed"}.get(e.estimator, e.estimator)
        out.append(
            {
                "metric": f"{otype.name}_{name}",
                "label": f"{otype.name.replace('_', ' ').capitalize()} {_LABELS[name]}",
                "unit": "share" if name in _SHARES else "score",
                "attribute": None if attribute == "*" else attribute,
                "value": None if attribute == "*" else value,
                "model_version": version,
                "window_start": start,
                "window_end": end,
                "n": int(n),
                "confirmed_n": int(labelled),
                "pending_n": int(pending),
                "confirmed_value": _num(confirmed[name]),
                "observed_value": None,
                "estimate": _num(e.estimate),
                "estimate_low": _num(e.low),
                "estimate_high": _num(e.high),
                "estimator": estimator,
                "std_error": _num(std_errors.get(name, math.nan)),
                "final": bool(pending == 0 and closed),
                "final_at": final_at,
                "as_of": cut,
            }
        )
    return out


def _num(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _seed(cell: tuple[Any, ...]) -> int:
    import zlib

    return zlib.crc32(repr(cell).encode())
