"""Alerts for people, and the throttle that keeps them few."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime, timedelta

import attrs


class AlertKind(enum.StrEnum):
    QUALITY = "quality"  # a data-quality gate outcome of a layer's batch
    ANOMALY = "anomaly"  # an anomalous window of an entity, a user or the whole platform
    FRESHNESS = "freshness"  # data arriving later than the freshness objective


class AlertSeverity(enum.StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


@attrs.frozen
class Alert:
    """One thing a person should look at.

    `key` identifies "the same alert" for deduplication and throttling (for example
    `anomaly:enwiki:Earth:REVERT_WAVE`); `facts` are the figures a sink shows (pass rate, counts...);
    `details` are ranked lines (failed checks with counts, top quarantine reasons, top anomalies).
    """

    kind: AlertKind
    severity: AlertSeverity
    key: str
    title: str
    summary: str
    subject: str  # the layer, entity, user or "global"
    window_or_batch: str
    raised_at: datetime
    facts: Mapping[str, str] = attrs.field(factory=dict)
    details: tuple[str, ...] = ()
    query: str | None = None  # the SQL a person runs to see the rows behind it
    suppressed_before: int = 0  # how many identical alerts the throttle held back before this one


@attrs.define
class AlertThrottle:
    """Lets an alert key through at most once per `period`; counts what it holds back."""

    period: timedelta = timedelta(minutes=30)
    _last_sent: dict[str, datetime] = attrs.field(factory=dict)
    _suppressed: dict[str, int] = attrs.field(factory=dict)

    def admit(self, alert: Alert, now: datetime) -> Alert | None:
        """The alert to send (with the count suppressed since the last one), or None to hold it back."""
        last = self._last_sent.get(alert.key)
        if last is not None and now - last < self.period:
            self._suppressed[alert.key] = self._suppressed.get(alert.key, 0) + 1
            return None
        self._last_sent[alert.key] = now
        suppressed = self._suppressed.pop(alert.key, 0)
        return attrs.evolve(alert, suppressed_before=suppressed) if suppressed else alert

    def forget(self, key: str) -> None:
        """Undo the last admission of `key` (its delivery failed everywhere), so it is not throttled."""
        self._last_sent.pop(key, None)

    def suppressed(self) -> Mapping[str, int]:
        return dict(self._suppressed)

    def restore(self, last_sent: Mapping[str, datetime]) -> None:
        """Seed from a persisted history so a restarted process keeps throttling."""
        for key, moment in last_sent.items():
            if key not in self._last_sent or moment > self._last_sent[key]:
                self._last_sent[key] = moment


@attrs.frozen
class Route:
    """Which sinks receive alerts of a kind at or above a severity."""

    kind: AlertKind | None  # None: every kind
    min_severity: AlertSeverity
    sinks: tuple[str, ...]


_RANK = {AlertSeverity.INFO: 0, AlertSeverity.WARNING: 1, AlertSeverity.CRITICAL: 2}


def route(alert: Alert, routes: tuple[Route, ...]) -> tuple[str, ...]:
    """The names of the sinks this alert goes to, each once, in route order."""
    names: list[str] = []
    for r in routes:
        if (r.kind is None or r.kind == alert.kind) and _RANK[alert.severity] >= _RANK[r.min_severity]:
            names.extend(n for n in r.sinks if n not in names)
    return tuple(names)


DEFAULT_ROUTES = (
    Route(None, AlertSeverity.CRITICAL, ("sns",)),
    Route(None, AlertSeverity.WARNING, ("slack",)),
    Route(None, AlertSeverity.INFO, ("log",)),
)
