"""Where notifications go: a log file, a JSON webhook, a Slack incoming webhook, Alertmanager.

Routes are declared in TOML, in the ``[alerts]`` table of any seismo config
file (other tables are ignored, so one ``seismo.toml`` can hold everything)::

    [alerts]
    runbook = "https://wiki.example.com/ml-runbooks"   # default for every route
    timeout = "5s"                                     # default for every webhook

    [[alerts.routes]]
    type = "log"
    path = "seismo-workspace/alerts.jsonl"             # relative to this file

    [[alerts.routes]]
    type = "webhook"
    url = "https://ops.example.com/hooks/seismo"
    min_severity = "critical"

    [[alerts.routes]]
    type = "slack"
    url_env = "SEISMO_SLACK_WEBHOOK"                   # keep the secret URL out of the file
    name = "merchandising"
    runbook = "https://wiki.example.com/merch-runbooks"

    [[alerts.routes]]
    type = "alertmanager"
    url = "http://127.0.0.1:9093"                      # Alertmanager's base URL

An Alertmanager route POSTs every alert of a notification (the lead and the
related ones) to ``/api/v2/alerts``, labelled ``alertname`` (``seismo_<kind>``),
``severity``, ``kind``, ``metric``, ``segment``, ``model_version`` and ``alert_id``,
annotated with the message, what to do and the runbook; ``endsAt`` is a day
after it is sent (seismo sends on a change, not on every check, so the
alert must outlive Alertmanager's ``resolve_timeout``; a resolved alert is
silenced in seismo, not sent again).

Each route's ``name`` is its identity in the delivery records (what it has
received, what is still to retry), so it must be distinct and should stay the
same when a URL changes; renaming a route makes it a new route, which gets
what the outbox holds from the last ``max_age``. The default names are
``log:<file name>``, ``webhook:<host>``, ``slack:<host>`` and ``alertmanager:<host>``.

The same ``[alerts]`` table sets how undelivered notifications are retried
(:func:`seismo.alerts.delivery.load_policy`)::

    max_age = "3d"          # older entries are not sent to routes that never got them
    max_attempts = 8        # then the delivery is marked failed
    retry_after = "5m"      # wait after the first failure, doubled after each one
    retry_max = "6h"        # longest wait between attempts

:func:`seismo.alerts.delivery.notify` sends what the outbox holds; a failing
route never stops the others and never raises.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from seismo.alerts.model import SEVERITY_RANK
from seismo.alerts.notification import Notification
from seismo.alerts.post import Refused, post
from seismo.config import parse_duration
from seismo.detect.findings import Severity
from seismo.errors import ConfigError

__all__ = [
    "DEFAULT_TIMEOUT",
    "AlertmanagerRoute",
    "LogRoute",
    "Route",
    "SlackRoute",
    "WebhookRoute",
    "alerts_section",
    "describe_failure",
    "load_routes",
]

DEFAULT_TIMEOUT = 5.0  # seconds; a check must not hang on a webhook that does not answer
_KEYS = {"type", "name", "path", "url", "url_env", "min_severity", "runbook", "timeout"}


class Route(Protocol):
    """A destination for notifications. ``send`` raises on failure; ``notify`` records it."""

    @property
    def name(self) -> str: ...

    @property
    def min_severity(self) -> Severity: ...

    @property
    def runbook(self) -> str | None: ...

    def send(self, notification: Notification) -> int | None:
        """Deliver one notification; return the HTTP status (None when not HTTP)."""
        ...


@dataclass(frozen=True, kw_only=True)
class LogRoute:
    """Append one JSON line per notification to a file (created with its folder)."""

    path: Path
    name: str = "log"
    min_severity: Severity = "warning"
    runbook: str | None = None

    def send(self, notification: Notification) -> int | None:
        line = json.dumps(notification.payload(), sort_keys=True, ensure_ascii=False) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line)  # one write per line: concurrent writers do not interleave
        return None


@dataclass(frozen=True, kw_only=True)
class WebhookRoute:
    """POST the notification as a JSON document (:meth:`Notification.payload`)."""

    url: str
    name: str = "webhook"
    min_severity: Severity = "warning"
    runbook: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def body(self, notification: Notification) -> dict[str, Any]:
        return notification.payload()

    def send(self, notification: Notification) -> int | None:
        data = json.dumps(self.body(notification), sort_keys=True).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": "seismo"}
        return post(self.url, data, headers, self.timeout)


@dataclass(frozen=True, kw_only=True)
class SlackRoute(WebhookRoute):
    """POST to a Slack-compatible incoming webhook (``text`` plus Block Kit ``blocks``)."""

    name: str = "slack"

    def body(self, notification: Notification) -> dict[str, Any]:
        return notification.slack()


@dataclass(frozen=True, kw_only=True)
class AlertmanagerRoute(WebhookRoute):
    """POST the notification's alerts to a Prometheus Alertmanager (its v2 API)."""

    name: str = "alertmanager"
    #: How long Alertmanager keeps an alert firing without hearing of it again.
    hold: timedelta = timedelta(days=1)

    def alerts(self, notification: Notification) -> list[dict[str, Any]]:
        out = []
        for alert in (notification.lead, *notification.related):
            segment = dict(alert.segment or {})
            version = segment.pop("model_version", "") if alert.kind == "operations" else ""
            labels = {
                "alertname": f"seismo_{alert.kind}",
                "severity": alert.severity,
                "kind": alert.kind,
                "metric": alert.metric,
                "segment": ",".join(f"{k}={v}" for k, v in sorted(segment.items())) or "all",
                "model_version": version or "all",
                "alert_id": alert.id,
                "group": notification.group,
            }
            annotations = {
                "summary": notification.headline if alert is notification.lead else alert.message,
                "description": alert.message,
                "what_to_do": alert.action,
            }
            if notification.runbook:
                annotations["runbook_url"] = notification.runbook
            start = alert.since or alert.first_seen
            document = {
                "labels": labels,
                "annotations": {k: v for k, v in annotations.items() if v},
                "startsAt": _rfc3339(start),
                # from now, not from the data's moment: a replayed month is still news
                "endsAt": _rfc3339(datetime.now(UTC) + self.hold),
            }
            if notification.runbook:
                document["generatorURL"] = notification.runbook
            out.append(document)
        return out

    def send(self, notification: Notification) -> int | None:
        data = json.dumps(self.alerts(notification), sort_keys=True).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": "seismo"}
        return post(self.url.rstrip("/") + "/api/v2/alerts", data, headers, self.timeout)


