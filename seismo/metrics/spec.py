"""Which quality metrics to compute, declared apart from how they are computed.

A :class:`RateMetric` is "positives of an outcome over a population": the
click-through rate (clicks per recommendation), purchase conversion (per
recommendation, or per click with ``given="click"``), the return rate (per
purchase: an outcome type with a parent is always measured per parent
positive) and revenue per recommendation (purchases weighted by a column,
``weight="price_eur"``). Each is a frozen spec with a stable ``key`` for the
engine query it needs, so metrics that share a query (conversion and revenue)
share one pass.

:func:`default_metrics` derives the set from the declared outcome types; the
seed scenario gets its five business metrics with business names.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seismo.config import OutcomeType
from seismo.errors import ConfigError
from seismo.metrics.classification import SCORE_BINS, threshold_bin

__all__ = ["MetricsConfig", "RateMetric", "default_metrics", "load_metrics_config"]


@dataclass(frozen=True, kw_only=True)
class RateMetric:
    """Σ weight × [outcome happened] over the members of a population.

    ``given``: the population is the predictions whose ``given`` outcome
    happened (purchase per click). For an outcome type with a parent the
    population is the parent's positives and the maturity window counts from
    the parent event (a return within 14 days of the purchase).
    """

    name: str
    outcome: str
    label: str = ""
    given: str | None = None
    weight: str | None = None
    unit: str = "share"  # "share" (shown as %) or "amount" (shown as a number)

    @property
    def key(self) -> str:
        """The engine pass this metric reads: outcome and population."""
        return f"{self.outcome}|{self.given or ''}"

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ")


@dataclass(frozen=True, kw_only=True)
class MetricsConfig:
    """Metrics to compute and how delays are stratified for the nowcast.

    ``delay_strata``: a segment attribute whose values have their own delay
    distribution (older customers decide more slowly); the nowcast of every
    cell uses each pending row's own stratum's delays, so the aggregate is not
    biased toward fast deciders. None pools all rows.

    ``threshold``: the score at or above which a classifier's prediction counts
    as positive for accuracy, precision, recall, specificity and F1 where the
    model served no decision of its own (no ``label`` mapped, or an empty one).
    It must be an edge of the engine's 100 score bins (a multiple of 0.01).
    """

    metrics: tuple[RateMetric, ...]
    quality: tuple[str, ...] = ()  # outcomes the model's score predicts: model-quality metrics
    delay_strata: str | None = None
    segments: tuple[str, ...] | None = None  # None = every declared segment attribute
    #: Pairs of segment attributes kept too (None: every pair with few enough cells).
    pairs: tuple[tuple[str, str], ...] | None = None
    min_events_per_stratum: int = 100
    threshold: float = 0.5
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int | float):
            raise ConfigError(f"quality threshold must be a number, got {self.threshold!r}")
        try:
            threshold_bin(float(self.threshold), SCORE_BINS)
        except ValueError as exc:
            raise ConfigError(
                f"quality threshold {self.threshold!r}: it must lie strictly between 0 and 1 "
                f"on an edge of the {SCORE_BINS} score bins (a multiple of {1 / SCORE_BINS:g})"
            ) from exc
        object.__setattr__(self, "threshold", float(self.threshold))

    def outcome_of(self, metric: str) -> str | None:
        """The outcome a metric of this config is read from (None: not one of its metrics).

        A rate metric names its outcome; a model-quality metric is named
        ``<outcome>_<measure>`` for an outcome its score predicts.

        >>> rates = (RateMetric(name="conversion", outcome="purchase"),)
        >>> config = MetricsConfig(metrics=rates, quality=("click",))
        >>> config.outcome_of("conversion"), config.outcome_of("click_auc"), config.outcome_of("x")
        ('purchase', 'click', None)
        """
        for m in self.metrics:
            if m.name == metric:
                return m.outcome
        prefixes = [o for o in self.quality if metric.startswith(f"{o}_")]
        return max(prefixes, key=len) if prefixes else None

    def fingerprint(self) -> str:
        """Changes whenever a stored metric state built for this config becomes invalid."""
        parts = [repr(sorted(m.key for m in self.metrics)), repr(self.delay_strata)]
        parts.append(repr(sorted(self.quality)))
        weights = sorted({m.weight or "" for m in self.metrics})
        return "|".join([*parts, repr(weights), repr(self.segments)])


_SEED_NAMES = {
    ("click", None, None): ("click_through_rate", "Click-through"),
    ("purchase", None, None): ("purchase_conversion", "Purchase conversion"),
    ("purchase", "click", None): ("purchase_per_click", "Purchases per click"),
    ("return", None, None): ("return_rate", "Return rate"),
    ("purchase", None, "price_eur"): ("revenue_per_recommendation", "Revenue per recommendation"),
}


def default_metrics(
    types: dict[str, OutcomeType], attributes: dict[str, tuple[str, str]] | None = None
) -> MetricsConfig:
    """The metric set implied by the store's outcome types (and the seed scenario's names).

    Every event-kind outcome gets its rate; an outcome with a parent is a rate
    per parent; with both click and purchase declared, purchases per click too;
    with a ``price_eur`` feature, revenue per recommendation.
    """
    attributes = attributes or {}
    metrics: list[RateMetric] = []
    events = {n: t for n, t in types.items() if t.kind == "event"}
    for name in events:
        name_label = _SEED_NAMES.get((name, None, None), (f"{name}_rate", f"{name} rate"))
        metrics.append(RateMetric(name=name_label[0], outcome=name, label=name_label[1]))
    if "click" in events and "purchase" in events and not events["purchase"].parent:
        n, label = _SEED_NAMES[("purchase", "click", None)]
        metrics.append(RateMetric(name=n, outcome="purchase", given="click", label=label))
    if "purchase" in events and attributes.get("price_eur", ("", ""))[1] == "float":
        n, label = _SEED_NAMES[("purchase", None, "price_eur")]
        metrics.append(
            RateMetric(name=n, outcome="purchase", weight="price_eur", label=label, unit="amount")
        )
    # The seed scenario's slow deciders are the older customers: stratify delays by age.
    strata = "age_group" if attributes.get("age_group", ("", ""))[0] == "segment" else None
    # What the model's score predicts: a label or value outcome, else the click (a
    # recommender's score is a click probability); with several candidates, say so in config.
    return MetricsConfig(metrics=tuple(metrics), quality=_quality(types), delay_strata=strata)


def _quality(types: dict[str, OutcomeType]) -> tuple[str, ...]:
    quality = tuple(n for n, t in types.items() if t.kind in ("label", "value"))
    if not quality and "click" in types and types["click"].kind == "event":
        quality = ("click",)
    return quality


def load_metrics_config(path: str | Path, types: dict[str, OutcomeType]) -> MetricsConfig:
    """Read ``[metrics.NAME]`` tables, ``[nowcast]`` and ``[quality]`` from a TOML file.

    ``[quality]`` takes ``outcomes`` (what the model's score predicts) and
    ``threshold`` (see :class:`MetricsConfig`).
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"metrics config {path}: {exc}") from exc
    metrics = []
    for name, spec in data.get("metrics", {}).items():
        unknown = set(spec) - {"outcome", "label", "given", "weight", "unit"}
        if unknown:
            raise ConfigError(f"metric {name!r}: unknown key(s) {sorted(unknown)}")
        if spec.get("outcome") not in types:
            raise ConfigError(f"metric {name!r}: outcome {spec.get('outcome')!r} is not declared")
        if spec.get("given") and spec["given"] not in types:
            raise ConfigError(f"metric {name!r}: given {spec['given']!r} is not declared")
        metrics.append(RateMetric(name=name, **spec))
    nowcast = data.get("nowcast", {})
    section = data.get("quality", {})
    unknown = set(section) - {"outcomes", "threshold"}
    if unknown:
        raise ConfigError(f"[quality]: unknown key(s) {sorted(unknown)}")
    # a [quality] section without outcomes (e.g. only a threshold) means the default ones
    quality = tuple(section["outcomes"]) if "outcomes" in section else ()
    if section and "outcomes" not in section:
        quality = _quality(types)
    for name in quality:
        if name not in types:
            raise ConfigError(f"quality: outcome {name!r} is not declared")
    return MetricsConfig(
        metrics=tuple(metrics),
        quality=quality,
        delay_strata=nowcast.get("delay_strata"),
        segments=tuple(data["segments"]) if "segments" in data else None,
        threshold=section.get("threshold", 0.5),
    )
