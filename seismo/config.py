"""How a user's columns map onto seismo's event model, and the outcome types.

A :class:`Mapping` names, in the user's own column names, where the prediction
id, time, model version, score, segments and features are, and where the
outcomes are. Two shapes are understood:

* **flat**: one row per prediction with its outcomes as columns, as known when
  the file was exported (the seed scenario's ``production-recommendations-sample.csv``):
  ``Mapping.outcome_columns`` lists them; an empty value means *pending*.
* **events**: predictions in one file and outcome events (id, type, time,
  value) in another, arriving whenever the truth does: ``Mapping.outcomes``.

The same mapping serves a recommender, a credit-risk classifier or a demand
regressor. It can be written in TOML (see ``examples/credit.toml``) or built in
Python; :data:`RECOMMENDATIONS` is the built-in mapping of the seed scenario.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from seismo.errors import ConfigError
from seismo.words import NEUTRAL, Words, words_from_dict

__all__ = [
    "NEGATIVE_LABELS",
    "POSITIVE_LABELS",
    "RECOMMENDATIONS",
    "REQUEST_COLUMN",
    "REQUEST_ROLE",
    "Checks",
    "Declared",
    "Mapping",
    "MetricDeclaration",
    "OutcomeColumns",
    "OutcomeEvents",
    "OutcomeType",
    "PredictionColumns",
    "checks_from_dict",
    "load_mapping",
    "normalize_label",
    "parse_duration",
]

Dtype = Literal["string", "float", "int", "bool", "auto"]
OutcomeKind = Literal["event", "label", "value"]
_DTYPES = ("string", "float", "int", "bool", "auto")
_KINDS = ("event", "label", "value")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


_LONGEST = timedelta(days=36_525)
#: Where a mapped ``request_id`` is stored in ``predictions``, and its role in ``attributes``.
REQUEST_COLUMN, REQUEST_ROLE = "request_id", "request"


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Parse ``"90s"``, ``"30m"``, ``"1h"``, ``"11d"``, ``"2w"`` (a number means seconds).

    >>> parse_duration("11d")
    datetime.timedelta(days=11)
    >>> parse_duration("1.5h")
    datetime.timedelta(seconds=5400)
    """
    if isinstance(text, timedelta):
        return text
    if isinstance(text, int | float):
        return timedelta(seconds=float(text))
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"cannot read duration {text!r}: use a number and s, m, h, d or w")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not seconds < _LONGEST.total_seconds():
        raise ConfigError(f"duration {text!r} is longer than seismo can count (100 years)")
    return timedelta(seconds=seconds)


@dataclass(frozen=True, kw_only=True)
class OutcomeType:
    """A kind of ground truth and how long it can take to arrive.

    ``kind``: ``event`` (happens or not: a click, a purchase; value 1 or 0),
    ``label`` (a class known later: fraud / not fraud), ``value`` (a number
    known later: the realised demand). ``window``: how long after its anchor
    the outcome can still arrive; the anchor is the prediction, or the
    ``parent`` outcome's event (a return can only follow a purchase).
    """

    name: str
    kind: OutcomeKind = "event"
    window: timedelta = timedelta(days=1)
    parent: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or not re.match(r"^[A-Za-z0-9_.\-]+$", self.name):
            raise ConfigError(f"outcome type name {self.name!r}: use letters, digits, _ . -")
        if self.kind not in _KINDS:
            raise ConfigError(f"outcome type {self.name!r}: kind must be one of {_KINDS}")
        if self.window <= timedelta(0):
            raise ConfigError(f"outcome type {self.name!r}: window must be positive")
        if self.parent == self.name:
            raise ConfigError(f"outcome type {self.name!r} cannot be its own parent")


#: Served labels read as a predicted positive / negative when no ``positive_label`` is declared.
POSITIVE_LABELS = ("1", "1.0", "true", "t", "yes", "y", "positive", "pos")
NEGATIVE_LABELS = ("0", "0.0", "false", "f", "no", "n", "negative", "neg")


def normalize_label(text: str) -> str:
    """How served labels are compared: trimmed, lower case.

    >>> normalize_label("  Decline ")
    'decline'
    """
    return text.strip().lower()


