"""Generated scenarios into seismo, and seismo's daily checks back out (for the bench scripts).

Only seismo's public surface is used: :func:`seismo.ingest`,
:func:`seismo.open_store`, :func:`seismo.detect.run.run_checks` and
:func:`seismo.alerts.sync`. Findings are read by attribute name with
defaults, so a detector that adds fields, reports two-attribute segments or
quality metrics is read the same way.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.independent import Data, write
from bench.independent.judge import Seen, parse_time
from seismo import RECOMMENDATIONS, Mapping, ingest, load_mapping
from seismo.alerts import list_alerts, sync
from seismo.detect.change import DetectConfig
from seismo.detect.run import KINDS, CheckResult, run_checks
from seismo.store import Store

__all__ = ["Replay", "count_cells", "load", "midnights", "replay", "watched_cells"]

#: Keys under which a detector may state how many cells it watches.
_CELL_KEYS = ("cells", "watched_cells", "n_cells", "tested_cells")


def _mapping(folder: Path, meta: dict[str, Any]) -> Mapping:
    return load_mapping(folder / meta["mapping"]) if meta["mapping"] else RECOMMENDATIONS


def load(store: Store, data: Data, folder: Path, *, reference: bool = False) -> dict[str, Any]:
    """Write ``data`` under ``folder`` and ingest it; returns the truth, with ``notes``.

    The recommender's export leaves ``returned`` empty when nothing was bought
    (other systems' convention, the generator's default), which seismo reads
    as not applicable.
    """
    meta = write(data, folder, reference=reference)
    notes: list[str] = []
    _ingest(store, folder, meta)
    if reference and meta["files"].get("reference"):
        from seismo.ingest.reference import add_reference

        add_reference(store, folder / meta["files"]["reference"])
    meta["notes"] = notes
    return meta


def _ingest(store: Store, folder: Path, meta: dict[str, Any]) -> None:
    mapping = _mapping(folder, meta)
    exported_at = parse_time(meta["exported_at"])
    for name in meta["ingest"]:
        ingest(store, folder / name, mapping=mapping, exported_at=exported_at)


def midnights(meta: dict[str, Any], first: int, last: int | None = None) -> list[datetime]:
    """The ends of days ``first`` .. ``last`` (1-based; default the last day)."""
    start = parse_time(meta["start"])
    last = meta["days"] if last is None else last
    return [start + timedelta(days=d) for d in range(first, last + 1)]


@dataclasses.dataclass
class Replay:
    """What a replay saw: every condition, and per check its time, findings and cells."""

    seen: dict[str, Seen]
    checks: list[dict[str, Any]]
    alert_states: dict[str, str]


def _fields(f: Any) -> tuple[str, str, dict[str, str] | None, str, str, datetime | None]:
    segment = getattr(f, "segment", None)
    since = getattr(f, "since", None)
    if isinstance(since, datetime) and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return (
        str(getattr(f, "kind", "quality")),
        str(getattr(f, "metric", "?")),
        {str(k): str(v) for k, v in segment.items()} if segment else None,
        str(getattr(f, "direction", "?")),
        str(getattr(f, "severity", "warning")),
        since,
    )


def replay(
    store: Store,
    days: Iterable[datetime],
    *,
    alerts: bool = True,
    stop: Callable[[datetime, list[Seen]], bool] | None = None,
    config: DetectConfig | None = None,
) -> Replay:
    """Run the check as of each moment of ``days``, in time order (as a scheduler would).

    ``stop(at, found_today)`` ends the replay early (a benchmark stops at detection).
    """
    seen: dict[str, Seen] = {}
    checks: list[dict[str, Any]] = []
    active: set[str] = set()
    for at in days:
        result = run_checks(store, as_of=at, config=config)
        if alerts:
            sync(store.engine, result.findings, as_of=at, kinds=set(KINDS))
        today: list[Seen] = []
        for f in result.findings:
            kind, metric, segment, direction, severity, since = _fields(f)
            item = Seen(kind, metric, segment, direction, at, at, severity=severity)
            item.since_first = since
            if item.key in seen:
                seen[item.key].update(at, severity, since)
            else:
                item.evidence = dict(getattr(f, "evidence", {}) or {})
                seen[item.key] = item
            today.append(seen[item.key])
        active = {s.key for s in today}
        cells, source = watched_cells(result)
        checks.append({"as_of": at, "findings": len(today), "cells": cells, "cells_from": source})
        if stop is not None and stop(at, today):
            break
    for key, s in seen.items():
        s.firing_at_end = key in active
    states = {a.key: str(a.state) for a in list_alerts(store.engine)} if alerts else {}
    return Replay(seen, checks, states)


def watched_cells(result: CheckResult) -> tuple[int, str]:
    """How many cells the check watched: as its findings' evidence says, else counted from
    its metrics table (metric × segment cell × model version)."""
    for f in result.findings:
        evidence = getattr(f, "evidence", {}) or {}
        for key in _CELL_KEYS:
            if isinstance(evidence.get(key), int):
                return int(evidence[key]), f"evidence[{key!r}]"
    table = result.metrics
    if table is None or table.num_rows == 0:
        return 0, "metrics table (empty)"
    return count_cells(table), "metrics table"


def count_cells(table: Any) -> int:
    """Distinct metric × segment cell × model version of a metrics table."""
    names = [
        c for c in ("metric", "attribute", "value", "model_version") if c in table.column_names
    ]
    return len(set(zip(*(table[c].to_pylist() for c in names), strict=True)))
