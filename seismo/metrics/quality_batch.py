"""Classifier quality of many cells at once: realized values, standard errors, CBPE estimates.

:func:`~seismo.metrics.quality.evaluate_quality` computes thousands of window ×
segment × model version cells in one call; cell by cell, Python overhead and
validation cost far more than the arithmetic. Here the cells of a call are one
:class:`BinStack` (per-bin sums as 2-D arrays, cells × bins) and each figure is
computed for all of them at once, with the per-cell formulas
(:func:`~seismo.metrics.classification.metrics` and
:func:`~seismo.metrics.classification.fold` take leading axes).

The per-cell functions stay the reference: on ``stack.cell(i)``,
``classification.realized``, ``std_errors.classification_std_errors`` and
``cbpe.estimate`` give what :func:`realized`, :func:`std_errors` and
:func:`estimates` give for cell ``i``, estimates included: each cell draws
from its own seeded stream, so its figures do not depend on which cells are
computed beside it (``tests/test_quality_batch.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from seismo.metrics.cbpe import Calibration, draw_positives, estimator_name, summarise
from seismo.metrics.classification import (
    METRICS,
    Estimate,
    FloatArray,
    Labelled,
    Pending,
    ScoreBins,
    fold,
    metrics,
    threshold_bin,
)
from seismo.metrics.std_errors import ece_std_error

__all__ = ["BinStack", "estimates", "expected", "realized", "std_errors"]

#: ScoreBins' field of each Labelled / Pending field, in their order.
_OWN = (
    "pos",
    "neg",
    "pos_predicted",
    "neg_predicted",
    "sum_score_pos",
    "sum_score_neg",
    "sum_sq_score_pos",
    "sum_sq_score_neg",
    "sum_log_s_pos",
    "sum_log_1ms_neg",
    "sum_sq_log_s_pos",
    "sum_sq_log_1ms_neg",
)
_PEND = (
    "pend",
    "pend_predicted",
    "sum_score_pend",
    "sum_sq_score_pend",
    "sum_log_s_pend",
    "sum_log_1ms_pend",
    "sum_sq_log_s_pend",
    "sum_sq_log_1ms_pend",
)
_COUNTS = frozenset({"pos", "neg", "pend", "pos_predicted", "neg_predicted", "pend_predicted"})
_PREDICTED = {"pos_predicted": "pos", "neg_predicted": "neg", "pend_predicted": "pend"}
#: Draws × bins × cells per block of CBPE work: about 25 arrays of this many floats
#: are alive at once (~100 MB at 2^19).
BLOCK = 2**19


@dataclass(frozen=True, eq=False)
class BinStack:
    """Many cells' :class:`~seismo.metrics.classification.ScoreBins`, as cells × bins arrays.

    ``own`` holds the labelled rows' sums and ``pend`` the pending rows', as
    floats (counts are whole). Build it with :meth:`from_arrays`, which checks
    the whole stack once as ScoreBins checks one cell, or :meth:`from_cells`.

    >>> a = ScoreBins.from_arrays([0.1, 0.4, 0.6, 0.9], [0, 1, 1, float("nan")])
    >>> b = ScoreBins.from_arrays([0.2, 0.7], [1, 0])
    >>> stack = BinStack.from_cells([a, b])
    >>> len(stack), stack.bins, stack.n_labelled.tolist(), stack.n_pending.tolist()
    (2, 100, [3.0, 2.0], [1.0, 0.0])
    >>> stack.cell(1).n_labelled, len(stack.take(np.array([1])))
    (2, 1)
    """

    own: Labelled
    pend: Pending
    threshold: float = 0.5

    def __post_init__(self) -> None:
        shape = self.own.pos.shape
        if len(shape) != 2 or any(a.shape != shape for a in (*self.own, *self.pend)):
            raise ValueError(f"every array must be 2-D (cells × bins) of one shape, got {shape}")
        threshold_bin(self.threshold, shape[1])

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, ArrayLike], *, threshold: float = 0.5) -> BinStack:
        """A stack from one cells × bins array per ScoreBins field (predicted counts included).

        Float arrays are taken as they are, not copied (a stack of thousands of
        cells is large), and made read-only.

        >>> ones = np.ones((3, 10))
        >>> arrays = {name: ones for name in (*_OWN, *_PEND)}
        >>> BinStack.from_arrays(arrays).n_labelled.tolist()
        [20.0, 20.0, 20.0]
        >>> BinStack.from_arrays({**arrays, "pend_predicted": 2 * ones})
        Traceback (most recent call last):
        ...
        ValueError: pend_predicted cannot exceed pend in any bin (cell 0)
        """
        missing = sorted(set(_OWN + _PEND) - set(arrays))
        if missing:
            raise ValueError(f"missing arrays: {', '.join(missing)}")
        out: dict[str, FloatArray] = {}
        for name in (*_OWN, *_PEND):
            arr = np.asarray(arrays[name], dtype=np.float64)  # float arrays are not copied
            if arr.ndim != 2:
                raise ValueError(f"{name} must be 2-D (cells × bins), got shape {arr.shape}")
            bad = ~np.isfinite(arr)
            what = "be finite"
            if name in _COUNTS:
                bad |= (arr < 0) | (arr != np.round(arr))
                what = "hold non-negative whole counts"
            _refuse(bad, f"{name} must {what}")
            arr.flags.writeable = False
            out[name] = arr
        for name, whole in _PREDICTED.items():
            if out[name].shape == out[whole].shape:
                _refuse(out[name] > out[whole], f"{name} cannot exceed {whole} in any bin")
        return cls(Labelled(*(out[n] for n in _OWN)), Pending(*(out[n] for n in _PEND)), threshold)

    @classmethod
    def from_cells(cls, cells: Sequence[ScoreBins]) -> BinStack:
        """The cells stacked in order; they must share their bins and threshold.

        >>> rng = np.random.default_rng(0)
        >>> s = rng.uniform(size=300)
        >>> y = (rng.uniform(size=300) < s) * 1.0
        >>> cells = [ScoreBins.from_arrays(s[:k], y[:k]) for k in (100, 300)]
        >>> stack = BinStack.from_cells(cells)
        >>> stack.n_labelled.tolist(), bool(np.all(stack.cell(1).pos == cells[1].pos))
        ([100.0, 300.0], True)
        """
        if not cells:
            raise ValueError("cannot stack no cells")
        if len({(c.bins, c.threshold) for c in cells}) > 1:
            raise ValueError("only cells with the same bins and threshold can be stacked")
        arrays = {n: np.stack([getattr(c, n) for c in cells]) for n in (*_OWN, *_PEND)}
        return cls.from_arrays(arrays, threshold=cells[0].threshold)

    def __len__(self) -> int:
        return int(self.own.pos.shape[0])

    @property
    def bins(self) -> int:
        """Number of score bins."""
        return int(self.own.pos.shape[1])

    @property
    def n_labelled(self) -> FloatArray:
        """Rows whose label has arrived, per cell."""
        total: FloatArray = self.own.pos.sum(-1) + self.own.neg.sum(-1)
        return total

    @property
    def n_pending(self) -> FloatArray:
        """Rows still waiting for their label, per cell."""
        total: FloatArray = self.pend.n.sum(-1)
        return total

    def take(self, rows: ArrayLike) -> BinStack:
        """The stack of the cells at ``rows`` (indices or a boolean mask)."""
        idx = np.asarray(rows)
        return BinStack(
            Labelled(*(a[idx] for a in self.own)),
            Pending(*(a[idx] for a in self.pend)),
            self.threshold,
        )

    def cell(self, i: int) -> ScoreBins:
        """Cell ``i`` as a ScoreBins (validated again, as any ScoreBins)."""
        arrays = dict(zip(_OWN, (a[i] for a in self.own), strict=True))
        arrays.update(zip(_PEND, (a[i] for a in self.pend), strict=True))
        return ScoreBins(**arrays, threshold=self.threshold)


def _refuse(bad: np.ndarray, message: str) -> None:
    if bad.any():
        raise ValueError(f"{message} (cell {int(np.argwhere(bad)[0][0])})")


def realized(stack: BinStack) -> dict[str, FloatArray]:
    """Every metric on the labelled rows only, per cell (``classification.realized``'s values).

    >>> cell = ScoreBins.from_arrays([0.1, 0.4, 0.6, 0.9], [0, 1, 1, 0])
    >>> realized(BinStack.from_cells([cell, cell]))["accuracy"].tolist()
    [0.5, 0.5]
    """
    return metrics(stack.own)


def expected(stack: BinStack, probability: FloatArray) -> Labelled:
    """Each cell with its pending rows of bin ``b`` counted ``p_b`` positive (``cbpe.expected``).

    >>> cell = ScoreBins.from_arrays([0.3, 0.7, 0.7], [0, 1, float("nan")], bins=10)
    >>> e = expected(BinStack.from_cells([cell]), np.full(10, 0.25))
    >>> e.pos.sum(-1).tolist(), e.tp.sum(-1).tolist()
    ([1.25], [1.25])
    """
    flagged = stack.pend.flagged
    other = stack.pend.n - flagged
    return fold(stack.own, stack.pend, flagged * probability, other * probability)


def std_errors(stack: BinStack, probability: FloatArray | None = None) -> dict[str, FloatArray]:
    """Every metric's standard error per cell (``classification_std_errors``' values).

    With ``probability``, pending rows count as their expected labels (the
    error of the final value); without, they are left out. NaN where the
    per-cell function gives NaN.

    >>> rng = np.random.default_rng(1)
    >>> s = rng.uniform(size=5000)
    >>> cell = ScoreBins.from_arrays(s, (rng.uniform(size=5000) < s) * 1.0)
    >>> se = std_errors(BinStack.from_cells([cell]))
    >>> round(float(se["accuracy"][0]), 4), round(float(se["roc_auc"][0]), 4)
    (0.0062, 0.0058)
    """
    c = stack.own if probability is None else expected(stack, probability)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = metrics(c)
        p, q = c.pos.sum(-1), c.neg.sum(-1)
        n = p + q
        tp, fp = c.tp.sum(-1), c.fp.sum(-1)
        fn = p - tp
        score, score_sq = c.ssp.sum(-1) + c.ssn.sum(-1), c.sqp.sum(-1) + c.sqn.sum(-1)
        ratio = value["calibration_in_the_large"]
        resid = score_sq - 2 * ratio * c.ssp.sum(-1) + ratio * ratio * p
        brier = p - 2 * c.ssp.sum(-1) + c.sqp.sum(-1) + c.sqn.sum(-1)
        out = {
            "accuracy": _binomial(value["accuracy"], n),
            "precision": _binomial(value["precision"], tp + fp),
            "recall": _binomial(value["recall"], p),
            "specificity": _binomial(value["specificity"], q),
            "f1": _f1(tp, fp, fn),
            "roc_auc": _auc(c.pos, c.neg),
            "log_loss": _mean(-(c.lsp.sum(-1) + c.l1n.sum(-1)), c.lsp2.sum(-1) + c.l1n2.sum(-1), n),
            "brier": _mean(brier, _brier_squares(c), n),
            "calibration_error": ece_std_error(c),
            "calibration_in_the_large": np.where(
                (p >= 1) & np.isfinite(ratio), np.sqrt(np.maximum(resid, 0.0)) / p, np.nan
            ),
            "mean_score": _mean(score, score_sq, n),
            "positive_rate": _binomial(value["positive_rate"], n),
        }
    return {m: np.where(n >= 2, out[m], np.nan) for m in METRICS}


def _binomial(share: FloatArray, n: FloatArray) -> FloatArray:
    ok = np.isfinite(share) & (n >= 1)
    return np.where(ok, np.sqrt(np.maximum(share * (1.0 - share), 0.0) / n), np.nan)


def _f1(tp: FloatArray, fp: FloatArray, fn: FloatArray) -> FloatArray:
    d = 2 * tp + fp + fn
    ok = (d > 0) & (tp + fp + fn >= 2)
    # Python's pow, as f1_std_error: NumPy's vectorised pow can differ in the last bit.
    d4 = np.fromiter((x**4 for x in d.tolist()), dtype=np.float64, count=d.size)
    return np.where(ok, np.sqrt(np.maximum(4 * tp * (fp + fn) * (tp + fp + fn), 0.0) / d4), np.nan)


def _mean(total: FloatArray, total_sq: FloatArray, n: FloatArray) -> FloatArray:
    mean = total / n
    return np.where(n >= 2, np.sqrt(np.maximum(total_sq / n - mean * mean, 0.0) / n), np.nan)


def _auc(pos: FloatArray, neg: FloatArray) -> FloatArray:
    """DeLong's error of the binned AUC per cell, Hanley & McNeil's below two of a class."""
    p, q = pos.sum(-1), neg.sum(-1)
    pc, qc = p[:, None], q[:, None]
    v10 = (np.cumsum(neg, axis=-1) - neg + 0.5 * neg) / qc
    v01 = (pc - np.cumsum(pos, axis=-1) + 0.5 * pos) / pc
    auc = (pos * v10).sum(-1) / p
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = auc * (1 - auc) + (p - 1) * (q1 - auc * auc) + (q - 1) * (q2 - auc * auc)
    hanley = np.sqrt(np.maximum(var, 0.0) / (p * q))
    s10 = (pos * (v10 - auc[:, None]) ** 2).sum(-1) / (p - 1)
    s01 = (neg * (v01 - auc[:, None]) ** 2).sum(-1) / (q - 1)
    delong = np.sqrt(s10 / p + s01 / q)
    return np.where((p < 1) | (q < 1), np.nan, np.where((p < 2) | (q < 2), hanley, delong))


def _used_bins(stack: BinStack) -> np.ndarray:
    """Cells × bins: does the bin hold any row (labelled or pending) of the cell?"""
    return np.asarray((stack.own.pos + stack.own.neg + stack.pend.n) > 0)


def _blocks(
    todo: np.ndarray, used: np.ndarray, draws: int, block: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cells in blocks of at most ``block`` draws × bins, each cell's used bins only.

    A day of one segment holds a few hundred rows over a hundred score bins,
    most of them empty; an empty bin adds nothing to any metric's sums, so
    the draws are made over each cell's used bins, in their order (the same
    bins are drawn from the same stream, so the draws do not change). Cells
    of similar width share a block; each block's cells are padded to its
    widest (in whole lanes of 8) with an empty bin (index ``bins``). Returns (cell indices, cells ×
    width indices of the bins kept).
    """
    if todo.size == 0:
        return []
    bins = used.shape[1]
    # whole lanes of 8: NumPy sums 8 lanes at a time, so trailing empty lanes leave every
    # sum exactly as it was and a cell's figures do not depend on its block's neighbours
    widths = -(-np.maximum(used.sum(axis=1), 1) // 8) * 8
    order = todo[np.argsort(widths[todo], kind="stable")]
    out = []
    start = 0
    while start < order.size:
        width = int(widths[order[start]])
        stop = start + 1
        while stop < order.size:
            wider = max(width, int(widths[order[stop]]))
            if (stop - start + 1) * draws * wider > block:
                break
            width, stop = wider, stop + 1
        rows = order[start:stop]
        where = np.full((rows.size, width), bins, dtype=np.int64)
        for j, i in enumerate(rows):
            kept = np.flatnonzero(used[i])
            where[j, : kept.size] = kept
        out.append((rows, where))
        start = stop
    return out


def _compact(sub: BinStack, where: np.ndarray) -> tuple[Labelled, Pending]:
    """``sub``'s cells' sums on the bins ``where`` names (``bins``: an appended empty bin)."""

    def pick(a: FloatArray) -> FloatArray:
        return np.take_along_axis(np.pad(a, ((0, 0), (0, 1))), where, axis=1)

    return Labelled(*(pick(a) for a in sub.own)), Pending(*(pick(a) for a in sub.pend))


def _brier_squares(c: Labelled) -> FloatArray:
    """sum (s - y)^4 per cell (``std_errors._brier_squares`` on leading axes)."""
    m_pos, m_neg = c.ssp / c.pos, c.ssn / c.neg
    v_pos = np.maximum(c.sqp / c.pos - m_pos**2, 0.0)
    v_neg = np.maximum(c.sqn / c.neg - m_neg**2, 0.0)
    u = 1.0 - m_pos
    pos = np.where(c.pos > 0, c.pos * (u**4 + 6 * u**2 * v_pos), 0.0)
    neg = np.where(c.neg > 0, c.neg * (m_neg**4 + 6 * m_neg**2 * v_neg), 0.0)
    total: FloatArray = pos.sum(-1) + neg.sum(-1)
    return total


def estimates(
    stack: BinStack,
    calibration: Calibration,
    seeds: Sequence[int],
    *,
    level: float = 0.9,
    draws: int = 2000,
    block: int = BLOCK,
    probability: FloatArray | None = None,
) -> list[dict[str, Estimate]]:
    """Each cell's CBPE estimates (``cbpe.estimate`` with the cell's own ``seeds[i]``).

    ``probability``: a pending row's chance of being positive per bin, for
    every cell (cells × bins) or all (bins); by default the calibration's.

    The pending labels of each cell are drawn from its own seeded stream, as
    ``cbpe.estimate`` draws them; the metrics of the draws are computed for
    blocks of cells at once, each block holding at most ``block`` draws × bins
    × cells per array (memory stays bounded whatever the number of cells).

    >>> rng = np.random.default_rng(0)
    >>> s = rng.uniform(size=50_000)
    >>> from seismo.metrics.cbpe import fit_calibration
    >>> cal = fit_calibration(ScoreBins.from_arrays(s, (rng.uniform(size=s.size) < s) * 1.0))
    >>> cell = ScoreBins.from_arrays(s[:1000], np.full(1000, np.nan))
    >>> e = estimates(BinStack.from_cells([cell]), cal, [0])[0]["accuracy"]
    >>> e.estimator, round(e.estimate, 3), round(e.low, 3), round(e.high, 3)
    ('cbpe', 0.746, 0.726, 0.767)
    """
    if calibration.bins != stack.bins:
        raise ValueError(f"calibration has {calibration.bins} bins, the cells {stack.bins}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    if not isinstance(draws, int) or draws < 1:
        raise ValueError(f"draws must be a positive integer, got {draws!r}")
    if len(seeds) != len(stack):
        raise ValueError(f"one seed per cell: {len(seeds)} seeds for {len(stack)} cells")
    p = np.broadcast_to(
        calibration.probability if probability is None else probability,
        (len(stack), stack.bins),
    )
    point = metrics(expected(stack, p))
    labelled, waiting = stack.n_labelled, stack.n_pending
    out: list[dict[str, Estimate]] = [{} for _ in range(len(stack))]
    for i in np.flatnonzero(waiting == 0):
        out[i] = {
            m: Estimate(float(v[i]), float(v[i]), float(v[i]), "realized") for m, v in point.items()
        }
    todo = np.flatnonzero(waiting > 0)
    used = _used_bins(stack)
    for rows, where in _blocks(todo, used, draws, block):
        sub_own, sub_pend = _compact(stack.take(rows), where)
        width = where.shape[1]
        cell_p = np.take_along_axis(np.pad(p[rows], ((0, 0), (0, 1))), where, axis=1)
        flagged = np.empty((rows.size, draws, width))
        positives = np.empty_like(flagged)
        for j, i in enumerate(rows):
            rng = np.random.default_rng(seeds[i])
            pend, pend_flagged = (
                sub_pend.n[j].astype(np.int64),
                sub_pend.flagged[j].astype(np.int64),
            )
            flagged[j], positives[j] = draw_positives(pend, pend_flagged, cell_p[j], draws, rng)
        own = Labelled(*(a[:, None, :] for a in sub_own))
        pending = Pending(*(a[:, None, :] for a in sub_pend))
        sims = metrics(fold(own, pending, flagged, positives - flagged))
        del flagged, positives
        for j, i in enumerate(rows):
            name = estimator_name(float(labelled[i]), calibration)
            cell_point = {m: v[i] for m, v in point.items()}
            out[i] = summarise(cell_point, {m: v[j] for m, v in sims.items()}, level, name)
    return out
