"""The ``[detect]`` section of a check's TOML: the detector's knobs, checked.

```toml
[detect]
false_alarms_per_90_days = 1      # for the whole store, every cell and daily look
window_days = 28                  # how far back a change is followed
max_window_days = 120             # ... and over days whose truth is still arriving
baseline_days = 14                # the deployment period changes are measured against
min_relative = 0.2                # smallest change worth an alert, share of the baseline
min_maturity = 0.5                # judge a day once half its expected outcomes are in
pairs = true                      # watch pairs of segment attributes (age group × region)
labelled_so_far = true            # a classifier's days also on the labels in so far
```

Give ``seismo check``, ``seismo serve`` and ``seismo report`` the same file, so
the pages show what the alerts say.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from seismo.detect.change import DetectConfig
from seismo.errors import ConfigError

__all__ = ["detect_config", "load_detect_config"]

_NUMBERS = {
    "false_alarms_per_90_days",
    "min_relative",
    "min_maturity",
    "critical_factor",
    "gap_min_absolute",
    "gap_min_relative",
    "explain_alpha",
}
_INTEGERS = {"window_days", "max_window_days", "baseline_days", "min_n"}
_FLAGS = {"adverse_only", "pairs", "labelled_so_far"}


def detect_config(section: Mapping[str, Any], *, source: str = "[detect]") -> DetectConfig:
    """A :class:`DetectConfig` from the ``[detect]`` table, every key checked.

    >>> detect_config({"false_alarms_per_90_days": 0.5, "pairs": False}).false_alarms_per_90_days
    0.5
    >>> detect_config({"window": 3})
    Traceback (most recent call last):
    ...
    seismo.errors.ConfigError: [detect]: unknown key 'window' (known: adverse_only, baseline, ...)
    """
    known = {f.name for f in fields(DetectConfig)}
    values: dict[str, Any] = {}
    for key, value in section.items():
        if key not in known:
            names = sorted(known)
            raise ConfigError(f"{source}: unknown key {key!r} (known: {', '.join(names[:2])}, ...)")
        if key in _FLAGS and not isinstance(value, bool):
            raise ConfigError(f"{source}: {key} must be true or false, not {value!r}")
        if key in _INTEGERS and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{source}: {key} must be a whole number, not {value!r}")
        if key in _NUMBERS and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ConfigError(f"{source}: {key} must be a number, not {value!r}")
        if key == "min_absolute":
            if not isinstance(value, Mapping) or not all(
                isinstance(v, int | float) for v in value.values()
            ):
                raise ConfigError(f"{source}: min_absolute must map units to numbers")
            value = {**DetectConfig().min_absolute, **value}
        if key == "better" and not (
            isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values())
        ):
            raise ConfigError(
                f"{source}: better must map metrics or outcomes to higher/lower/either"
            )
        values[key] = value
    try:
        return DetectConfig(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def load_detect_config(path: str | Path | None) -> DetectConfig:
    """The ``[detect]`` section of a TOML file (the defaults when there is none)."""
    if path is None:
        return DetectConfig()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    section = data.get("detect", {})
    if not isinstance(section, Mapping):
        raise ConfigError(f"{path}: [detect] must be a table")
    return detect_config(section, source=f"{path} [detect]")