@dataclass(frozen=True, kw_only=True)
class PredictionColumns:
    """Where a prediction's fields are, in the user's column names.

    ``label`` is the class the model *served* (the decision acted on). The
    threshold metrics (accuracy, precision, recall, specificity, F1) use it,
    reading each value as predicted positive or negative: the values of
    ``positive_label`` (a string or several; compared trimmed and in lower
    case) are positive and every other value negative; without
    ``positive_label``, ``1/true/yes/positive`` (and ``t``, ``y``, ``pos``,
    ``1.0``) are positive, ``0/false/no/negative`` (and ``f``, ``n``, ``neg``,
    ``0.0``) negative, and any other value is an ingest error. An empty label
    means no decision was served: that row is judged by its score at the
    threshold.
    """

    id: str
    timestamp: str
    model_version: str | None = None
    entity: str | None = None
    item: str | None = None
    score: str | None = None
    label: str | None = None
    latency_ms: str | None = None
    status: str | None = None
    segments: tuple[str, ...] = ()
    features: dict[str, Dtype] = field(default_factory=dict)
    # repr=False keeps batch ids (a hash of the mapping's repr) as they were before it existed
    positive_label: tuple[str, ...] = field(default=(), repr=False)
    #: The request (slate) an entry of a ranked list was served in: the rows of one
    #: request are ranked together (see :mod:`seismo.metrics.slates`). Mapping it declares
    #: the model a ranker; without it a slate is one entity's rows served at one moment.
    request_id: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        given: Any = self.positive_label
        values = (given,) if isinstance(given, str) else tuple(given)
        if not all(isinstance(v, str) and v.strip() for v in values):
            raise ConfigError(
                f"positive_label must be a non-empty string or a list of them: {given!r}"
            )
        if values and self.label is None:
            raise ConfigError("positive_label needs a label column (the class the model served)")
        object.__setattr__(
            self, "positive_label", tuple(sorted({normalize_label(v) for v in values}))
        )

    def core(self) -> dict[str, str]:
        """seismo's core column → the user's column, for the mapped ones."""
        pairs = {
            "prediction_id": self.id,
            "served_at": self.timestamp,
            "model_version": self.model_version,
            "entity_id": self.entity,
            "item_id": self.item,
            "score": self.score,
            "label": self.label,
            "latency_ms": self.latency_ms,
            "status": self.status,
        }
        return {k: v for k, v in pairs.items() if v is not None}


@dataclass(frozen=True, kw_only=True)
class OutcomeColumns:
    """An outcome carried as columns of a flat prediction row."""

    type: str
    value: str
    timestamp: str | None = None


@dataclass(frozen=True, kw_only=True)
class OutcomeEvents:
    """Outcome events arriving on their own, keyed by prediction id.

    The outcome type is either a constant (``type``) or read from a column
    (``type_column``).
    """

    id: str
    timestamp: str
    type: str | None = None
    type_column: str | None = None
    value: str | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        if (self.type is None) == (self.type_column is None):
            raise ConfigError("outcomes: give exactly one of 'type' (a constant) or 'type_column'")
        if self.value is None and self.label is None:
            raise ConfigError("outcomes: give a 'value' column, a 'label' column, or both")


Range = tuple[float | None, float | None]


@dataclass(frozen=True, kw_only=True)
class Checks:
    """What a row must look like to be believed (``[checks]`` in a mapping).

    A batch holding a row that fails any of them is refused whole, with the
    row, the column and the reason: one stray timestamp or price would
    otherwise move every figure computed from it.

    ``past``: the earliest time accepted is this long before the earlier of
    the store's first prediction and the batch's own median time.
    ``future``: the latest is now plus this (clocks drift; years do not).
    ``score``: the range a served score must lie in; ``"auto"`` is [0, 1] (a
    probability) unless the model predicts a value (an outcome of kind
    ``value``), then any finite number. ``ranges``: per feature (or
    ``latency_ms``), the least and greatest value accepted (None: no bound).
    """

    past: timedelta = timedelta(days=365)
    future: timedelta = timedelta(days=1)
    score: Range | Literal["auto", "any"] = "auto"
    ranges: dict[str, Range] = field(default_factory=lambda: {"latency_ms": (0.0, None)})
    #: ``reject``: a batch with an implausible row is refused whole; ``quarantine``: such
    #: rows are set aside (the store's ``quarantine`` table, with row, column and reason)
    #: and the rest of the batch is stored.
    implausible: Literal["reject", "quarantine"] = "reject"

    def score_range(self, predicts_value: bool) -> Range | None:
        """The range scores are held to (None: any finite number)."""
        if self.score == "any" or (self.score == "auto" and predicts_value):
            return None
        return (0.0, 1.0) if self.score == "auto" else self.score


