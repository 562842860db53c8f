"""Drift statistics computed from histograms (never from raw rows).

Each function compares a production histogram with the reference's and returns
:class:`Stat` rows: the test statistic, its p-value where the method has one,
and an effect size with bands that do not grow with the sample (so a million
rows do not make every feature "drifted").

Numeric features (bins at the reference's percentiles, see
:mod:`seismo.metrics.histograms`):

``ks``
    Kolmogorov–Smirnov D, the largest gap between the two CDFs, read at the bin
    edges. Binning can only hide part of a gap inside a bin, so
    ``D_binned ≤ D_exact ≤ D_binned + max_i max(p_i, q_i)`` (``p_i``, ``q_i``
    the bins' shares). p-value: as SciPy's ``ks_2samp(method="asymp")``
    computes it from D, or (for large samples) Stephens' approximation of
    that, ``Q((√n_e + 0.12 + 0.11/√n_e)·D)``, ``n_e = nm/(n+m)``.
``wasserstein``
    Earth mover's distance between the two distributions, integrating the gap
    between the quantile functions, taken linear inside each bin (between its
    edges; below and above the reference's range, up to the window's minimum
    and maximum). The error is at most ``Σ (p_i + q_i)·width_i``. Effect: the
    distance in reference standard deviations.
``psi``
    Population stability index over the reference's deciles (fine bins merged
    by reference share; out-of-range values join the end deciles), shares
    floored at 1e-4. p-value from PSI·(1/n + 1/m)⁻¹ ~ χ²(B − 1) (Yurdakul
    2018). Bands: 0.1 (moderate) and 0.25 (major), the industry's.
``out_of_range``
    Share of values outside the reference's [min, max]; two-proportion test.

Categorical features: ``chi2`` (Pearson's test on the 2 × K table of
counts, as ``scipy.stats.chi2_contingency`` gives it without correction; effect:
Cohen's w against the reference's shares), ``psi`` over categories, ``js``
(Jensen–Shannon distance, base 2, as ``scipy.spatial.distance.jensenshannon``;
its p-value is the χ² test's) and ``unseen`` (share of values the reference
never had). Both kinds: ``missing`` (change of the missing share;
two-proportion test).

Effect bands (warning, critical) are chosen to agree with PSI's 0.1 / 0.25 for
a small shift: a PSI of 0.1 is a mean shift of about 0.3 standard deviations,
which is a KS D of 0.12, a Cohen's w of 0.3 and a JS distance of 0.13.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from seismo.metrics.histograms import Histogram

__all__ = [
    "BANDS",
    "Stat",
    "bin_ranges",
    "categorical_stats",
    "concentration",
    "jensen_shannon",
    "ks_p",
    "missing_stat",
    "numeric_stats",
    "psi",
    "severity",
    "two_proportions",
]

#: Effect bands per method: (warning, critical).
BANDS: dict[str, tuple[float, float]] = {
    "psi": (0.1, 0.25),
    "ks": (0.12, 0.2),
    "wasserstein": (0.3, 0.5),
    "chi2": (0.3, 0.5),
    "js": (0.13, 0.2),
    "stability": (0.13, 0.2),
    "missing": (0.05, 0.2),
    "out_of_range": (0.02, 0.1),
    "unseen": (0.02, 0.1),
    "low_confidence": (0.1, 0.2),
    "gini": (0.1, 0.2),
    "top1pct_share": (0.5, 1.0),
    "pca_reconstruction": (0.1, 0.25),
}
PSI_FLOOR = 1e-4
PSI_BINS = 10


@dataclass(frozen=True)
class Stat:
    """One method's verdict on one feature in one window."""

    method: str
    statistic: float
    p_value: float | None
    effect: float
    reference_value: float | None = None
    current_value: float | None = None


def severity(method: str, effect: float) -> str:
    """``critical``, ``warning`` or ``none`` for an effect size, by the method's bands.

    >>> severity("psi", 0.3), severity("psi", 0.12), severity("psi", 0.05)
    ('critical', 'warning', 'none')
    """
    warning, critical = BANDS[method]
    size = abs(effect)
    return "critical" if size >= critical else "warning" if size >= warning else "none"


