"""The alerting use case: route alerts to the sinks that reach people, few and never twice in a row.

`Alerting.publish` deduplicates a batch of alerts by key, lets each key through the throttle at most
once per period (the next one that goes out carries how many were held back), sends it to every sink
its route names, and records what went out in `alerts_sent` so a restarted process keeps throttling.
Alerting never breaks the pipeline: a failing sink is logged and counted in the report, and the other
sinks still get the alert.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime

import attrs

from wikiguard.application.ports import AlertSink, Clock, Row, TableStore
from wikiguard.application.tables import ALERTS_SENT
from wikiguard.domain.alerts import (
    DEFAULT_ROUTES,
    Alert,
    AlertKind,
    AlertSeverity,
    AlertThrottle,
    Route,
    route,
)
from wikiguard.domain.anomalies import Anomaly, AnomalySeverity, Scope
from wikiguard.domain.errors import WikiguardError
from wikiguard.domain.quality import BatchQuality, Outcome

log = logging.getLogger(__name__)

_RANK = {AlertSeverity.INFO: 0, AlertSeverity.WARNING: 1, AlertSeverity.CRITICAL: 2}


class AlertDeliveryError(WikiguardError):
    """A sink could not deliver an alert (after its retries). Raised by every `AlertSink`."""


@attrs.frozen
class RetryPolicy:
    """How a sink retries a transient failure (HTTP 429, 5xx, throttling, a dropped connection).

    `attempts` counts every try including the first. A server's `Retry-After` wins over the backoff,
    capped at `max_retry_after` so a hostile or confused server cannot park the pipeline for hours.
    """

    attempts: int = 4
    base_delay: float = 1.0
    multiplier: float = 2.0
    max_delay: float = 30.0
    max_retry_after: float = 120.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed try number `attempt` (1-based) before the next one."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after)
        return float(min(self.base_delay * self.multiplier ** (attempt - 1), self.max_delay))

    def run(self, attempt: Callable[[], Attempt], *, sleep: Callable[[float], None], what: str) -> int:
        """Call `attempt` until it succeeds; returns the number of tries.

        Raises `AlertDeliveryError` on a permanent failure, or once a transient one outlasts the tries.
        """
        for number in range(1, self.attempts + 1):
            result = attempt()
            if result.ok:
                return number
            if not result.transient:
                raise AlertDeliveryError(f"{what}: {result.reason}")
            if number == self.attempts:
                raise AlertDeliveryError(f"{what}: {result.reason} (gave up after {number} tries)")
            wait = self.delay(number, result.retry_after)
            log.info(
                "%s: %s; retrying in %.1fs (try %d of %d)", what, result.reason, wait, number, self.attempts
            )
            sleep(wait)
        raise AlertDeliveryError(f"{what}: no tries allowed")  # only when attempts < 1


@attrs.frozen
class Attempt:
    """How one delivery try went: delivered, or failed (transient or not, with any `Retry-After`)."""

    ok: bool
    transient: bool = False
    reason: str = ""
    retry_after: float | None = None


@attrs.frozen
class DeliveryFailure:
    alert_key: str
    sink: str
    reason: str


@attrs.frozen
class AlertingReport:
    """What one `publish` did.

    `sent`: alerts that reached at least one sink, as sent (with `suppressed_before`);
    `suppressed`: held back as a duplicate within the batch or by the throttle;
    `failures`: one per sink that failed an alert (and one for `alerts_sent` if recording failed);
    `unrouted`: alerts no configured sink takes (for example INFO with no log sink).
    """

    sent: tuple[Alert, ...] = ()
    suppressed: tuple[Alert, ...] = ()
    failures: tuple[DeliveryFailure, ...] = ()
    unrouted: tuple[Alert, ...] = ()


@attrs.define(kw_only=True)
class Alerting:
    """Send alerts to people through the configured sinks (see the module docstring).

    `history` is the table store holding `alerts_sent`; without one nothing is recorded or restored.
    """

    sinks: Mapping[str, AlertSink]
    routes: tuple[Route, ...] = DEFAULT_ROUTES
    throttle: AlertThrottle = attrs.field(factory=AlertThrottle)
    clock: Clock
    history: TableStore | None = None
    _restored: bool = attrs.field(default=False, init=False)
    _warned_missing: set[str] = attrs.field(factory=set, init=False)

    def restore_throttle(self) -> int:
        """Seed the throttle from `alerts_sent` rows younger than the period; returns how many keys.

        Runs once, lazily on the first `publish` (nothing connects at construction). An alert that
        every sink failed does not count as sent, so it is tried again after a restart.
        """
        self._restored = True
        if self.history is None:
            return 0
        since = _utc(self.clock.now()) - self.throttle.period
        last: dict[str, datetime] = {}
        try:
            for row in self.history.scan(ALERTS_SENT.name, at_least=("raised_at", since)):
                delivered = set(row.get("sinks") or ()) - set(row.get("failed_sinks") or ())
                moment = row.get("raised_at")
                if not delivered or not isinstance(moment, datetime):
                    continue
                moment = _utc(moment)
                key = str(row["alert_key"])
                if moment >= since and (key not in last or moment > last[key]):
                    last[key] = moment
        except Exception:  # alerting must not stop the pipeline; an empty throttle only risks a repeat
            log.exception("could not read %s; the throttle starts empty", ALERTS_SENT.name)
            return 0
        self.throttle.restore(last)
        return len(last)

    def publish(self, alerts: Iterable[Alert]) -> AlertingReport:
        """Deduplicate, throttle, route and send `alerts`; record what went out. Never raises."""
        if not self._restored:
            self.restore_throttle()
        now = _utc(self.clock.now())
        unique, duplicates = dedupe(alerts)
        sent: list[Alert] = []
        suppressed: list[Alert] = list(duplicates)
        failures: list[DeliveryFailure] = []
        unrouted: list[Alert] = []
        rows: list[Row] = []
        for alert in unique:
            names = self._sinks_for(alert)
            if not names:
                unrouted.append(alert)
                continue
            admitted = self.throttle.admit(alert, now)
            if admitted is None:
                suppressed.append(alert)
                continue
            failed = [f for f in (self._send(self.sinks[n], admitted) for n in names) if f is not None]
            failures.extend(failed)
            if len(failed) < len(names):
                sent.append(admitted)
            else:  # nobody got it: let the next occurrence through instead of throttling a silence
                self.throttle.forget(alert.key)
            rows.append(_sent_row(admitted, names, [f.sink for f in failed], now))
        if rows and self.history is not None:
            try:
                self.history.append(ALERTS_SENT.name, rows, {})
            except Exception as exc:  # the alerts are out; losing the record only weakens the throttle
                log.exception("could not record %d sent alerts in %s", len(rows), ALERTS_SENT.name)
                failures.append(DeliveryFailure("*", ALERTS_SENT.name, type(exc).__name__))
        return AlertingReport(tuple(sent), tuple(suppressed), tuple(failures), tuple(unrouted))

    def _sinks_for(self, alert: Alert) -> tuple[str, ...]:
        names = route(alert, self.routes)
        for name in names:
            if name not in self.sinks and name not in self._warned_missing:
                self._warned_missing.add(name)
                # The default routes name SNS and Slack, which a local run rarely has: that is no fault.
                level = logging.INFO if self.routes == DEFAULT_ROUTES else logging.WARNING
                log.log(level, "alert route names sink %r, which is not configured; skipping it", name)
        return tuple(n for n in names if n in self.sinks)

    @staticmethod
    def _send(sink: AlertSink, alert: Alert) -> DeliveryFailure | None:
        try:
            sink.send(alert)
        except AlertDeliveryError as exc:
            log.warning("alert %s not delivered by sink %s: %s", alert.key, sink.name, exc)
            return DeliveryFailure(alert.key, sink.name, str(exc))
        except Exception as exc:  # a sink bug must not keep the alert from the other sinks
            log.exception("sink %s failed unexpectedly on alert %s", sink.name, alert.key)
            return DeliveryFailure(alert.key, sink.name, f"unexpected {type(exc).__name__}")
        return None


def dedupe(alerts: Iterable[Alert]) -> tuple[list[Alert], list[Alert]]:
    """One alert per key (the most severe, the first among equals), in first-seen order; and the rest."""
    chosen: dict[str, Alert] = {}
    dropped: list[Alert] = []
    for alert in alerts:
        kept = chosen.get(alert.key)
        if kept is None:
            chosen[alert.key] = alert
        elif _RANK[alert.severity] > _RANK[kept.severity]:
            chosen[alert.key] = alert
            dropped.append(kept)
        else:
            dropped.append(alert)
    return list(chosen.values()), dropped


def _sent_row(alert: Alert, sinks: Sequence[str], failed: Sequence[str], now: datetime) -> Row:
    # raised_at is when it went out: the throttle runs on that clock, and a restart restores from it
    return {
        "alert_key": alert.key,
        "kind": str(alert.kind),
        "severity": str(alert.severity),
        "title": alert.title,
        "subject": alert.subject,
        "window_or_batch": alert.window_or_batch,
        "sinks": list(sinks),
        "failed_sinks": list(failed),
        "suppressed_before": alert.suppressed_before,
        "raised_at": now,
        "event_date": now.date(),
    }


def _utc(moment: datetime) -> datetime:
    # table engines may hand timestamps back without a zone; they are UTC by the tables' convention
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_OUTCOME_SEVERITY = {Outcome.WARNING: AlertSeverity.WARNING, Outcome.CRITICAL: AlertSeverity.CRITICAL}


def quality_alert(
    quality: BatchQuality,
    *,
    now: datetime,
    layer: str | None = None,
    query: str | None = None,
    top: int = 5,
) -> Alert | None:
    """The alert for a batch's quality verdict: None on SUCCESS, else WARNING or CRITICAL.

    Facts carry the pass rate and row counts; details the failed checks with counts (largest first)
    and the top quarantine reasons; the query shows the quarantined rows of the batch.
    """
    severity = _OUTCOME_SEVERITY.get(quality.outcome)
    if severity is None:
        return None
    layer = layer or quality.layer
    failed = sorted(quality.failed_checks, key=lambda c: (-c.failed, c.rule))
    reasons = sorted(((n, r) for r, n in quality.reasons.items() if n), key=lambda p: (-p[0], p[1]))
    details = tuple(f"failed check {c.rule} ({c.severity}): {c.failed} rows" for c in failed[:top])
    details += tuple(f"quarantine reason {r}: {n} rows" for n, r in reasons[:top])
    rate = f"{quality.pass_rate:.1%}"
    return Alert(
        kind=AlertKind.QUALITY,
        severity=severity,
        key=f"quality:{layer}:{quality.outcome}",
        title=f"{layer} quality {quality.outcome}: pass rate {rate}",
        summary=(
            f"Batch {quality.batch_id} of {layer}: {quality.passed} of {quality.total} rows passed ({rate}); "
            f"{len(failed)} checks failed."
        ),
        subject=layer,
        window_or_batch=quality.batch_id,
        raised_at=now,
        facts={
            "pass rate": rate,
            "rows": str(quality.total),
            "passed": str(quality.passed),
            "rejected": str(quality.total - quality.passed),
            "failed checks": str(len(failed)),
        },
        details=details,
        query=query if query is not None else quarantine_query(layer, quality.batch_id),
    )


def freshness_alert(
    *, layer: str, batch_id: str, p50_seconds: float, max_seconds: float, objective_seconds: float, now: datetime
) -> Alert | None:
    """A WARNING when the batch's median processing lag misses the freshness objective, else None.

    Late data is reported, never quarantined for it: a backlog after downtime still flows through.
    """
    if p50_seconds <= objective_seconds:
        return None
    return Alert(
        kind=AlertKind.FRESHNESS,
        severity=AlertSeverity.WARNING,
        key=f"freshness:{layer}",
        title=f"{layer} data is {_duration(p50_seconds)} behind (objective {_duration(objective_seconds)})",
        summary=(
            f"Batch {batch_id} of {layer}: median processing lag {_duration(p50_seconds)}, "
            f"worst {_duration(max_seconds)}; the objective is {_duration(objective_seconds)}."
        ),
        subject=layer,
        window_or_batch=batch_id,
        raised_at=now,
        facts={"median lag": _duration(p50_seconds), "max lag": _duration(max_seconds)},
        query=(
            "SELECT measured_at, batch_id, freshness_p50_seconds, freshness_max_seconds FROM quality_metrics "
            f"WHERE layer = {_sql_string(layer)} ORDER BY measured_at DESC LIMIT 20"
        ),
    )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def quarantine_query(layer: str, batch_id: str) -> str:
    """The SQL a person runs to see the rows a batch of `layer` quarantined."""
    return f"SELECT * FROM {layer}_quarantine WHERE batch_id = {_sql_string(batch_id)}"


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


ANOMALY_SEVERITY: Mapping[AnomalySeverity, AlertSeverity] = {
    AnomalySeverity.LOW: AlertSeverity.INFO,
    AnomalySeverity.MEDIUM: AlertSeverity.WARNING,
    AnomalySeverity.HIGH: AlertSeverity.CRITICAL,
    AnomalySeverity.CRITICAL: AlertSeverity.CRITICAL,
}
"""The default alert severity of each anomaly severity; `Settings` may pass another mapping."""


def anomaly_alert(
    anomaly: Anomaly,
    *,
    now: datetime,
    severities: Mapping[AnomalySeverity, AlertSeverity] = ANOMALY_SEVERITY,
    query: str | None = None,
) -> Alert:
    """The alert for an anomalous window, keyed by subject and types so an ongoing attack is throttled.

    Details are the rules' explanations (one line per anomaly type); the query lists the window's
    silver events of the subject.
    """
    subject = f"user:{anomaly.subject}" if anomaly.scope is Scope.USER else anomaly.subject
    types = ", ".join(anomaly.types)
    window = f"[{anomaly.window.start:%Y-%m-%d %H:%M}, {anomaly.window.end:%Y-%m-%d %H:%M}) UTC"
    facts = {
        "risk score": f"{anomaly.risk_score}/100",
        "anomaly severity": str(anomaly.severity),
        "types": types,
        "scope": str(anomaly.scope),
    }
    if anomaly.wiki:
        facts["wiki"] = anomaly.wiki
    return Alert(
        kind=AlertKind.ANOMALY,
        severity=severities.get(anomaly.severity, AlertSeverity.WARNING),
        key=f"anomaly:{subject}:{'+'.join(sorted(anomaly.types))}",
        title=f"{types} on {subject} (risk {anomaly.risk_score}, {anomaly.severity})",
        summary=f"{anomaly.scope} {subject}: {types} in {window}, risk {anomaly.risk_score}/100.",
        subject=subject,
        window_or_batch=window,
        raised_at=now,
        facts=facts,
        details=tuple(part.strip() for part in anomaly.explanation.split(" | ") if part.strip()),
        query=query if query is not None else anomaly_query(anomaly),
    )


def anomaly_query(anomaly: Anomaly) -> str:
    """The SQL a person runs to see the silver events behind an anomalous window."""
    start, end = (
        f"TIMESTAMP '{t.astimezone(UTC):%Y-%m-%d %H:%M:%S}'"
        for t in (anomaly.window.start, anomaly.window.end)
    )
    where = [f"event_timestamp >= {start}", f"event_timestamp < {end}"]
    if anomaly.scope is Scope.ENTITY:
        where.insert(0, f"canonical_entity = {_sql_string(anomaly.subject)}")
    elif anomaly.scope is Scope.USER:
        where.insert(0, f"user_name = {_sql_string(anomaly.subject)}")
    return "SELECT * FROM silver_events WHERE " + " AND ".join(where) + " ORDER BY event_timestamp"
