"""Which quality metrics to compute, declared apart from how they are computed.

A :class:`RateMetric` is "positives of an outcome over a population": the
click-through rate (clicks per recommendation), purchase conversion (per
recommendation, or per click with ``given="click"``), the return rate (per
purchase: an outcome type with a parent is always measured per parent
positive) and revenue per recommendation (purchases weighted by a column,
``weight="price_eur"``). Each is a frozen spec with a stable ``key`` for the
engine query it needs, so metrics that share a query (conversion and revenue)
share one pass.

:func:`default_metrics` takes the set the model's mapping declares
(``[metrics.NAME]``), else derives one rate per declared outcome type.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from seismo.config import Declared, MetricDeclaration, OutcomeType
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


def default_metrics(
    types: dict[str, OutcomeType],
    attributes: dict[str, tuple[str, str]] | None = None,
    declared: Declared | None = None,
) -> MetricsConfig:
    """The metric set the model declares, else the one its outcome types imply.

    Declared ``[metrics.NAME]`` tables are the business metrics, in their
    order, under their labels (the seed scenario's click-through, conversion,
    return rate and revenue are declared this way). Without any, every
    event-kind outcome gets its rate (an outcome with a parent: per parent),
    named ``<outcome>_rate``.
    """
    declared = declared or Declared()
    attributes = attributes or {}
    if declared.metrics:
        metrics = [
            RateMetric(**asdict(d))
            for d in declared.metrics
            if d.outcome in types and (d.given is None or d.given in types)
        ]
    else:
        metrics = [
            RateMetric(name=f"{name}_rate", outcome=name, label=f"{name} rate")
            for name, t in types.items()
            if t.kind == "event"
        ]
    strata = declared.delay_strata
    if strata is not None and attributes.get(strata, ("", ""))[0] != "segment":
        strata = None
    quality = tuple(o for o in declared.quality if o in types) or _quality(types)
    return MetricsConfig(metrics=tuple(metrics), quality=quality, delay_strata=strata)


def _quality(types: dict[str, OutcomeType]) -> tuple[str, ...]:
    """What the score predicts, undeclared: the label or value outcomes, else the first event."""
    quality = tuple(n for n, t in types.items() if t.kind in ("label", "value"))
    events = [n for n, t in types.items() if t.kind == "event" and t.parent is None]
    return quality or tuple(events[:1])


def load_metrics_config(path: str | Path, types: dict[str, OutcomeType]) -> MetricsConfig:
    """Read ``[metrics.NAME]`` tables, ``[nowcast]`` and ``[quality]`` from a TOML file.

    ``[quality]`` takes ``outcomes`` (what the model's score predicts) and
    ``threshold`` (see :class:`MetricsConfig`).
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"metrics config {path}: {exc}") from exc
    metrics = [
        RateMetric(**asdict(MetricDeclaration.from_dict(name, dict(spec), set(types))))
        for name, spec in data.get("metrics", {}).items()
    ]
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
