"""Alerts: findings turned into stored, deduplicated, grouped and routed alerts.

``seismo check`` runs the detectors, then::

    result = sync(engine, findings, as_of=as_of, kinds={"quality", "fairness", "drift"})
    shown = found_alerts(engine, findings, result)       # what was firing as of as_of
    deliveries = notify(engine, load_routes("seismo.toml"), policy=load_policy("seismo.toml"))

:func:`sync` keeps one alert per condition (same id on every run and every
store), re-opens it when it comes back, resolves it when it is gone, and
records what is worth telling (one notification per group of related
alerts, only about what changed) in the outbox, whoever calls it: the
dashboard and the report sync too. :func:`notify` delivers the outbox to
every configured route once, retrying failures at later checks
(:mod:`seismo.alerts.delivery`). ``seismo alerts`` lists, acknowledges and
silences them and shows their deliveries (:mod:`seismo.alerts.command`).
"""

from __future__ import annotations

from seismo.alerts.delivery import (
    Delivery,
    DeliveryPolicy,
    DeliveryStatus,
    delivery_status,
    load_policy,
    notify,
)
from seismo.alerts.model import STATES, Alert, AlertState, SyncResult, alert_id
from seismo.alerts.notification import Notification, build_notifications
from seismo.alerts.outbox import Attempt, OutboxEntry, read_entries
from seismo.alerts.replay import found_alerts, replay_note, replayed
from seismo.alerts.routing import (
    LogRoute,
    Route,
    SlackRoute,
    WebhookRoute,
    load_routes,
)
from seismo.alerts.store import (
    AlertStateError,
    UnknownAlertError,
    acknowledge,
    get_alert,
    list_alerts,
    silence,
    sync,
)

__all__ = [
    "STATES",
    "Alert",
    "AlertState",
    "AlertStateError",
    "Attempt",
    "Delivery",
    "DeliveryPolicy",
    "DeliveryStatus",
    "LogRoute",
    "Notification",
    "OutboxEntry",
    "Route",
    "SlackRoute",
    "SyncResult",
    "UnknownAlertError",
    "WebhookRoute",
    "acknowledge",
    "alert_id",
    "build_notifications",
    "delivery_status",
    "found_alerts",
    "get_alert",
    "list_alerts",
    "load_policy",
    "load_routes",
    "notify",
    "read_entries",
    "replay_note",
    "replayed",
    "silence",
    "sync",
]
