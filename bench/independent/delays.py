"""Outcome delay distributions, in days, truncated to an outcome window.

A :class:`Delay` is a frozen spec (log-normal, Weibull, gamma, exponential, an
empirical sample, or a mixture of those) with the two things both users need:
the generator draws delays from it *conditional on falling inside the
window* (the rate of an outcome is its in-window rate, so the planted rates
are exact), and the oracle reads its CDF, conditional on the same window, to
know how much of a cohort's truth has arrived at each age.

The specs parse from short strings, so a command line can name them:
``none``, ``exponential:2`` (mean 2 days), ``lognormal:1.5,0.9`` (median,
sigma), ``weibull:0.6,2.5`` (shape, scale), ``gamma:2.2,30`` (shape, mean),
``empirical:delays.txt`` (one delay in days a line).

>>> d = Delay.parse("lognormal:2,0.5")
>>> round(float(d.cdf(2.0, window=12.0)), 3)
0.5
>>> draws = d.sample(np.random.default_rng(0), 1000, window=3.0)
>>> bool(draws.max() <= 3.0), round(float(np.median(draws)), 2)
(True, 1.8)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import stats

__all__ = ["Delay", "Mixture", "mixture"]

Kind = Literal["none", "exponential", "lognormal", "weibull", "gamma", "empirical"]
Floats = NDArray[np.float64]


@dataclass(frozen=True)
class Delay:
    """One delay distribution in days; ``a``/``b`` are its two parameters (see :meth:`parse`)."""

    kind: Kind
    a: float = 0.0
    b: float = 0.0
    samples: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.kind == "empirical" and not self.samples:
            raise ValueError("an empirical delay needs samples")
        if self.kind in ("exponential", "lognormal", "weibull", "gamma") and self.a <= 0:
            raise ValueError(f"{self.kind} delay: first parameter must be > 0, got {self.a}")
        if self.kind in ("lognormal", "weibull", "gamma") and self.b <= 0:
            raise ValueError(f"{self.kind} delay: second parameter must be > 0, got {self.b}")

    @classmethod
    def parse(cls, text: str) -> Delay:
        """``none``, ``exponential:MEAN``, ``lognormal:MEDIAN,SIGMA``, ``weibull:SHAPE,SCALE``,
        ``gamma:SHAPE,MEAN`` or ``empirical:FILE`` (delays in days, one a line)."""
        kind, _, args = text.partition(":")
        if kind == "none":
            return cls("none")
        if kind == "empirical":
            values = np.loadtxt(Path(args), dtype=np.float64, ndmin=1)
            return cls("empirical", samples=tuple(float(v) for v in values))
        numbers = [float(v) for v in args.split(",") if v]
        if kind not in ("exponential", "lognormal", "weibull", "gamma") or not numbers:
            raise ValueError(f"cannot read delay {text!r} (see Delay.parse)")
        return cls(kind, numbers[0], numbers[1] if len(numbers) > 1 else 0.0)  # type: ignore[arg-type]

    def _dist(self) -> stats.rv_continuous:
        if self.kind == "exponential":
            return stats.expon(scale=self.a)
        if self.kind == "lognormal":
            return stats.lognorm(s=self.b, scale=self.a)
        if self.kind == "weibull":
            return stats.weibull_min(c=self.a, scale=self.b)
        return stats.gamma(a=self.a, scale=self.b / self.a)

    def raw_cdf(self, t: Floats | float) -> Floats:
        """P(delay <= t), not truncated."""
        t = np.asarray(t, dtype=np.float64)
        if self.kind == "none":
            return np.where(t >= 0, 1.0, 0.0)
        if self.kind == "empirical":
            s = np.sort(np.asarray(self.samples))
            return np.searchsorted(s, t, side="right") / s.size
        return np.asarray(self._dist().cdf(t), dtype=np.float64)

    def cdf(self, t: Floats | float, *, window: float) -> Floats:
        """P(delay <= t | delay <= window): how much of the in-window truth is in at age t."""
        mass = float(self.raw_cdf(window))
        if mass <= 0:
            raise ValueError(f"{self}: no mass inside the window of {window} days")
        return np.minimum(self.raw_cdf(np.minimum(t, window)) / mass, 1.0)

    def sample(self, rng: np.random.Generator, size: int, *, window: float) -> Floats:
        """Delays drawn conditional on ``<= window`` (inverse CDF on the truncated range)."""
        if self.kind == "none":
            return np.zeros(size)
        if self.kind == "empirical":
            s = np.asarray(self.samples)
            s = s[s <= window]
            return np.asarray(rng.choice(s, size=size), dtype=np.float64)
        u = rng.uniform(0.0, float(self.raw_cdf(window)), size=size)
        return np.minimum(np.asarray(self._dist().ppf(u), dtype=np.float64), window)

    @property
    def label(self) -> str:
        """A short text for tables: ``lognormal(2,0.5)``."""
        if self.kind == "none":
            return "none"
        if self.kind == "empirical":
            return f"empirical(n={len(self.samples)})"
        return f"{self.kind}({_g(self.a)},{_g(self.b)})" if self.b else f"{self.kind}({_g(self.a)})"


@dataclass(frozen=True)
class Mixture:
    """A mixture of delays: component ``i`` with weight ``weights[i]`` (before truncation)."""

    parts: tuple[Delay, ...]
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.parts) != len(self.weights) or not self.parts:
            raise ValueError("a mixture needs one weight per part")
        if any(w < 0 for w in self.weights) or not math.isclose(sum(self.weights), 1.0):
            raise ValueError(f"mixture weights must be >= 0 and sum to 1, got {self.weights}")

    def raw_cdf(self, t: Floats | float) -> Floats:
        return np.asarray(
            sum(w * p.raw_cdf(t) for p, w in zip(self.parts, self.weights, strict=True))
        )

    def cdf(self, t: Floats | float, *, window: float) -> Floats:
        mass = float(self.raw_cdf(window))
        return np.minimum(self.raw_cdf(np.minimum(t, window)) / mass, 1.0)

    def sample(self, rng: np.random.Generator, size: int, *, window: float) -> Floats:
        # Inside the window each part's weight is its weight times its mass there.
        inside = np.array([w * float(p.raw_cdf(window)) for p, w in self._pairs()])
        which = rng.choice(len(self.parts), size=size, p=inside / inside.sum())
        out = np.empty(size)
        for i, part in enumerate(self.parts):
            mask = which == i
            out[mask] = part.sample(rng, int(mask.sum()), window=window)
        return out

    def _pairs(self) -> list[tuple[Delay, float]]:
        return list(zip(self.parts, self.weights, strict=True))

    @property
    def label(self) -> str:
        return "+".join(f"{_g(w)}*{p.label}" for p, w in self._pairs())


def mixture(*pairs: tuple[float, Delay]) -> Mixture:
    """``mixture((0.3, fast), (0.7, slow))``."""
    return Mixture(tuple(p for _, p in pairs), tuple(w for w, _ in pairs))


def _g(x: float) -> str:
    return f"{x:g}"
