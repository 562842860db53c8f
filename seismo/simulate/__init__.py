"""Simulate the seed scenario: a month of fashion recommendations with planted shifts.

``simulate(Scenario())`` returns the export as known at the end of day 30, the
final outcomes of the same rows and a training reference; ``write_scenario``
writes them as the files every demo and test starts from. See
:mod:`seismo.simulate.scenario` for what is planted and how it is calibrated.
"""

from __future__ import annotations

from seismo.simulate.scenario import (
    COLUMNS,
    FILE_NAMES,
    Scenario,
    Simulation,
    as_known_at,
    simulate,
    write_scenario,
    write_simulation,
)

__all__ = [
    "COLUMNS",
    "FILE_NAMES",
    "Scenario",
    "Simulation",
    "as_known_at",
    "simulate",
    "write_scenario",
    "write_simulation",
]