def psi(p: np.ndarray, q: np.ndarray) -> float:
    """PSI of shares ``q`` against reference shares ``p`` (floored at 1e-4).

    >>> round(psi(np.array([0.5, 0.5]), np.array([0.6, 0.4])), 4)
    0.0405
    """
    p = np.maximum(p, PSI_FLOOR)
    q = np.maximum(q, PSI_FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def _psi_p(value: float, n: float, m: float, bins: int) -> float:
    if bins < 2 or n <= 0 or m <= 0:
        return 1.0
    return float(special.chdtrc(bins - 1, value / (1.0 / n + 1.0 / m)))


def ks_p(d: float, n: float, m: float) -> float:
    """Two-sided p-value of the two-sample KS statistic ``d``.

    SciPy's ``kstwo`` (what ``ks_2samp(method="asymp")`` uses) below an
    effective size of 1,000; above, Stephens' approximation of it, which is
    within 5e-3 and a hundred times cheaper.
    """
    en = n * m / (n + m)
    if en < 1000:
        from scipy import stats

        return float(stats.kstwo.sf(d, max(1, round(en))))
    root = math.sqrt(en)
    return float(special.kolmogorov((root + 0.12 + 0.11 / root) * d))


def two_proportions(x1: float, n1: float, x2: float, n2: float) -> float:
    """Two-sided p-value of the pooled two-proportion z-test."""
    if n1 <= 0 or n2 <= 0:
        return 1.0
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0 if x1 / n1 == x2 / n2 else 0.0
    return float(special.erfc(abs(x1 / n1 - x2 / n2) / se / math.sqrt(2)))


def missing_stat(ref: Histogram, cur: Histogram) -> Stat:
    """Change of the share of missing values."""
    n_ref, n_cur = ref.n + ref.missing, cur.n + cur.missing
    r = ref.missing / n_ref if n_ref else 0.0
    c = cur.missing / n_cur if n_cur else 0.0
    p = two_proportions(cur.missing, n_cur, ref.missing, n_ref)
    return Stat("missing", c, p, c - r, r, c)


def _dense(h: Histogram, size: int) -> np.ndarray:
    out = np.zeros(size)
    for b, n in h.counts.items():
        out[int(b)] += n
    return out


def numeric_stats(ref: Histogram, cur: Histogram, edges: list[float]) -> list[Stat]:
    """KS, Wasserstein, PSI and out-of-range for a numeric feature."""
    size = len(edges) + 2
    rc, cc = _dense(ref, size), _dense(cur, size)
    n, m = rc.sum(), cc.sum()
    if n == 0 or m == 0:
        return []
    p, q = rc / n, cc / m
    gap = np.abs(np.cumsum(p) - np.cumsum(q))
    d = float(gap.max())
    p_ks = ks_p(d, n, m)
    out = [Stat("ks", d, p_ks, d)]

    w = _wasserstein(ref, cur, edges, p, q)
    sd = ref.sd or 0.0
    out.append(Stat("wasserstein", w, p_ks, w / sd if sd > 0 else 0.0))

    group = _decile_groups(p)
    gp = np.bincount(group, weights=p, minlength=group.max() + 1)
    gq = np.bincount(group, weights=q, minlength=group.max() + 1)
    value = psi(gp, gq)
    out.append(Stat("psi", value, _psi_p(value, n, m, len(gp)), value))

    outside_ref, outside_cur = rc[0] + rc[-1], cc[0] + cc[-1]
    share = outside_cur / m
    out.append(
        Stat(
            "out_of_range",
            share,
            two_proportions(outside_cur, m, outside_ref, n),
            share - outside_ref / n,
            outside_ref / n,
            share,
        )
    )
    ref_mean, cur_mean = ref.mean, cur.mean
    out = [
        Stat(s.method, s.statistic, s.p_value, s.effect, ref_mean, cur_mean)
        if s.method in ("ks", "wasserstein", "psi")
        else s
        for s in out
    ]
    return out


def _decile_groups(p: np.ndarray) -> np.ndarray:
    """Map fine bins to about ten groups of equal reference share (out-of-range to the ends)."""
    before = np.concatenate([[0.0], np.cumsum(p)[:-1]])
    group = np.minimum((before * PSI_BINS + 1e-9).astype(np.int64), PSI_BINS - 1)
    _, dense = np.unique(group, return_inverse=True)
    return np.asarray(dense, dtype=np.int64)


def bin_ranges(h: Histogram, edges: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Each bin's (low, high): the edges inside the range, the cell's min / max outside it."""
    lo = np.array([edges[0], *edges[:-1], edges[-1], edges[-1]], dtype=float)
    hi = np.array([edges[0], *edges[1:], edges[-1], edges[-1]], dtype=float)
    if h.low is not None and h.high is not None:
        lo[0] = min(h.low, edges[0])
        hi[-1] = max(h.high, edges[-1])
    return lo, hi


def _wasserstein(
    ref: Histogram, cur: Histogram, edges: list[float], p: np.ndarray, q: np.ndarray
) -> float:
    """∫|F⁻¹ − G⁻¹| du with each quantile function linear inside a bin's observed range."""
    size = len(p)
    lo_p, hi_p = bin_ranges(ref, edges)
    lo_q, hi_q = bin_ranges(cur, edges)
    cp, cq = np.cumsum(p), np.cumsum(q)
    knots = np.unique(np.concatenate([[0.0], cp, cq, [1.0]]))
    knots = knots[(knots >= 0) & (knots <= 1)]
    u0, u1 = knots[:-1], knots[1:]
    mid = (u0 + u1) / 2

    def quantile(c: np.ndarray, share: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> Any:
        b = np.minimum(np.searchsorted(c, mid, side="right"), size - 1)
        start = c[b] - share[b]
        frac0 = np.where(share[b] > 0, (u0 - start) / np.where(share[b] > 0, share[b], 1), 0)
        frac1 = np.where(share[b] > 0, (u1 - start) / np.where(share[b] > 0, share[b], 1), 0)
        width = hi[b] - lo[b]
        return lo[b] + width * np.clip(frac0, 0, 1), lo[b] + width * np.clip(frac1, 0, 1)

    f0, f1 = quantile(cp, p, lo_p, hi_p)
    g0, g1 = quantile(cq, q, lo_q, hi_q)
    d0, d1 = f0 - g0, f1 - g1
    du = u1 - u0
    same = d0 * d1 >= 0
    area_same = du * (np.abs(d0) + np.abs(d1)) / 2
    denom = np.where(same, 1.0, np.abs(d0) + np.abs(d1))
    area_cross = du * (d0**2 + d1**2) / (2 * denom)
    return float(np.sum(np.where(same, area_same, area_cross)))


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance in base 2 (as ``scipy.spatial.distance.jensenshannon``).

    >>> jensen_shannon(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    1.0
    """
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))

    return math.sqrt(max(0.0, (kl(p) + kl(q)) / 2))


def categorical_stats(ref: Histogram, cur: Histogram) -> list[Stat]:
    """χ², PSI, Jensen–Shannon and unseen categories for a categorical feature."""
    cats = sorted({str(k) for k in ref.counts} | {str(k) for k in cur.counts})
    rc = np.array([ref.counts.get(c, 0.0) for c in cats])
    cc = np.array([cur.counts.get(c, 0.0) for c in cats])
    n, m = rc.sum(), cc.sum()
    if n == 0 or m == 0:
        return []
    p, q = rc / n, cc / m
    out: list[Stat] = []
    keep = (rc + cc) > 0
    if keep.sum() >= 2:
        table = np.vstack([rc[keep], cc[keep]])
        expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
        chi2 = float(np.sum((table - expected) ** 2 / expected))
        chi_p = float(special.chdtrc(table.shape[1] - 1, chi2))
        floored = np.maximum(p, PSI_FLOOR)
        w = math.sqrt(float(np.sum((q - floored) ** 2 / floored)))
        out.append(Stat("chi2", chi2, chi_p, w))
    else:
        chi_p = 1.0
    value = psi(p, q)
    out.append(Stat("psi", value, _psi_p(value, n, m, len(cats)), value))
    js = jensen_shannon(p, q)
    out.append(Stat("js", js, float(chi_p), js if math.isfinite(js) else 0.0))
    unseen = float(cc[rc == 0].sum())
    out.append(
        Stat("unseen", unseen / m, two_proportions(unseen, m, 0.0, n), unseen / m, 0.0, unseen / m)
    )
    return out


def concentration(counts: np.ndarray) -> tuple[float, float]:
    """(Gini coefficient, share of impressions of the top 1 % of items) of item counts.

    >>> concentration(np.array([1.0, 1.0, 1.0, 1.0]))
    (0.0, 0.25)
    """
    x = np.sort(counts[counts > 0])
    if x.size == 0:
        return 0.0, 0.0
    k = np.arange(1, x.size + 1)
    gini = float(np.sum((2 * k - x.size - 1) * x) / (x.size * x.sum()))
    top = max(1, math.ceil(0.01 * x.size))
    return gini, float(x[-top:].sum() / x.sum())