def _range(name: str, value: Any) -> Range:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ConfigError(f"[checks] {name}: give [least, greatest], e.g. [0, 1000]")
    bounds = []
    for bound in value:
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int | float)):
            raise ConfigError(f"[checks] {name}: bounds are numbers, not {bound!r}")
        bounds.append(None if bound is None else float(bound))
    low, high = bounds
    if low is not None and high is not None and low > high:
        raise ConfigError(f"[checks] {name}: the least value {low:g} exceeds the greatest {high:g}")
    return low, high


def checks_from_dict(data: dict[str, Any]) -> Checks:
    """``[checks]`` of a mapping TOML.

    >>> checks_from_dict({"past": "30d", "ranges": {"price": [0, None]}}).ranges["price"]
    (0.0, None)
    >>> checks_from_dict({"score": "maybe"})
    Traceback (most recent call last):
    ...
    seismo.errors.ConfigError: [checks] score: "auto", "any" or [least, greatest], not 'maybe'
    """
    unknown = set(data) - {"past", "future", "score", "ranges", "implausible"}
    if unknown:
        raise ConfigError(f"[checks]: unknown key(s) {sorted(unknown)}")
    score = data.get("score", "auto")
    if isinstance(score, str) and score not in ("auto", "any"):
        raise ConfigError(f'[checks] score: "auto", "any" or [least, greatest], not {score!r}')
    implausible = data.get("implausible", "reject")
    if implausible not in ("reject", "quarantine"):
        raise ConfigError(f'[checks] implausible: "reject" or "quarantine", not {implausible!r}')
    ranges: dict[str, Range] = {"latency_ms": (0.0, None)}
    ranges.update({k: _range(k, v) for k, v in dict(data.get("ranges", {})).items()})
    return Checks(
        past=parse_duration(data.get("past", "365d")),
        future=parse_duration(data.get("future", "1d")),
        score=score if isinstance(score, str) else _range("score", score),  # type: ignore[arg-type]
        ranges=ranges,
        implausible=implausible,
    )


@dataclass(frozen=True, kw_only=True)
class MetricDeclaration:
    """One business metric the model declares (``[metrics.NAME]`` of the mapping).

    A rate of an outcome over the predictions (``given``: over those whose
    ``given`` outcome happened; an outcome with a parent is always per parent),
    optionally weighted by a numeric column (``weight = "price_eur"``: revenue),
    shown as a ``share`` or an ``amount``, under its ``label``.
    """

    name: str
    outcome: str
    label: str = ""
    given: str | None = None
    weight: str | None = None
    unit: str = "share"

    def __post_init__(self) -> None:
        if self.unit not in ("share", "amount"):
            raise ConfigError(f"[metrics.{self.name}] unit must be 'share' or 'amount'")

    @classmethod
    def from_dict(cls, name: str, spec: dict[str, Any], outcomes: set[str]) -> MetricDeclaration:
        """Checked: keys, and that the outcomes it reads are declared."""
        unknown = set(spec) - {"outcome", "label", "given", "weight", "unit"}
        if unknown:
            raise ConfigError(f"[metrics.{name}]: unknown key(s) {sorted(unknown)}")
        if spec.get("outcome") not in outcomes:
            raise ConfigError(f"[metrics.{name}]: outcome {spec.get('outcome')!r} is not declared")
        if spec.get("given") and spec["given"] not in outcomes:
            raise ConfigError(f"[metrics.{name}]: given {spec['given']!r} is not declared")
        return cls(name=name, **spec)


@dataclass(frozen=True, kw_only=True)
class Declared:
    """What the model declares about its business metrics, stored with the data.

    ``metrics`` (``[metrics.NAME]`` tables; none: one rate per outcome) and
    ``delay_strata`` (``[nowcast] delay_strata``: a segment whose outcomes
    arrive at their own pace, such as older customers deciding more slowly)
    and ``quality`` (``[quality] outcomes``: what the score predicts).
    """

    metrics: tuple[MetricDeclaration, ...] = ()
    delay_strata: str | None = None
    #: The outcomes the model's score predicts (``[quality] outcomes``; none: the label
    #: or value outcomes, else the first event).
    quality: tuple[str, ...] = ()

    def to_json(self) -> str:
        metrics = [{k: v for k, v in asdict(m).items() if v is not None} for m in self.metrics]
        data = {"metrics": metrics, "delay_strata": self.delay_strata, "quality": self.quality}
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Declared:
        data = json.loads(text)
        metrics = tuple(MetricDeclaration(**m) for m in data.get("metrics", []))
        quality = tuple(data.get("quality", ()))
        return cls(metrics=metrics, delay_strata=data.get("delay_strata"), quality=quality)