def _rfc3339(moment: datetime) -> str:
    """A naive UTC moment as Alertmanager reads it.

    >>> _rfc3339(datetime(2026, 6, 1, 14, 30))
    '2026-06-01T14:30:00Z'
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0).isoformat() + "Z"


def describe_failure(exc: Exception, route: Route) -> tuple[str, bool, int | None]:
    """A failed send in words, whether the route is unreachable (vs. refused this one),
    and the HTTP status when there was one."""
    if isinstance(exc, Refused):
        return str(exc), False, exc.status
    if isinstance(exc, TimeoutError):
        return f"no answer within {getattr(route, 'timeout', DEFAULT_TIMEOUT):g} s", True, None
    if isinstance(exc, OSError):
        return f"cannot connect: {exc}", True, None
    return f"{type(exc).__name__}: {exc}", False, None


# -- configuration ------------------------------------------------------------


def load_routes(source: str | os.PathLike[str] | Mapping[str, Any]) -> list[Route]:
    """Routes from a TOML file (or its parsed content), see the module docstring.

    A log ``path`` is relative to the TOML file's folder, so the config means
    the same whatever directory seismo runs from. A webhook URL can be given
    by environment variable (``url_env``): webhook URLs are secrets.
    """
    section, base = alerts_section(source)
    defaults = {k: section[k] for k in ("runbook", "timeout", "min_severity") if k in section}
    entries = section.get("routes", [])
    if not isinstance(entries, list):
        raise ConfigError("alerts.routes must be an array of tables ([[alerts.routes]])")
    routes = [_route({**defaults, **e}, i, base) for i, e in enumerate(entries, start=1)]
    names = [r.name for r in routes]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise ConfigError(f"alert routes need distinct names; give `name = ...` to {dupes}")
    return routes


def alerts_section(
    source: str | os.PathLike[str] | Mapping[str, Any],
) -> tuple[Mapping[str, Any], Path]:
    """The ``[alerts]`` table of a TOML file (or of its parsed content), and the file's folder."""
    base = Path(".")
    if isinstance(source, Mapping):
        data: Mapping[str, Any] = source
    else:
        path = Path(source)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read alert routes from {path}: {exc}") from exc
        base = path.parent
    section = data.get("alerts", {})
    if not isinstance(section, Mapping):
        raise ConfigError("[alerts] must be a table")
    return section, base


def _route(entry: Any, number: int, base: Path) -> Route:
    where = f"alerts.routes #{number}"
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} must be a table")
    if unknown := sorted(set(entry) - _KEYS):
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(_KEYS)}")
    kind = entry.get("type")
    severity = entry.get("min_severity", "warning")
    if severity not in SEVERITY_RANK:
        raise ConfigError(f"{where}: min_severity must be warning or critical, not {severity!r}")
    runbook = entry.get("runbook")
    if runbook is not None and (
        not isinstance(runbook, str) or urlsplit(runbook).scheme not in ("http", "https")
    ):
        raise ConfigError(f"{where}: runbook must be an http(s) URL (the base of runbook pages)")
    common: dict[str, Any] = {"min_severity": severity, "runbook": runbook}
    if "name" in entry:
        common["name"] = str(entry["name"])
    if kind == "log":
        if not isinstance(entry.get("path"), str) or not entry["path"]:
            raise ConfigError(f"{where} (log): `path` is required")
        path = Path(entry["path"]).expanduser()
        path = path if path.is_absolute() else base / path
        return LogRoute(path=path, **{"name": f"log:{path.name}", **common})
    if kind in ("webhook", "slack", "alertmanager"):
        url = _url(entry, f"{where} ({kind})")
        try:
            timeout = parse_duration(entry.get("timeout", DEFAULT_TIMEOUT)).total_seconds()
        except ConfigError as exc:
            raise ConfigError(f"{where} ({kind}): timeout: {exc}") from exc
        if timeout <= 0:
            raise ConfigError(f"{where} ({kind}): timeout must be positive")
        # The default name shows the host only: the rest of a webhook URL is a secret.
        name = f"{kind}:{urlsplit(url).hostname}"
        classes: dict[str, type[WebhookRoute]] = {
            "slack": SlackRoute,
            "alertmanager": AlertmanagerRoute,
        }
        cls = classes.get(kind, WebhookRoute)
        route: WebhookRoute = cls(url=url, timeout=timeout, **{"name": name, **common})
        return route
    raise ConfigError(f"{where}: type must be log, webhook, slack or alertmanager, not {kind!r}")


def _url(entry: Mapping[str, Any], where: str) -> str:
    if "url_env" in entry:
        url = os.environ.get(str(entry["url_env"]), "")
        if not url:
            raise ConfigError(f"{where}: environment variable {entry['url_env']} is not set")
    else:
        url = entry.get("url", "")
        if not isinstance(url, str) or not url:
            raise ConfigError(f"{where}: `url` (or `url_env`) is required")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}: the URL must be http(s)://host/…")
    return url
