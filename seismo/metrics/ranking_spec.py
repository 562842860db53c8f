"""Which ranking metrics to compute for a model that ranks, declared apart from how.

A model *ranks* when each prediction row is one entry of an ordered list
served together (a slate): the mapping maps a ``request_id`` column (the
slate's id), or the store holds item ids and a position column (``position``
by default). Any other model gets no ranking metric.

``k`` is the cut-off of the @k metrics (default 10). ``relevance`` grades the
outcomes an entry can earn: a deeper outcome earns more (``{"click": 1,
"purchase": 2}``: NDCG's gain is ``2**grade - 1``). By default every event
outcome without a parent is graded, by how long it may take to arrive: the
quickest is grade 1, the next grade 2, and so on. The grade-1 outcome is the
one click-through by position is measured on. ``top_share``: the most
popular share of the catalog whose share of exposure is tracked (1 %).

```toml
[ranking]            # in the TOML given to seismo check --config
k = 10
position = "position"
relevance = { click = 1, purchase = 2 }
top_share = 0.01
```
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seismo.config import REQUEST_ROLE, OutcomeType
from seismo.errors import ConfigError
from seismo.metrics.windows import Windows
from seismo.store.read import Store

__all__ = [
    "RankingSpec",
    "load_ranking_spec",
    "ranking_spec",
    "ranking_spec_from_dict",
    "window_of",
]

_KEYS = {"k", "position", "relevance", "top_share"}


@dataclass(frozen=True, kw_only=True)
class RankingSpec:
    """The ranking metrics' settings (see the module docstring).

    >>> RankingSpec(k=5, relevance={"click": 1, "purchase": 2}).gains()
    {'click': 1.0, 'purchase': 3.0}
    >>> RankingSpec(k=0)
    Traceback (most recent call last):
    ...
    seismo.errors.ConfigError: [ranking] k must be a whole number of at least 1, not 0
    """

    k: int = 10
    position: str = "position"
    relevance: dict[str, int] = field(default_factory=dict)  # empty: derived from the store
    top_share: float = 0.01

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ConfigError(f"[ranking] k must be a whole number of at least 1, not {self.k!r}")
        if not isinstance(self.position, str) or not self.position:
            raise ConfigError(f"[ranking] position must name a column, not {self.position!r}")
        share = self.top_share
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
            raise ConfigError(f"[ranking] top_share must lie in (0, 1], not {share!r}")
        for name, grade in self.relevance.items():
            if isinstance(grade, bool) or not isinstance(grade, int) or grade < 1:
                raise ConfigError(
                    f"[ranking] relevance {name!r}: a grade is a whole number of at least 1,"
                    f" not {grade!r}"
                )

    def gains(self) -> dict[str, float]:
        """Each graded outcome's NDCG gain, ``2**grade - 1``."""
        return {name: float(2**grade - 1) for name, grade in self.relevance.items()}

    @property
    def first(self) -> str:
        """The lowest-graded outcome: what click-through by position is measured on."""
        return min(self.relevance, key=lambda n: (self.relevance[n], n))


def ranking_spec_from_dict(data: Mapping[str, Any], *, source: str = "[ranking]") -> RankingSpec:
    """A :class:`RankingSpec` from a ``[ranking]`` table, every key checked.

    >>> ranking_spec_from_dict({"k": 5, "relevance": {"purchase": 2, "click": 1}}).first
    'click'
    >>> ranking_spec_from_dict({"cutoff": 5, "position": "rank"})
    Traceback (most recent call last):
    ...
    seismo.errors.ConfigError: [ranking]: unknown key(s) ['cutoff']; use k, position, relevance, ...
    """
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        known = ", ".join(sorted(_KEYS)[:3])
        raise ConfigError(f"{source}: unknown key(s) {unknown}; use {known}, top_share")
    relevance = data.get("relevance", {})
    if not isinstance(relevance, Mapping):
        raise ConfigError(f"{source}: relevance must map outcomes to grades")
    return RankingSpec(
        k=data.get("k", 10),
        position=data.get("position", "position"),
        relevance=dict(relevance),
        top_share=data.get("top_share", 0.01),
    )


def load_ranking_spec(path: str | Path | None) -> RankingSpec | None:
    """The ``[ranking]`` section of a TOML file (None when there is none)."""
    if path is None:
        return None
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    section = data.get("ranking")
    if section is None:
        return None
    if not isinstance(section, Mapping):
        raise ConfigError(f"{path}: [ranking] must be a table")
    return ranking_spec_from_dict(section, source=f"{path} [ranking]")


def default_relevance(types: dict[str, OutcomeType]) -> dict[str, int]:
    """Event outcomes without a parent, graded by how long they may take to arrive.

    >>> from datetime import timedelta
    >>> types = {"click": OutcomeType(name="click", window=timedelta(minutes=30)),
    ...          "purchase": OutcomeType(name="purchase", window=timedelta(days=12)),
    ...          "return": OutcomeType(name="return", parent="purchase")}
    >>> default_relevance(types)
    {'click': 1, 'purchase': 2}
    """
    events = [t for t in types.values() if t.kind == "event" and not t.parent]
    events.sort(key=lambda t: (t.window, t.name))
    return {t.name: i for i, t in enumerate(events, start=1)}


def ranking_spec(store: Store, given: RankingSpec | None = None) -> RankingSpec | None:
    """The store's ranking settings, or None when its model does not rank.

    A model ranks when its mapping maps a ``request_id``, or when the store
    holds item ids and the position column. A ``given`` spec (from
    ``[ranking]``) declares a ranker too; its position column must exist.
    """
    attributes = store.attributes()
    declared = given is not None or any(role == REQUEST_ROLE for role, _ in attributes.values())
    spec = given or RankingSpec()
    position = attributes.get(spec.position)
    if position is None or position[1] not in ("int", "float"):
        if given is not None:
            raise ConfigError(
                f"[ranking] position: the store has no numeric column {spec.position!r}"
                f" (its columns: {', '.join(sorted(attributes)) or 'none'})"
            )
        return None
    if not declared:
        p = store.predictions()
        if p.filter(p.item_id.notnull()).limit(1).count().to_pyarrow().as_py() == 0:
            return None
    types = store.outcome_types()
    relevance = dict(spec.relevance) or default_relevance(types)
    unknown = sorted(set(relevance) - set(types))
    if unknown:
        raise ConfigError(f"[ranking] relevance: outcome(s) {unknown} are not declared")
    if not relevance:
        return None
    return RankingSpec(
        k=spec.k, position=spec.position, relevance=relevance, top_share=spec.top_share
    )


def request_column(store: Store) -> str | None:
    """The column holding each entry's request (slate) id, if the mapping mapped one."""
    return next((n for n, (role, _) in store.attributes().items() if role == REQUEST_ROLE), None)


def window_of(ts: Any, windows: Windows) -> Any:
    """The start of the calendar window the timestamp expression ``ts`` falls in (Ibis).

    Ranking metrics are per calendar window: a list (slate) can straddle the
    boundary of a count chunk, which is cut per prediction, so count windows
    (``every``) are refused here rather than splitting lists.
    """
    if windows.every is not None:
        raise ConfigError(
            "ranking metrics are computed per calendar window (period), not per count chunk "
            "(every): a ranked list would be split across chunks"
        )
    return ts.truncate(windows.unit)