@dataclass(frozen=True, kw_only=True)
class Mapping:
    """Everything seismo needs to read one model's data."""

    model_name: str = "default"
    model_version: str | None = None
    predictions: PredictionColumns | None = None
    outcome_columns: tuple[OutcomeColumns, ...] = ()
    final: str | None = None
    outcomes: OutcomeEvents | None = None
    outcome_types: tuple[OutcomeType, ...] = ()
    checks: Checks = field(default_factory=Checks)
    #: How people talk about this model (``[words]``; see :mod:`seismo.words`). Not part of
    #: the repr, so batch ids (a hash of the mapping) stay as they were before it existed.
    words: Words = field(default=NEUTRAL, repr=False)
    #: Its business metrics and delay strata (``[metrics.NAME]``, ``[nowcast]``).
    declared: Declared = field(default_factory=Declared, repr=False)

    def __post_init__(self) -> None:
        if self.predictions is None and self.outcomes is None:
            raise ConfigError("a mapping needs a [predictions] or an [outcomes] section")
        if self.predictions and not self.predictions.model_version and not self.model_version:
            raise ConfigError(
                "predictions: name a model_version column or give the model version as a constant"
            )
        segments = self.predictions.segments if self.predictions else ()
        strata = self.declared.delay_strata
        if strata is not None and self.predictions is not None and strata not in segments:
            raise ConfigError(
                f"[nowcast] delay_strata {strata!r} is not one of the segments {list(segments)}"
            )
        known = {t.name for t in self.outcome_types}
        for oc in self.outcome_columns:
            if oc.type not in known:
                raise ConfigError(f"outcome column {oc.value!r}: type {oc.type!r} is not declared")
        if self.outcomes and self.outcomes.type and self.outcomes.type not in known:
            raise ConfigError(f"outcomes: type {self.outcomes.type!r} is not declared")
        for t in self.outcome_types:
            if t.parent is not None and t.parent not in known:
                raise ConfigError(f"outcome type {t.name!r}: parent {t.parent!r} is not declared")

    def outcome_type(self, name: str) -> OutcomeType | None:
        return next((t for t in self.outcome_types if t.name == name), None)


RECOMMENDATIONS = Mapping(
    model_name="recommender",
    predictions=PredictionColumns(
        id="recommendation_id",
        timestamp="timestamp",
        model_version="model_version",
        entity="customer_id",
        item="product_id",
        score="score",
        latency_ms="latency_ms",
        status="status",
        segments=("age_group", "sustainability_preference", "region", "customer_type", "device"),
        features={
            "category": "string",
            "brand": "string",
            "is_sustainable": "bool",
            "price_eur": "float",
            "collection": "string",
            "position": "int",
        },
    ),
    outcome_columns=(
        OutcomeColumns(type="click", value="clicked", timestamp="click_timestamp"),
        OutcomeColumns(type="purchase", value="purchased", timestamp="purchase_timestamp"),
        OutcomeColumns(type="return", value="returned", timestamp="return_timestamp"),
    ),
    final="ground_truth_available",
    checks=Checks(
        ranges={"latency_ms": (0.0, None), "price_eur": (0.0, 100_000.0), "position": (0.0, None)}
    ),
    words=Words(
        prediction="recommendation",
        subject="customer",
        item="item",
        columns={
            "price_eur": "price",
            "item_id": "recommended items",
            "sustainability_preference": "sustainability preference",
        },
        who={
            "age_group": "customers aged {v}",
            "customer_type": "{v} customers",
            "region": "customers in {v}",
            "device": "customers on {v}",
            "sustainability_preference": "customers with a {v} sustainability preference",
        },
        figures={
            "click_through_rate": "Share of recommendations that were clicked",
            "purchase_conversion": "Share of recommendations that led to a purchase",
            "return_rate": "Share of bought items that were sent back (lower is better)",
            "revenue_per_recommendation": "Sales per recommendation shown",
        },
        better={"return": "lower"},
    ),
    declared=Declared(
        metrics=(
            MetricDeclaration(name="click_through_rate", outcome="click", label="Click-through"),
            MetricDeclaration(
                name="purchase_conversion", outcome="purchase", label="Purchase conversion"
            ),
            MetricDeclaration(
                name="purchase_per_click",
                outcome="purchase",
                given="click",
                label="Purchases per click",
            ),
            MetricDeclaration(name="return_rate", outcome="return", label="Return rate"),
            MetricDeclaration(
                name="revenue_per_recommendation",
                outcome="purchase",
                weight="price_eur",
                label="Revenue per recommendation",
                unit="amount",
            ),
        ),
        # The seed scenario's slow deciders are the older customers: stratify delays by age.
        delay_strata="age_group",
        quality=("click",),  # the score is a click probability
    ),
    outcome_types=(
        OutcomeType(name="click", window=timedelta(minutes=30), description="click on the item"),
        OutcomeType(name="purchase", window=timedelta(days=12), description="purchase of the item"),
        OutcomeType(
            name="return",
            window=timedelta(days=14),
            parent="purchase",
            description="return of a purchased item",
        ),
    ),
)


