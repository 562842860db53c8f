"""``GET /metrics``: the dashboard's snapshot in Prometheus's exposition format.

Drawn with prometheus-client from the same :class:`~seismo.present.web.snapshot.Snapshot`
the pages read (so a scrape costs no engine work between data versions), for
Prometheus, Grafana and Alertmanager rules. Every series is a gauge labelled
``model`` (the model's name), ``version`` (a model version, ``all`` for every
version together) and ``segment`` (``all``, or one ``attribute=value``):

===================================== ==========================================
``seismo_quality_estimate``            each metric's latest window: the nowcast of
                                       its final value (``metric``), with
``seismo_quality_estimate_low/_high``  its interval, ``seismo_quality_pending_share``
                                       (truth still to come) and
                                       ``seismo_quality_final`` (0/1)
``seismo_drift_statistic``             the latest complete window's drift per
                                       ``feature`` × ``method``, and
                                       ``seismo_drift_drifted`` (0/1)
``seismo_alert_active``                1 per alert not resolved (``kind``,
                                       ``metric``, ``severity``, ``state``, ``id``)
``seismo_alerts``                      alerts per ``state`` × ``severity``
``seismo_operations_latency_ms``       the latest complete hour's ``quantile``
                                       (0.5/0.95/0.99), ``..._normal_ms`` its normal
``seismo_operations_error_rate``       and ``_normal``; ``seismo_operations_status_share``
                                       per failing ``status``
``seismo_operations_requests``         predictions in the latest complete hour,
                                       ``_expected`` (the same hour of past weeks)
``seismo_operations_traffic_share``    per version
``seismo_check_*``                     the scheduled checks: last run, next run,
                                       duration, failures (with ``--check-every``)
===================================== ==========================================

**Cardinality is bounded**: single attributes only (no pairs), and at most
:data:`MAX_SEGMENT_VALUES` values per attribute (those with the most
predictions); the others are left out, and ``seismo_segments_dropped`` says
how many were. Quality series are per metric × version × segment; drift per
feature × method (aggregate only); so a store with 10 metrics, 2 versions and
5 attributes exports at most 10 × 2 × (1 + 5 × 20) quality series per gauge.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from seismo.metrics.naming import PAIR_SEP
from seismo.present.web.snapshot import Snapshot

__all__ = ["CONTENT_TYPE", "MAX_SEGMENT_VALUES", "exposition"]

#: The values of one segment attribute exported (most predictions first).
MAX_SEGMENT_VALUES = 20
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BASE = ("model", "version", "segment")


def exposition(snap: Snapshot, schedule: dict[str, Any] | None = None) -> bytes:
    """The exposition text of ``snap`` (and of the scheduled checks' ``schedule`` record)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(snap, schedule))
    return bytes(generate_latest(registry))


def _seconds(moment: datetime | None) -> float:
    return math.nan if moment is None else moment.replace(tzinfo=UTC).timestamp()


def _segment(attribute: str | None, value: str | None) -> str:
    return "all" if attribute is None else f"{attribute}={value}"


def _finite(x: Any) -> bool:
    return x is not None and isinstance(x, int | float) and math.isfinite(x)


class _Collector(Collector):
    def __init__(self, snap: Snapshot, schedule: dict[str, Any] | None) -> None:
        self.snap, self.schedule = snap, schedule
        self.model = self._model()
        self.dropped = 0

    def _model(self) -> str:
        ops = self.snap.operations
        if ops is not None and ops.num_rows:
            return str(ops["model_name"][0].as_py() or "")
        return ""

    def _allowed(self, rows: list[dict[str, Any]], size: str = "n") -> set[tuple[Any, Any]]:
        """The (attribute, value) cells exported: the most populous values per attribute."""
        sizes: dict[tuple[Any, Any], float] = {}
        for r in rows:
            if r["attribute"] is not None and PAIR_SEP not in str(r["attribute"]):
                key = (r["attribute"], r["value"])
                sizes[key] = max(sizes.get(key, 0.0), float(r.get(size) or 0))
        by_attribute: dict[Any, list[tuple[float, Any]]] = {}
        for (attribute, value), n in sizes.items():
            by_attribute.setdefault(attribute, []).append((n, value))
        allowed = {(None, None)}
        for attribute, values in by_attribute.items():
            values.sort(key=lambda v: (-v[0], str(v[1])))
            allowed |= {(attribute, v) for _, v in values[:MAX_SEGMENT_VALUES]}
            self.dropped += max(0, len(values) - MAX_SEGMENT_VALUES)
        return allowed

    def collect(self) -> Iterable[Metric]:
        self.dropped = 0
        yield from self._info()
        yield from self._quality()
        yield from self._drift()
        yield from self._alerts()
        yield from self._operations()
        yield from self._checks()
        dropped = GaugeMetricFamily(
            "seismo_segments_dropped",
            f"Segment values left out (beyond {MAX_SEGMENT_VALUES} per attribute).",
            labels=["model"],
        )
        dropped.add_metric([self.model], self.dropped)
        yield dropped

    def _info(self) -> Iterator[Metric]:
        snap = self.snap
        g = GaugeMetricFamily(
            "seismo_snapshot_as_of_timestamp_seconds",
            "The moment the figures describe (the check's cut-off).",
            labels=["model"],
        )
        g.add_metric([self.model], _seconds(snap.as_of))
        yield g
        g = GaugeMetricFamily(
            "seismo_snapshot_computed_seconds",
            "How long the snapshot the figures come from took to compute.",
            labels=["model"],
        )
        g.add_metric([self.model], snap.seconds)
        yield g
        g = GaugeMetricFamily("seismo_predictions", "Predictions in the store.", labels=["model"])
        g.add_metric([self.model], snap.predictions)
        yield g

    def _quality(self) -> Iterator[Metric]:
        table = self.snap.metrics
        if table.num_rows == 0:
            return
        latest: dict[tuple[Any, ...], dict[str, Any]] = {}
        rows = table.select(
            [
                "metric",
                "attribute",
                "value",
                "model_version",
                "window_start",
                "n",
                "pending_n",
                "estimate",
                "estimate_low",
                "estimate_high",
                "final",
            ]
        ).to_pylist()
        allowed = self._allowed(rows)
        for r in rows:
            if (r["attribute"], r["value"]) not in allowed:
                continue
            key = (r["metric"], r["model_version"], r["attribute"], r["value"])
            if key not in latest or r["window_start"] > latest[key]["window_start"]:
                latest[key] = r
        labels = [*_BASE, "metric"]
        families = {
            "estimate": GaugeMetricFamily(
                "seismo_quality_estimate",
                "A metric's latest window: the nowcast of its final value.",
                labels=labels,
            ),
            "estimate_low": GaugeMetricFamily(
                "seismo_quality_estimate_low", "Lower end of its interval.", labels=labels
            ),
            "estimate_high": GaugeMetricFamily(
                "seismo_quality_estimate_high", "Upper end of its interval.", labels=labels
            ),
            "pending": GaugeMetricFamily(
                "seismo_quality_pending_share",
                "Share of the window's members whose outcome is still to come.",
                labels=labels,
            ),
            "final": GaugeMetricFamily(
                "seismo_quality_final", "1 when the window's value is final.", labels=labels
            ),
        }
        for r in latest.values():
            values = [
                self.model,
                r["model_version"] or "all",
                _segment(r["attribute"], r["value"]),
                r["metric"],
            ]
            for name in ("estimate", "estimate_low", "estimate_high"):
                if _finite(r[name]):
                    families[name].add_metric(values, r[name])
            if r["n"]:
                families["pending"].add_metric(values, (r["pending_n"] or 0) / r["n"])
            families["final"].add_metric(values, 1.0 if r["final"] else 0.0)
        yield from families.values()

    def _drift(self) -> Iterator[Metric]:
        table = self.snap.drift
        if table is None or table.num_rows == 0:
            return
        rows = [r for r in table.to_pylist() if r["attribute"] is None and r["final"]]
        latest: dict[tuple[Any, ...], dict[str, Any]] = {}
        for r in rows:
            key = (r["feature"], r["method"], r["model_version"])
            if key not in latest or r["window_start"] > latest[key]["window_start"]:
                latest[key] = r
        labels = [*_BASE, "feature", "method"]
        stat = GaugeMetricFamily(
            "seismo_drift_statistic",
            "Drift of a feature against the training reference, latest complete window.",
            labels=labels,
        )
        drifted = GaugeMetricFamily(
            "seismo_drift_drifted", "1 when the feature drifted in that window.", labels=labels
        )
        for r in latest.values():
            values = [self.model, r["model_version"] or "all", "all", r["feature"], r["method"]]
            if _finite(r["statistic"]):
                stat.add_metric(values, r["statistic"])
            drifted.add_metric(values, 1.0 if r["drifted"] else 0.0)
        yield stat
        yield drifted

    def _alerts(self) -> Iterator[Metric]:
        active = GaugeMetricFamily(
            "seismo_alert_active",
            "1 per alert that is not resolved.",
            labels=[*_BASE, "id", "kind", "metric", "severity", "state"],
        )
        counts = GaugeMetricFamily(
            "seismo_alerts", "Alerts by state and severity.", labels=["model", "state", "severity"]
        )
        tally: dict[tuple[str, str], int] = {
            (state, severity): 0
            for state in ("firing", "acknowledged", "resolved")
            for severity in ("critical", "warning")
        }
        for a in self.snap.alerts:
            tally[(a.state, a.severity)] = tally.get((a.state, a.severity), 0) + 1
            if a.state == "resolved":
                continue
            segment = dict(a.segment or {})
            version = segment.pop("model_version", None) if a.kind == "operations" else None
            text = ",".join(f"{k}={v}" for k, v in sorted(segment.items())) or "all"
            active.add_metric(
                [self.model, version or "all", text, a.id, a.kind, a.metric, a.severity, a.state],
                1.0,
            )
        for (state, severity), n in sorted(tally.items()):
            counts.add_metric([self.model, state, severity], n)
        yield active
        yield counts

    def _operations(self) -> Iterator[Metric]:
        rows = []
        if self.snap.operations is not None:
            rows += [r for r in self.snap.operations.to_pylist() if r["final"]]
        if self.snap.segment_operations is not None:
            rows += [
                r
                for r in self.snap.segment_operations.to_pylist()
                if r["final"] and r["attribute"] is not None
            ]
        if not rows:
            return
        allowed = self._allowed(rows)
        latest: dict[tuple[Any, ...], dict[str, Any]] = {}
        for r in rows:
            if (r["attribute"], r["value"]) not in allowed:
                continue
            key = (r["metric"], r["model_version"], r["attribute"], r["value"], r["status"])
            if key not in latest or r["window_start"] > latest[key]["window_start"]:
                latest[key] = r
        base = list(_BASE)
        latency = GaugeMetricFamily(
            "seismo_operations_latency_ms",
            "Latency quantile of the latest complete hour, in milliseconds.",
            labels=[*base, "quantile"],
        )
        latency_normal = GaugeMetricFamily(
            "seismo_operations_latency_normal_ms",
            "Its normal: the median at this hour of day over the previous 7 days.",
            labels=[*base, "quantile"],
        )
        simple = {
            "error_rate": (
                GaugeMetricFamily(
                    "seismo_operations_error_rate",
                    "Share of failed requests in the latest complete hour.",
                    labels=base,
                ),
                GaugeMetricFamily(
                    "seismo_operations_error_rate_normal",
                    "Its normal: the pooled rate over the previous 7 days.",
                    labels=base,
                ),
            ),
            "volume": (
                GaugeMetricFamily(
                    "seismo_operations_requests",
                    "Predictions served in the latest complete hour.",
                    labels=base,
                ),
                GaugeMetricFamily(
                    "seismo_operations_requests_expected",
                    "The mean of the same hour of the week in previous weeks.",
                    labels=base,
                ),
            ),
            "traffic_share": (
                GaugeMetricFamily(
                    "seismo_operations_traffic_share",
                    "A version's share of its model's predictions in the latest complete hour.",
                    labels=base,
                ),
                GaugeMetricFamily(
                    "seismo_operations_traffic_share_normal",
                    "Its normal: the pooled share over the previous 7 days.",
                    labels=base,
                ),
            ),
        }
        status = GaugeMetricFamily(
            "seismo_operations_status_share",
            "Share of the latest complete hour's requests with this failing status.",
            labels=[*base, "status"],
        )
        quantiles = {"latency_p50": "0.5", "latency_p95": "0.95", "latency_p99": "0.99"}
        for r in latest.values():
            values = [
                str(r["model_name"] or self.model),
                r["model_version"] or "all",
                _segment(r["attribute"], r["value"]),
            ]
            metric = r["metric"]
            if metric in quantiles:
                latency.add_metric([*values, quantiles[metric]], r["figure"])
                if _finite(r["expected"]):
                    latency_normal.add_metric([*values, quantiles[metric]], r["expected"])
            elif metric == "status_share":
                status.add_metric([*values, r["status"]], r["figure"])
            elif metric in simple:
                now, normal = simple[metric]
                now.add_metric(values, r["figure"])
                if _finite(r["expected"]):
                    normal.add_metric(values, r["expected"])
        yield latency
        yield latency_normal
        for pair in simple.values():
            yield from pair
        yield status

    def _checks(self) -> Iterator[Metric]:
        s = self.schedule
        if s is None:
            return
        for name, text, value in (
            (
                "seismo_check_last_run_timestamp_seconds",
                "When the last check started.",
                _seconds(s["last_started"]),
            ),
            (
                "seismo_check_next_run_timestamp_seconds",
                "When the next check is due.",
                _seconds(s["next_at"]),
            ),
            (
                "seismo_check_last_duration_seconds",
                "How long the last check took.",
                math.nan if s["last_seconds"] is None else s["last_seconds"],
            ),
            (
                "seismo_check_last_ok",
                "1 when the last check succeeded.",
                math.nan if not s["runs"] else float(s["last_error"] is None),
            ),
            (
                "seismo_check_runs",
                "Scheduled checks run since the server started.",
                float(s["runs"]),
            ),
            ("seismo_check_failures", "Scheduled checks that failed.", float(s["failures"])),
        ):
            g = GaugeMetricFamily(name, text, labels=["model"])
            g.add_metric([self.model], value)
            yield g
