"""Alerts: findings turned into stored, deduplicated, grouped and routed alerts.

``seismo check`` runs the detectors, then::

    result = sync(engine, findings, as_of=as_of, kinds={"quality", "fairness", "drift"})
    deliveries = notify(result, load_routes("seismo.toml"))

:func:`sync` keeps one alert per condition (same id on every run and every
store), re-opens it when it comes back, resolves it when it is gone;
:func:`notify` tells each configured route once per group of related alerts,
and only about what changed. ``seismo alerts`` lists, acknowledges and
silences them (:mod:`seismo.alerts.command`).
"""

from __future__ import annotations

from seismo.alerts.model import STATES, Alert, AlertState, SyncResult, alert_id
from seismo.alerts.notification import Notification, build_notifications
from seismo.alerts.routing import (
    Delivery,
    LogRoute,
    Route,
    SlackRoute,
    WebhookRoute,
    load_routes,
    notify,
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
    "Delivery",
    "LogRoute",
    "Notification",
    "Route",
    "SlackRoute",
    "SyncResult",
    "UnknownAlertError",
    "WebhookRoute",
    "acknowledge",
    "alert_id",
    "build_notifications",
    "get_alert",
    "list_alerts",
    "load_routes",
    "notify",
    "silence",
    "sync",
]