def load_mapping(path: str | Path) -> Mapping:
    """Read a mapping from a TOML file (or the name of a built-in: ``recommendations``)."""
    if str(path) == "recommendations":
        return RECOMMENDATIONS
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"mapping file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"mapping file {path}: {exc}") from exc
    return mapping_from_dict(data, source=str(path))


def mapping_from_dict(data: dict[str, Any], *, source: str = "<mapping>") -> Mapping:
    """Build a :class:`Mapping` from the TOML structure (see ``examples/``)."""
    try:
        return _mapping_from_dict(data)
    except (TypeError, KeyError, ValueError) as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def _mapping_from_dict(data: dict[str, Any]) -> Mapping:
    sections = {"model", "predictions", "outcomes", "outcome_types", "checks", "words"}
    unknown = set(data) - sections - {"metrics", "nowcast", "quality"}
    if unknown:
        raise ConfigError(f"unknown section(s) {sorted(unknown)}")
    model = data.get("model", {})
    types = tuple(
        OutcomeType(
            name=name,
            kind=spec.get("kind", "event"),
            window=parse_duration(spec.get("window", "1d")),
            parent=spec.get("parent"),
            description=spec.get("description", ""),
        )
        for name, spec in data.get("outcome_types", {}).items()
    )
    predictions = None
    outcome_columns: tuple[OutcomeColumns, ...] = ()
    final = None
    if "predictions" in data:
        spec = dict(data["predictions"])
        outcome_columns = tuple(OutcomeColumns(**o) for o in spec.pop("outcomes", []))
        final = spec.pop("final", None)
        features = spec.pop("features", {})
        if isinstance(features, list):
            features = dict.fromkeys(features, "auto")
        for name, dtype in features.items():
            if dtype not in _DTYPES:
                raise ConfigError(f"feature {name!r}: dtype must be one of {_DTYPES}")
        predictions = PredictionColumns(
            segments=tuple(spec.pop("segments", ())), features=features, **spec
        )
    outcomes = OutcomeEvents(**data["outcomes"]) if "outcomes" in data else None
    return Mapping(
        model_name=model.get("name", "default"),
        model_version=model.get("version"),
        predictions=predictions,
        outcome_columns=outcome_columns,
        final=final,
        outcomes=outcomes,
        outcome_types=types,
        checks=checks_from_dict(dict(data.get("checks", {}))),
        words=words_from_dict(dict(data.get("words", {}))),
        declared=Declared(
            metrics=tuple(
                MetricDeclaration.from_dict(name, dict(spec), {t.name for t in types})
                for name, spec in data.get("metrics", {}).items()
            ),
            delay_strata=_delay_strata(dict(data.get("nowcast", {}))),
            quality=_quality_outcomes(dict(data.get("quality", {})), {t.name for t in types}),
        ),
    )


def _quality_outcomes(section: dict[str, Any], outcomes: set[str]) -> tuple[str, ...]:
    unknown = set(section) - {"outcomes"}
    if unknown:
        raise ConfigError(
            f"[quality]: unknown key(s) {sorted(unknown)} (the mapping takes outcomes)"
        )
    names = section.get("outcomes", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError("[quality] outcomes must list outcome types")
    for name in names:
        if name not in outcomes:
            raise ConfigError(f"[quality] outcomes: {name!r} is not a declared outcome type")
    return tuple(names)


def _delay_strata(nowcast: dict[str, Any]) -> str | None:
    unknown = set(nowcast) - {"delay_strata"}
    if unknown:
        raise ConfigError(f"[nowcast]: unknown key(s) {sorted(unknown)}")
    strata = nowcast.get("delay_strata")
    if strata is not None and not isinstance(strata, str):
        raise ConfigError(f"[nowcast] delay_strata must name a segment, not {strata!r}")
    return strata
