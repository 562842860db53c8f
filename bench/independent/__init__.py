"""A second, deliberately different data generator, to test seismo on data it did not design.

It shares no code with ``seismo.simulate`` (and must not import it): other
volumes and weekly rhythm, other segment values and shares, delays whose
shape is set by device, region or channel instead of age (log-normal,
Weibull and gamma, mixtures, heavy tails), other rates, heterogeneous
customers. Three scenarios:

* ``recommender``: the seed export format (flat, the built-in mapping) with
  the outside tester's four shifts (:mod:`.recommender`);
* ``classifier``: a credit-line model in the events shape, labels weeks to
  months late, a region's default rate 8 % → 23 % and a channel's scores
  losing their discrimination (:mod:`.classifier`);
* ``regressor``: store × SKU demand forecasts, actuals 1-3 days late, one
  store's MAPE 13 % → 33 % (:mod:`.regressor`).

:func:`generate` writes a scenario's files, its mapping (when it needs one)
and ``truth.json``, the list of planted shifts named as seismo names metrics
and segments; :func:`build` returns the data in memory (exports as known at
any moment, for replays). Same arguments, same bytes.

>>> import tempfile
>>> meta = generate("regressor", seed=1, days=10, per_day=240, out_dir=Path(tempfile.mkdtemp()))
>>> meta["ingest"], [s["metric"] for s in meta["shifts"]]
(['forecasts.csv', 'actuals.csv'], ['units_mape'])
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from .classifier import ClassifierConfig, ClassifierData
from .common import write_csv, write_truth
from .recommender import RecommenderConfig, RecommenderData
from .regressor import RegressorConfig, RegressorData

__all__ = ["SCENARIOS", "Data", "build", "generate", "make_config"]

Scenario = Literal["recommender", "classifier", "regressor"]
SCENARIOS: tuple[Scenario, ...] = ("recommender", "classifier", "regressor")
Config = RecommenderConfig | ClassifierConfig | RegressorConfig
Data = RecommenderData | ClassifierData | RegressorData
_CONFIGS: dict[str, type[Any]] = {
    "recommender": RecommenderConfig,
    "classifier": ClassifierConfig,
    "regressor": RegressorConfig,
}
#: File names, in the order to ingest them, and the mapping file (None: built in).
FILES = {
    "recommender": (("production-recommendations-sample.csv",), None),
    "classifier": (("decisions.csv", "labels.csv"), "credit-mapping.toml"),
    "regressor": (("forecasts.csv", "actuals.csv"), "demand-mapping.toml"),
}


def make_config(
    scenario: Scenario,
    *,
    seed: int = 0,
    days: int | None = None,
    per_day: float | None = None,
    shifts: Iterable[Any] | str | None = None,
    **options: Any,
) -> Config:
    """A scenario's config. ``shifts``: None = the default shifts, ``"none"`` or ``()`` =
    clean, names = those default shifts only, or shift objects (any parameters)."""
    if scenario not in _CONFIGS:
        raise ValueError(f"scenario must be one of {SCENARIOS}, got {scenario!r}")
    config: Config = _CONFIGS[scenario](seed=seed, **options)
    changes: dict[str, Any] = {}
    if days is not None:
        changes["days"] = days
    if per_day is not None:
        if isinstance(config, RegressorConfig):
            changes["skus"] = max(1, round(per_day / config.stores))
        else:
            changes["per_day"] = float(per_day)
    if shifts is not None:
        changes["shifts"] = _shifts(config.shifts, shifts)
    return dataclasses.replace(config, **changes)


def _shifts(defaults: tuple[Any, ...], chosen: Iterable[Any] | str) -> tuple[Any, ...]:
    if chosen == "none":
        return ()
    if isinstance(chosen, str):
        chosen = [c for c in chosen.split(",") if c]
    picked = []
    by_name = {s.name: s for s in defaults}
    for item in chosen:
        if isinstance(item, str):
            if item not in by_name:
                raise ValueError(f"no shift {item!r}; the defaults are {sorted(by_name)}")
            picked.append(by_name[item])
        else:
            picked.append(item)
    return tuple(picked)


def build(scenario: Scenario, **kwargs: Any) -> Data:
    """The scenario's data in memory (see :func:`make_config` for the arguments)."""
    config = kwargs.pop("config", None) or make_config(scenario, **kwargs)
    if isinstance(config, RecommenderConfig):
        return RecommenderData(config)
    if isinstance(config, ClassifierConfig):
        return ClassifierData(config)
    return RegressorData(config)


def generate(
    scenario: Scenario,
    *,
    out_dir: Path,
    reference: bool = True,
    final: bool = False,
    **kwargs: Any,
) -> dict[str, Any]:
    """Write the scenario's files and ``truth.json`` under ``out_dir``; return the truth.

    ``reference``: also the training reference (recommender only);
    ``final``: also every row with its final outcomes (recommender only).
    """
    data = build(scenario, **kwargs)
    return write(data, out_dir, reference=reference, final=final)


def write(
    data: Data, out_dir: Path, *, reference: bool = True, final: bool = False
) -> dict[str, Any]:
    """Write ``data``'s files and truth under ``out_dir``."""
    out_dir = Path(out_dir)
    scenario = _scenario_of(data)
    names, mapping = FILES[scenario]
    extra: dict[str, str] = {}
    if isinstance(data, RecommenderData):
        write_csv(data.export(), out_dir / names[0])
        if reference:
            extra["reference"] = "training-reference.csv"
            write_csv(data.reference(), out_dir / extra["reference"])
        if final:
            extra["final"] = "final-outcomes.csv"
            write_csv(data.final(), out_dir / extra["final"])
    elif isinstance(data, ClassifierData):
        write_csv(data.decisions(), out_dir / names[0])
        write_csv(data.labels(), out_dir / names[1])
    else:
        write_csv(data.forecasts(), out_dir / names[0])
        write_csv(data.actuals(), out_dir / names[1])
    if mapping is not None and data.mapping_toml is not None:
        (out_dir / mapping).write_text(data.mapping_toml, encoding="utf-8")
    header = _header(data, scenario, list(names), mapping, extra)
    path = write_truth(out_dir / "truth.json", header, data.planted())
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _scenario_of(data: Data) -> Scenario:
    if isinstance(data, RecommenderData):
        return "recommender"
    return "classifier" if isinstance(data, ClassifierData) else "regressor"


def _header(
    data: Data, scenario: Scenario, names: list[str], mapping: str | None, extra: dict[str, str]
) -> dict[str, Any]:
    cfg = data.config
    conventions: dict[str, Any] = {}
    if isinstance(cfg, RecommenderConfig):
        conventions["returned_empty_unless_purchased"] = cfg.empty_returns_unless_purchased
    return {
        "scenario": scenario,
        "generator": "bench/independent",
        "seed": cfg.seed,
        "days": cfg.days,
        "per_day": cfg.per_day,
        "start": cfg.start,
        "exported_at": cfg.exported_at,
        "ingest": names,
        "mapping": mapping,
        "files": extra,
        "conventions": conventions,
    }
