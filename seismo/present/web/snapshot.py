"""What the dashboard shows, computed once per version of the data.

A :class:`Snapshot` is one check (:func:`seismo.detect.run.run_checks`: the
maturity-aware metrics, the exposure metrics and the findings) plus the stored
alerts after :func:`seismo.alerts.sync` applied it. Computing it reads the
events (the cohort state, one exposure scan, one root-cause count), which
takes seconds on millions of rows; every page is then drawn from it.

The data version is ``MAX(seq)`` of the store's ``changes`` table: every
ingest that adds predictions or outcomes adds to it; registering a training
reference changes the references' stamp, which counts too, and so does
recording a planned change (it re-ranks the findings). :class:`SnapshotCache`
recomputes only when it moves, so a page load costs two tiny queries (the
version, and the ``alerts`` table, whose states ``seismo alerts ack`` may have
changed meanwhile) and never touches the events. The store is opened per
request and closed again, so ``seismo ingest`` can write to a DuckDB file
between page loads (DuckDB admits one writing process at a time; a writer
waits for a page being computed, see :func:`seismo.store.engine.connect`).
A served page changes no alert (``sync_alerts`` is off): alerts are the
business of ``seismo check``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from seismo.alerts import Alert, list_alerts, sync
from seismo.alerts.planned import PlannedChange, list_planned, mark_planned
from seismo.config import OutcomeType
from seismo.detect.change import DetectConfig
from seismo.detect.distributions import Distribution, window_distributions
from seismo.detect.drift import compute_drift
from seismo.detect.findings import Finding
from seismo.detect.run import KINDS, Watch, run_checks
from seismo.errors import StoreError
from seismo.metrics.classification import ScoreBins
from seismo.metrics.compute import RESULT_SCHEMA
from seismo.metrics.operations import compute_operations
from seismo.metrics.quality import pooled_bins
from seismo.metrics.spec import default_metrics
from seismo.present.web.figures import Series, SeriesKey, index
from seismo.store import Store, open_store
from seismo.words import NEUTRAL, Words

__all__ = ["Snapshot", "SnapshotCache", "compute_snapshot", "data_version"]

#: Seconds a page load waits for a process holding a DuckDB store before it shows the
#: pages it already has.
PAGE_WAIT = 2.0


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """One check's results and the alerts, as the pages read them.

    ``outcomes`` maps each rate metric to the outcome type it counts (click,
    purchase, …), ``weights`` to the feature it sums (revenue: the price) and
    ``givens`` to the outcome its population needs (purchases per *click*),
    so pages can say "still waiting for 38% of purchases"; ``types`` are the
    store's outcome types (their maturity windows explain why a day is
    provisional). ``series`` and ``exposure_series`` are the tables regrouped
    per metric × segment (:func:`~seismo.present.web.figures.index`), once,
    so a page does not regroup thousands of rows. ``version`` is the data
    version it was computed from; ``seconds`` how long that took.
    """

    as_of: datetime
    version: int | None
    references: str
    computed_at: datetime
    seconds: float
    predictions: int
    metrics: pa.Table
    exposure: pa.Table | None
    drift: pa.Table | None
    findings: tuple[Finding, ...]
    alerts: tuple[Alert, ...]
    outcomes: dict[str, str]
    weights: dict[str, str]
    givens: dict[str, str]
    types: dict[str, OutcomeType]
    segments: tuple[str, ...]
    delay_strata: str | None
    synced: bool
    series: dict[SeriesKey, Series]
    exposure_series: dict[SeriesKey, Series]
    watch: Watch | None = None
    #: How people talk about the model (its mapping's ``[words]``).
    words: Words = NEUTRAL
    #: The outcomes the model's score predicts (its model-quality metrics' prefixes).
    quality: tuple[str, ...] = ()
    #: Per classifier outcome (a score and a label): every scored prediction's bins, as of
    #: the check (the engineering view's confusion matrix and curves).
    score_bins: dict[str, ScoreBins] = field(default_factory=dict)
    #: The detector's settings the findings were made with (the charts' alert levels).
    detect: DetectConfig = field(default_factory=DetectConfig)
    #: Each feature's reference and latest-window histograms (the engineering view's charts).
    distributions: tuple[Distribution, ...] = ()
    #: Drift per value of every segment attribute (``seismo drift --by …`` for all of them).
    segment_drift: pa.Table | None = None
    #: The planned changes recorded with ``seismo annotate`` (drawn on the charts).
    planned: tuple[PlannedChange, ...] = ()
    #: The hourly operations figures the check judged (latency, errors, volume, versions).
    operations: pa.Table | None = None
    #: The latest complete hour's operations figures per value of every segment attribute.
    segment_operations: pa.Table | None = None

    @property
    def empty(self) -> bool:
        """Whether the store held no prediction (before ``as_of``)."""
        return bool(self.metrics.num_rows == 0)


def data_version(store: Store) -> int | None:
    """The store's data version: the number of the last batch that changed any day."""
    rows = store.engine.query("SELECT MAX(seq) FROM changes")
    return None if not rows or rows[0][0] is None else int(rows[0][0])


def references_stamp(store: Store) -> str:
    """Which references are registered (version and content digest): drift depends on them."""
    rows = store.engine.query(
        "SELECT model_version, digest FROM reference_sets ORDER BY model_version"
    )
    return ";".join(f"{v}:{d}" for v, d in rows)


