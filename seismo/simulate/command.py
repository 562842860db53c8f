"""``seismo simulate``: write the seed scenario's files from the command line.

Thin over :func:`seismo.simulate.simulate` and
:func:`seismo.simulate.write_simulation`; the CLI registers it with
``app.command("simulate")(simulate_command)``.
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import pyarrow.compute as pc
import typer
from rich.console import Console
from rich.table import Table

from seismo.simulate.scenario import Scenario, Simulation, simulate, write_simulation

__all__ = ["OutputFormat", "simulate_command", "summary"]


class OutputFormat(StrEnum):
    """File format of the written tables."""

    csv = "csv"
    parquet = "parquet"


def simulate_command(
    out: Annotated[
        Path, typer.Option("--out", help="Directory for the files (created if missing).")
    ],
    days: Annotated[int, typer.Option("--days", min=1, help="Days of production traffic.")] = 30,
    per_day: Annotated[int, typer.Option("--per-day", min=1, help="Recommendations a day.")] = 3000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same files.")] = 0,
    no_shift: Annotated[
        bool, typer.Option("--no-shift", help="Switch every planted shift off.")
    ] = False,
    no_segment_drop: Annotated[
        bool, typer.Option("--no-segment-drop", help="No 25-34 click-through drop.")
    ] = False,
    no_changeover: Annotated[
        bool, typer.Option("--no-changeover", help="No summer collection: spring all month.")
    ] = False,
    no_exposure_shift: Annotated[
        bool,
        typer.Option("--no-exposure-shift", help="55+ keep seeing as many sustainable items."),
    ] = False,
    no_segment_delays: Annotated[
        bool,
        typer.Option("--no-segment-delays", help="Same purchase delays for every age group."),
    ] = False,
    serving_incident: Annotated[
        bool,
        typer.Option(
            "--serving-incident",
            help="Plant a serving incident: 3 hours on day 25 with latency x8 and 8% failures.",
        ),
    ] = False,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="File format: csv or parquet.")
    ] = OutputFormat.csv,
    no_truth: Annotated[
        bool,
        typer.Option("--no-truth", help="Do not write final-outcomes (the answer key)."),
    ] = False,
) -> None:
    """Write a simulated month of fashion recommendations with planted shifts.

    Writes production-recommendations-sample (the export as known at the end of
    the last day), training-reference and final-outcomes (every outcome once
    all windows closed).
    """
    scenario = Scenario(days=days, per_day=per_day, seed=seed)
    if no_shift:
        scenario = scenario.no_shift()
    scenario = dataclasses.replace(
        scenario,
        segment_drop=scenario.segment_drop and not no_segment_drop,
        collection_changeover=scenario.collection_changeover and not no_changeover,
        sustainable_exposure_shift=scenario.sustainable_exposure_shift and not no_exposure_shift,
        segment_purchase_delays=scenario.segment_purchase_delays and not no_segment_delays,
        serving_incident=serving_incident,
    )
    status = Console(stderr=True)
    with status.status(f"Simulating {days} days x {per_day:,} recommendations..."):
        sim = simulate(scenario)
    with status.status(f"Writing {fmt.value} files to {out}..."):
        paths = write_simulation(sim, out, fmt=fmt.value, truth=not no_truth)
    console = Console()
    console.print(summary(sim))
    for name, path in paths.items():
        console.print(f"  {name:<9} {path}  ({path.stat().st_size / 1e6:,.1f} MB)")


def summary(sim: Simulation) -> Table:
    """A short table: rows, overall click-through, ground-truth share, shifts."""
    export = sim.export
    table = Table(title="Simulated recommendations", show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("export rows", f"{export.num_rows:,} (to {sim.exported_at:%Y-%m-%d %H:%M} UTC)")
    table.add_row("reference rows", f"{sim.reference.num_rows:,}")
    table.add_row("click-through", f"{_mean(export['clicked']):.1%} of settled clicks")
    table.add_row("ground truth", f"{_mean(export['ground_truth_available']):.1%} of rows final")
    s = sim.scenario
    # A shift switched on but outside the month (a short demo) is not planted.
    summer = s.collection_changeover and s.changeover_day < s.days
    shifts = {
        f"{s.drop_segment} drop": s.segment_drop and s.drop_days > 0,
        "summer changeover": summer,
        "55+ sustainable exposure": s.sustainable_exposure_shift and summer,
        "segment purchase delays": s.segment_purchase_delays,
        "serving incident": s.serving_incident and s.incident_day < s.days,
    }
    planted = [name for name, on in shifts.items() if on]
    table.add_row("planted", ", ".join(planted) if planted else "nothing (no shift)")
    return table


def _mean(column: pa.ChunkedArray) -> float:
    value = pc.mean(column.cast(pa.float64())).as_py()
    return float("nan") if value is None else float(value)
