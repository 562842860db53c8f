"""Multivariate drift: a window's mean PCA reconstruction error against the reference's spread.

The PCA is fitted once on the reference (:mod:`seismo.metrics.reconstruction`);
each window's mean reconstruction error is averaged in the engine. A window
whose inputs keep the reference's joint structure is reconstructed as well as
the reference was; when features change how they vary together (even with
unchanged marginals), the components no longer fit and the error rises.

The threshold is NannyML's: the mean ``m`` of the reference's chunk means
± 3 of their standard deviations. Chunks and windows differ in size, so the
spread is scaled to the window's: ``sd_n = sd_chunk · √(chunk_rows / n)``
(the mean of ``n`` rows varies as ``1/√n``). It is never closer to ``m``
than the method's warning band (a 10 % change), or a day of a million rows
would cross it by a change nobody needs to hear about; so a window crosses
the threshold exactly when its effect reaches the band while chance is ruled
out. The drift row (method ``pca_reconstruction``, feature :data:`FEATURE`)
has the shape of every other drift row: the statistic is the window's mean
error, the effect its relative change against ``m`` (bands in
:data:`seismo.detect.drift_stats.BANDS`: 10 % warns, 25 % is critical), the
p-value the two-sided normal tail of ``(mean − m) / sd_n``, and ``detail``
the thresholds and the fit's size.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from seismo.detect.drift_stats import BANDS, Stat
from seismo.metrics.reconstruction import PcaFit, mean_errors

__all__ = ["FEATURE", "LABEL", "METHOD", "SIGMAS", "reconstruction_stat", "window_errors"]

#: The drift table's feature name for all inputs together.
FEATURE = "(multivariate)"
LABEL = "All inputs together"
METHOD = "pca_reconstruction"
#: Standard deviations of the reference's chunk means the threshold lies at.
SIGMAS = 3.0


def reconstruction_stat(fit: PcaFit, n: int, mean: float) -> tuple[Stat, dict[str, Any]]:
    """The drift statistic of a window of ``n`` rows whose mean error is ``mean``.

    >>> fit = PcaFit((), (), 0.7, 5000, 1000, 10, chunk_mean=1.0, chunk_sd=0.08)
    >>> s, limits = reconstruction_stat(fit, 4000, 1.2)
    >>> round(s.effect, 3), limits["upper"], s.p_value < 1e-6
    (0.2, 1.12, True)
    >>> reconstruction_stat(fit, 1_000_000, 1.05)[1]["upper"]  # never nearer than the band
    1.1
    """
    sd = fit.chunk_sd * math.sqrt(fit.chunk_rows / n) if n > 0 else math.inf
    z = (mean - fit.chunk_mean) / sd if sd > 0 else 0.0
    p = math.erfc(abs(z) / math.sqrt(2)) if math.isfinite(z) else 1.0
    effect = mean / fit.chunk_mean - 1.0 if fit.chunk_mean > 0 else 0.0
    band = BANDS[METHOD][0] * fit.chunk_mean
    limits = {
        "upper": round(fit.chunk_mean + max(SIGMAS * sd, band), 12),
        "lower": round(fit.chunk_mean - max(SIGMAS * sd, band), 12),
        "components": len(fit.components),
        "inputs": len(fit.features),
        "explained": round(fit.explained, 6),
        "chunk_rows": fit.chunk_rows,
        "chunks": fit.chunks,
    }
    return Stat(METHOD, mean, p, effect, fit.chunk_mean, mean), limits


def window_errors(
    engine_kind: str, query: Any, rows: Any, *, window: Any, fit: PcaFit
) -> Iterator[tuple[Any, str | None, int, Stat, str]]:
    """Per window × model version of ``rows``: (start, version, n, stat, detail as JSON)."""
    means = mean_errors(
        engine_kind, query, rows, window=window, version=rows.model_version, fit=fit
    )
    for (start, version), (n, mean) in sorted(
        means.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))
    ):
        stat, limits = reconstruction_stat(fit, n, mean)
        yield start, None if version is None else str(version), n, stat, json.dumps(limits)