def compute_snapshot(
    store: Store,
    *,
    as_of: datetime | None = None,
    sync_alerts: bool = True,
    detect: DetectConfig | None = None,
) -> Snapshot:
    """Run one check as of ``as_of`` (default: the end of the data) and read the alerts.

    With ``sync_alerts`` the findings are applied to the stored alerts exactly
    as ``seismo check`` applies them: the pages then show each alert's life
    (first seen, acknowledged, episodes). Nobody is notified from here, and
    nothing is lost for it: the sync records what is worth telling in the
    outbox, which the next ``seismo check`` with routes delivers.
    """
    started = time.perf_counter()
    version = data_version(store)
    count = store.count("predictions")
    types = store.outcome_types()
    config = default_metrics(types, store.attributes(), store.declared())
    outcomes = {m.name: m.outcome for m in config.metrics}
    weights = {m.name: m.weight for m in config.metrics if m.weight}
    givens = {m.name: m.given for m in config.metrics if m.given}
    findings: tuple[Finding, ...] = ()
    watch: Watch | None = None
    exposure: pa.Table | None = None
    drift: pa.Table | None = None
    score_bins: dict[str, ScoreBins] = {}
    distributions: tuple[Distribution, ...] = ()
    segment_drift: pa.Table | None = None
    planned = tuple(list_planned(store.engine))
    operations: pa.Table | None = None
    segment_operations: pa.Table | None = None
    if count:
        result = run_checks(store, as_of=as_of, config=detect)
        cut, metrics, exposure, drift = result.as_of, result.metrics, result.exposure, result.drift
        findings = tuple(mark_planned(result.findings, list(planned)))
        watch, operations = result.watch, result.operations
        if store.segments():  # for /metrics: the latest hour is enough
            segment_operations = compute_operations(
                store, as_of=cut, by=store.segments(), since=cut - timedelta(hours=1)
            )
        for outcome in config.quality:
            if types[outcome].kind == "label":
                bins = pooled_bins(store, types[outcome], cut, config.threshold)
                if bins is not None:
                    score_bins[outcome] = bins
        if drift is not None:
            distributions = tuple(window_distributions(store, as_of=cut))
            if store.segments():
                # the grid shows the latest window: the last two days are enough
                since = cut.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
                segment_drift = compute_drift(store, as_of=cut, by=store.segments(), since=since)
        if sync_alerts:
            sync(store.engine, list(findings), as_of=cut, kinds=set(KINDS))
    else:
        cut, metrics = as_of or datetime(1970, 1, 1), RESULT_SCHEMA.empty_table()
    return Snapshot(
        as_of=cut,
        version=version,
        references=references_stamp(store),
        computed_at=datetime.now(UTC).replace(tzinfo=None, microsecond=0),
        seconds=time.perf_counter() - started,
        predictions=count,
        metrics=metrics,
        exposure=exposure,
        drift=drift,
        findings=findings,
        alerts=tuple(list_alerts(store.engine)),
        outcomes=outcomes,
        weights=weights,
        givens=givens,
        types=types,
        segments=tuple(store.segments()),
        delay_strata=config.delay_strata,
        synced=sync_alerts,
        series=index(metrics),
        exposure_series=index(exposure),
        watch=watch,
        words=store.words(),
        quality=config.quality,
        score_bins=score_bins,
        detect=detect or DetectConfig(),
        distributions=distributions,
        segment_drift=segment_drift,
        planned=planned,
        operations=operations,
        segment_operations=segment_operations,
    )


class SnapshotCache:
    """The latest snapshot of one store, recomputed when the data version moves.

    ``as_of`` pins the moment (None: always the end of the data). Thread-safe:
    concurrent requests during a computation wait for it instead of starting
    their own.
    """

    def __init__(
        self,
        store: str | None,
        *,
        as_of: datetime | None = None,
        detect: DetectConfig | None = None,
        sync_alerts: bool = False,
    ) -> None:
        self.store = store
        self.as_of = as_of
        self.detect = detect
        #: Off for the served dashboard: a page view (a GET) changes no alert; the pages
        #: show each finding with its stored alert's life as the last ``seismo check`` left it.
        self.sync_alerts = sync_alerts
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None

    def get(self) -> Snapshot:
        """The snapshot for the data as it is now, with the alerts as they are now.

        The same object comes back while neither changed, so callers may keep
        what they derived from it (the app keeps the rendered pages).
        """
        try:
            handle = open_store(self.store, wait=None if self._snapshot is None else PAGE_WAIT)
        except StoreError:
            if self._snapshot is None:
                raise
            # Another process (a check, an ingest) holds the DuckDB file: the last pages
            # beat an error; the next load after it is done shows what it changed.
            return self._snapshot
        with handle as store:
            version, references = data_version(store), references_stamp(store)
            planned = tuple(list_planned(store.engine))
            with self._lock:
                current = self._snapshot
                # A planned change recorded meanwhile re-ranks the findings: check again.
                if current is None or (current.version, current.references, current.planned) != (
                    version,
                    references,
                    planned,
                ):
                    current = compute_snapshot(
                        store, as_of=self.as_of, detect=self.detect, sync_alerts=self.sync_alerts
                    )
                else:
                    alerts = tuple(list_alerts(store.engine))
                    if alerts != current.alerts:  # acknowledged or silenced meanwhile
                        current = replace(current, alerts=alerts)
                self._snapshot = current
        return current

    def warm(self) -> threading.Thread:
        """Compute the first snapshot in the background (``seismo serve`` starts with it)."""
        thread = threading.Thread(target=self.get, name="seismo-snapshot", daemon=True)
        thread.start()
        return thread
