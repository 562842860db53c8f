"""The whole job from Python: drift, check and report, as the commands run them.

A pipeline or a notebook runs the monitoring without the command line::

    from datetime import date

    import seismo

    with seismo.open_store("seismo-workspace/seismo.duckdb") as store:
        seismo.ingest(store, "data/production-recommendations-sample.csv")
        seismo.add_reference(store, "data/training-reference.csv")
        drift = seismo.compute_drift(store, drifted_only=True)  # a seismo.Table
        check = seismo.check(store, as_of=date(2026, 6, 3))  # a seismo.Check
        seismo.write_report(store, "report.html")

``seismo drift`` and ``seismo check`` call these very functions and only
parse options and print, so the command and the API cannot disagree; ``seismo
reference add`` and ``seismo report`` call what :func:`add_reference` and
:func:`write_report` call. ``as_of`` is a ``datetime`` (naive means UTC) or a
``date``, which means the end of that day, as on the command line.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Literal

import pyarrow as pa
import pyarrow.compute as pc

from seismo.errors import ConfigError
from seismo.ingest.reference import ReferenceResult, add_reference
from seismo.results import Check, Table
from seismo.store import Store

if TYPE_CHECKING:
    from seismo.detect.change import DetectConfig
    from seismo.metrics.windows import Period
    from seismo.present.web.report import ReportResult

__all__ = [
    "ReferenceResult",
    "add_reference",
    "check",
    "compute_drift",
    "compute_operations",
    "write_report",
]

_PERIODS = ("hour", "day", "week", "month")
_Config = str | os.PathLike[str] | None


def compute_drift(
    store: Store,
    *,
    as_of: datetime | date | None = None,
    period: Period = "day",
    every: int | None = None,
    by: Sequence[str] | None = None,
    features: Sequence[str] | None = None,
    drifted_only: bool = False,
    since: datetime | date | None = None,
) -> Table:
    """Drift of inputs, scores and recommendation mix per window against the training reference.

    One row per feature × method × window × segment × model version (the
    columns of :data:`seismo.detect.drift.DRIFT_SCHEMA`; ``seismo drift --format
    json`` prints the same rows). ``period`` sets calendar windows; ``every``
    instead cuts each model version's predictions, in time order (ties by
    prediction id), into chunks of exactly that many, as
    :func:`~seismo.metrics.compute.compute_metrics` does (the last chunk,
    usually smaller, is never final). ``by`` adds rows per value of these segment
    attributes, ``features`` keeps only these features and ``drifted_only``
    the rows that drifted (the false-discovery adjustment is made over every
    row first, so a filter changes no figure); ``since`` only the windows
    from that moment (a date: from its start) on. Raises
    :class:`~seismo.errors.ConfigError` when no reference is registered
    (:func:`add_reference`), a segment, feature or period is unknown, or
    ``every`` is not a positive whole number.
    """
    from seismo.detect.drift import compute_drift as drift_table

    if period not in _PERIODS:
        raise ConfigError(f"period must be hour, day, week or month, not {period!r}")
    start = None
    if since is not None:
        start = since if isinstance(since, datetime) else datetime.combine(since, time())
    table = drift_table(
        store, as_of=_moment(as_of), period=period, every=every, by=list(by or []), since=start
    )
    if features:
        offered = set(table.column("feature").to_pylist())
        if offered and (unknown := [f for f in features if f not in offered]):
            raise ConfigError(
                f"unknown feature(s) {', '.join(map(repr, unknown))}; the drift table has"
                f" {', '.join(sorted(offered))}"
            )
        table = table.filter(pc.is_in(table.column("feature"), value_set=pa.array(list(features))))
    if drifted_only:
        table = table.filter(table.column("drifted"))
    return Table(table, title="Drift against the training reference")


def compute_operations(
    store: Store,
    *,
    as_of: datetime | date | None = None,
    period: Literal["hour", "day"] = "hour",
    by: Sequence[str] | None = None,
    since: datetime | date | None = None,
    versions: bool = True,
) -> Table:
    """Latency P50/P95/P99, error rate by status, volume and version shares per window.

    One row per figure × window × model × version × segment value (the columns
    of :data:`seismo.metrics.operations.OPERATIONS_SCHEMA`; ``seismo
    operations --format json`` prints the same rows), each with what is normal
    for it (``expected``, ``expected_low``, ``expected_high``): the same hour of
    past weeks for volume, the same hour of day over the last 7 days for
    latency, the pooled last 7 days for shares. ``period`` is ``hour`` or
    ``day``; ``by`` adds rows per value of these segment attributes; ``since``
    keeps the windows from then on; ``versions=False`` pools the versions.
    Raises :class:`~seismo.errors.ConfigError` on an unknown period or segment.
    """
    from seismo.metrics.operations import compute_operations as operations_table

    start = None
    if since is not None:
        start = since if isinstance(since, datetime) else datetime.combine(since, time())
    table = operations_table(
        store,
        as_of=_moment(as_of),
        period=period,
        by=list(by or []),
        since=start,
        versions=versions,
    )
    return Table(table, title="Operations: latency, errors, volume and versions serving")


def check(
    store: Store,
    *,
    as_of: datetime | date | None = None,
    config: _Config = None,
    detect: DetectConfig | None = None,
) -> Check:
    """Run detection as of ``as_of``, update the stored alerts and notify: ``seismo check``.

    Every detector runs on the maturity-aware metrics as of ``as_of`` (default:
    the end of the data); the findings are applied to the stored alerts (one
    alert per condition, resolved when it is gone) and, when ``config`` (the
    TOML file ``seismo check --config`` takes) has ``[alerts]`` routes, every
    notification not yet delivered is sent. A check older than one already
    stored leaves the stored alerts alone and says so (:attr:`Check.replay`);
    its alerts are what was found as of then. ``detect`` replaces the file's
    ``[detect]`` settings. Raises :class:`~seismo.errors.SeismoError` on a bad
    config file.
    """
    from seismo.alerts import found_alerts, load_policy, load_routes, notify, sync
    from seismo.alerts.planned import list_planned, mark_planned
    from seismo.detect.run import KINDS, run_checks
    from seismo.metrics.ranking_spec import load_ranking_spec

    routes = load_routes(config) if config is not None else []
    policy = load_policy(config) if config is not None else None
    from seismo.detect.operations import load_operations_rules

    ranking = load_ranking_spec(None if config is None else os.fspath(config))
    rules = load_operations_rules(None if config is None else os.fspath(config))
    result = run_checks(
        store,
        as_of=_moment(as_of),
        config=_settings(config, detect),
        ranking_spec=ranking,
        operations=rules,
    )
    findings = mark_planned(result.findings, list_planned(store.engine))
    synced = sync(store.engine, findings, as_of=result.as_of, kinds=set(KINDS))
    # Unexplained changes first; those that began inside a planned change after them.
    shown = sorted(
        found_alerts(store.engine, findings, synced), key=lambda a: "planned" in a.evidence
    )
    deliveries = notify(store.engine, routes, policy=policy) if routes else []
    return Check(
        as_of=result.as_of,
        alerts=tuple(shown),
        findings=tuple(findings),
        synced=synced,
        deliveries=tuple(deliveries),
        watch=result.watch,
    )


def write_report(
    store: Store,
    path: str | os.PathLike[str] = "report.html",
    *,
    as_of: datetime | date | None = None,
    config: _Config = None,
    detect: DetectConfig | None = None,
) -> ReportResult:
    """Write the business view as one self-contained HTML file: ``seismo report``.

    Runs a check as of ``as_of`` (syncing the stored alerts, as the command
    does; nobody is notified, the notifications wait in the outbox for the
    next :func:`check` with routes) and writes the page to ``path``. The same
    store and ``as_of`` give the same bytes. ``config`` and ``detect`` as for
    :func:`check`, so the page shows what the alerts say.
    """
    from seismo.present.web.report import write_report as write

    return write(path, store=store, as_of=_moment(as_of), detect=_settings(config, detect))


def _moment(as_of: datetime | date | None) -> datetime | None:
    """``as_of`` as the store reads it: naive UTC; a bare date means the end of that day.

    >>> from datetime import timedelta, timezone
    >>> _moment(date(2026, 6, 3))
    datetime.datetime(2026, 6, 3, 23, 59, 59, 999999)
    >>> _moment(datetime(2026, 6, 3, 14, tzinfo=timezone(timedelta(hours=2))))
    datetime.datetime(2026, 6, 3, 12, 0)
    """
    if as_of is None:
        return None
    if not isinstance(as_of, datetime):
        return datetime.combine(as_of, time.max)
    return as_of.astimezone(UTC).replace(tzinfo=None) if as_of.tzinfo else as_of


def _settings(config: _Config, detect: DetectConfig | None) -> DetectConfig:
    from seismo.detect.settings import load_detect_config

    if detect is not None:
        return detect
    return load_detect_config(None if config is None else os.fspath(config))
