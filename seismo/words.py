"""How people talk about one model: what it serves, whom its segments group, its columns.

Every sentence seismo writes (an alert, a drift message, a page heading) is
built from these declarations, so a credit model's page speaks of "credit
decisions" and "applicants in south", a demand forecaster's of "forecasts"
and "store S07", and only a recommender's of "recommended items". They come
from the ``[words]`` section of a mapping and are stored with the data, so
``seismo check`` and the dashboard use them without being told again:

```toml
[words]
prediction = "credit decision"     # one served prediction (plural: add predictions = "...")
subject = "applicant"              # whom the segments group; leave out when they are not people
[words.columns]                    # a column's name in words
age = "applicant age"
[words.who]                        # a segment value as a group, {v} the value
region = "applicants in {v}"
[words.values]                     # what one outcome is worth (negative: a cost)
default_90d = -5000
[words.better]                     # which way is better: a metric, or every rate of an outcome
default_90d = "lower"              # higher / lower / either (undeclared: higher)
```

``locale``, ``timezone`` and ``currency`` (e.g. "de_DE", "Europe/Berlin",
"EUR") say how its readers write numbers, times and money; see
:mod:`seismo.locale`.

A model that declares nothing gets neutral words: "predictions", "region
south", "all predictions".
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from seismo.errors import ConfigError
from seismo.locale import formatter_for

__all__ = ["NEUTRAL", "Words", "words_from_dict"]

_KEYS = {
    "prediction",
    "predictions",
    "subject",
    "subjects",
    "item",
    "columns",
    "who",
    "figures",
    "values",
    "better",
    "locale",
    "timezone",
    "currency",
}
_WAYS = ("higher", "lower", "either")


def _plural(noun: str) -> str:
    """``decision`` → ``decisions``, ``sales`` → ``sales``, ``category`` → ``categories``."""
    if noun.endswith("s"):
        return noun
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


@dataclass(frozen=True, kw_only=True)
class Words:
    """A model's declared vocabulary (see the module docstring).

    ``item``: what the model recommends, for a model with an item column
    ("item", "product"); empty for a model that recommends nothing.
    ``figures``: the metrics its business page leads with, in order, each
    with a one-line description. ``values``: what one occurrence of an
    outcome is worth in money (negative: a cost; a default that costs 5,000),
    so an alert can say what a change costs a day. ``better``: which way a
    metric, or every rate of an outcome, is better (``higher``, ``lower`` or
    ``either``), so a rise in returns or defaults is the bad news.
    so an alert can say what a change costs a day. ``locale``, ``timezone``,
    ``currency``: how its readers write numbers, times and money (empty:
    seismo's English, UTC; see :mod:`seismo.locale`).
    """

    prediction: str = "prediction"
    predictions: str = ""
    subject: str = ""
    subjects: str = ""
    item: str = ""
    columns: dict[str, str] = field(default_factory=dict)
    who: dict[str, str] = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    better: dict[str, str] = field(default_factory=dict)
    locale: str = ""
    timezone: str = ""
    currency: str = ""

    def __post_init__(self) -> None:
        for name in ("prediction", "subject", "item", "locale", "timezone", "currency"):
            value = getattr(self, name)
            if not isinstance(value, str) or any(c in value for c in "{}<>\n"):
                raise ConfigError(f"[words] {name} must be plain text, got {value!r}")
        if not self.prediction.strip():
            raise ConfigError("[words] prediction must not be empty")
        for template in self.who.values():
            if not isinstance(template, str) or "{v}" not in template:
                raise ConfigError(f"[words.who] {template!r} must hold {{v}} (the value)")
            try:
                template.format(v="x")
            except (IndexError, KeyError, ValueError) as exc:
                raise ConfigError(
                    f"[words.who] {template!r}: use {{v}} and no other braces"
                ) from exc
        for outcome, worth in self.values.items():
            if isinstance(worth, bool) or not isinstance(worth, int | float) or worth != worth:
                raise ConfigError(f"[words.values] {outcome}: a number of money, not {worth!r}")
        for name, way in self.better.items():
            if way not in _WAYS:
                raise ConfigError(f"[words.better] {name}: one of {', '.join(_WAYS)}, not {way!r}")
        formatter_for(self)  # a locale, zone or currency no one knows fails here, by name
        if not self.predictions:
            object.__setattr__(self, "predictions", _plural(self.prediction))
        if self.subject and not self.subjects:
            object.__setattr__(self, "subjects", _plural(self.subject))

    # -- names -------------------------------------------------------------
    def column(self, name: str) -> str:
        """A column's name in words: declared, else its own with spaces (``age_group`` → age group).

        >>> Words(columns={"agep": "applicant age"}).column("agep"), NEUTRAL.column("age_group")
        ('applicant age', 'age group')
        """
        return self.columns.get(name) or name.replace("_", " ")

    @property
    def everyone(self) -> str:
        """The aggregate as a group: "all customers", or "all predictions"."""
        return f"all {self.subjects or self.predictions}"

    def group(self, attribute: str, value: str) -> str:
        """One segment value as a group of people or rows.

        >>> NEUTRAL.group("store", "S07"), Words(subject="applicant").group("region", "south")
        ('store S07', 'applicants with region south')
        >>> Words(who={"region": "applicants in {v}"}).group("region", "south")
        'applicants in south'
        """
        template = self.who.get(attribute)
        if template:
            return template.format(v=value)
        label = self.column(attribute)
        return f"{self.subjects} with {label} {value}" if self.subjects else f"{label} {value}"

    @property
    def served_items(self) -> str:
        """What a feature of a recommender describes ("recommended items"); empty otherwise."""
        return f"recommended {_plural(self.item)}" if self.item else ""

    # -- storage -----------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Words:
        return words_from_dict(json.loads(text))


NEUTRAL = Words()


def words_from_dict(data: dict[str, Any]) -> Words:
    """:class:`Words` from a ``[words]`` table, every key checked.

    >>> words_from_dict({"prediction": "forecast"}).predictions
    'forecasts'
    """
    unknown = set(data) - _KEYS
    if unknown:
        raise ConfigError(f"[words]: unknown key(s) {sorted(unknown)}; use {sorted(_KEYS)}")
    kwargs = dict(data)
    values = kwargs.pop("values", {})
    if not isinstance(values, dict):
        raise ConfigError("[words.values] must map outcomes to amounts of money")
    kwargs["values"] = {str(k): v for k, v in values.items()}
    for key in ("columns", "who", "figures", "better"):
        table = kwargs.get(key, {})
        if not isinstance(table, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in table.items()
        ):
            raise ConfigError(f"[words.{key}] must map names to text")
        kwargs[key] = dict(table)
    return Words(**kwargs)
