"""Alerts written to the process log: the sink of last resort and of local runs."""

from __future__ import annotations

import logging

from wikiguard.application.ports import AlertSink
from wikiguard.domain.alerts import Alert, AlertSeverity

_LEVEL = {
    AlertSeverity.INFO: logging.INFO,
    AlertSeverity.WARNING: logging.WARNING,
    AlertSeverity.CRITICAL: logging.CRITICAL,
}


class LogAlertSink(AlertSink):
    """Logs each alert at its severity's level, with the alert's fields under `extra["alert"]`.

    A JSON log formatter in deployed processes turns `extra` into searchable fields.
    """

    def __init__(self, name: str = "log", logger: logging.Logger | None = None) -> None:
        self.name = name
        self._log = logger or logging.getLogger(__name__)

    def send(self, alert: Alert) -> None:
        fields = {
            "key": alert.key,
            "kind": str(alert.kind),
            "severity": str(alert.severity),
            "subject": alert.subject,
            "window_or_batch": alert.window_or_batch,
            "raised_at": alert.raised_at.isoformat(),
            "facts": dict(alert.facts),
            "details": list(alert.details),
            "query": alert.query,
            "suppressed_before": alert.suppressed_before,
        }
        suffix = f" ({alert.suppressed_before} similar held back)" if alert.suppressed_before else ""
        self._log.log(
            _LEVEL[alert.severity],
            "ALERT %s %s: %s%s",
            alert.severity,
            alert.title,
            alert.summary,
            suffix,
            extra={"alert": fields},
        )
