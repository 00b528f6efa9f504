"""The alerting use case against in-memory sinks and the in-memory table store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from wikiguard.adapters.memory.alert_sink import InMemoryAlertSink
from wikiguard.adapters.memory.table_store import InMemoryTableStore
from wikiguard.application.alerting import (
    ANOMALY_SEVERITY,
    AlertDeliveryError,
    Alerting,
    Attempt,
    RetryPolicy,
    anomaly_alert,
    quality_alert,
)
from wikiguard.application.tables import ALERTS_SENT
from wikiguard.domain.alerts import DEFAULT_ROUTES, Alert, AlertKind, AlertSeverity, AlertThrottle, Route
from wikiguard.domain.anomalies import Anomaly, AnomalySeverity, Scope
from wikiguard.domain.quality import BatchQuality, CheckResult, Outcome, Severity
from wikiguard.domain.windows import Window

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@attrs.define
class StepClock:
    moment: datetime = T0

    def now(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


class BrokenSink:
    """A sink with a bug: raises something that is not an AlertDeliveryError."""

    name = "broken"

    def send(self, alert: Alert) -> None:
        raise RuntimeError("bug")


def alert(
    key: str = "anomaly:enwiki:Earth:REVERT_WAVE", severity: AlertSeverity = AlertSeverity.CRITICAL
) -> Alert:
    return Alert(
        kind=AlertKind.ANOMALY,
        severity=severity,
        key=key,
        title=f"{key} {severity}",
        summary="reverts spike",
        subject="enwiki:Earth",
        window_or_batch="2025-03-01T11:50Z/12:00Z",
        raised_at=T0,
    )


def sinks() -> dict[str, InMemoryAlertSink]:
    return {name: InMemoryAlertSink(name) for name in ("sns", "slack", "log")}


def store() -> InMemoryTableStore:
    tables = InMemoryTableStore([ALERTS_SENT])
    tables.ensure_tables()
    return tables


def alerting(
    sinks_: dict[str, InMemoryAlertSink],
    clock: StepClock,
    history: InMemoryTableStore | None = None,
    routes: tuple[Route, ...] = DEFAULT_ROUTES,
) -> Alerting:
    return Alerting(
        sinks=sinks_,
        routes=routes,
        throttle=AlertThrottle(timedelta(minutes=30)),
        clock=clock,
        history=history,
    )


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        (AlertSeverity.CRITICAL, {"sns", "slack", "log"}),
        (AlertSeverity.WARNING, {"slack", "log"}),
        (AlertSeverity.INFO, {"log"}),
    ],
)
def test_routes_by_severity(severity: AlertSeverity, expected: set[str]) -> None:
    s = sinks()
    report = alerting(s, StepClock()).publish([alert(severity=severity)])
    assert {name for name, sink in s.items() if sink.sent} == expected
    assert [a.severity for a in report.sent] == [severity]


def test_routes_by_kind() -> None:
    s = sinks()
    routes = (
        Route(AlertKind.QUALITY, AlertSeverity.WARNING, ("slack",)),
        Route(None, AlertSeverity.INFO, ("log",)),
    )
    quality = attrs.evolve(alert("quality:silver:WARNING", AlertSeverity.WARNING), kind=AlertKind.QUALITY)
    alerting(s, StepClock(), routes=routes).publish([alert("a:1", AlertSeverity.WARNING), quality])
    assert s["slack"].titles() == [quality.title]
    assert len(s["log"].sent) == 2


def test_same_key_in_one_batch_goes_out_once_the_most_severe() -> None:
    s = sinks()
    warning, critical = alert(severity=AlertSeverity.WARNING), alert(severity=AlertSeverity.CRITICAL)
    report = alerting(s, StepClock()).publish([warning, critical, warning])
    assert [a.severity for a in s["log"].sent] == [AlertSeverity.CRITICAL]
    assert len(report.sent) == 1 and len(report.suppressed) == 2


def test_throttle_holds_back_repeats_and_the_next_alert_carries_the_count() -> None:
    s, clock = sinks(), StepClock()
    use_case = alerting(s, clock)
    assert len(use_case.publish([alert()]).sent) == 1
    for _ in range(3):
        clock.advance(minutes=9)
        report = use_case.publish([alert()])
        assert report.sent == () and len(report.suppressed) == 1
    clock.advance(minutes=4)  # 31 minutes after the first one went out
    report = use_case.publish([alert()])
    assert [a.suppressed_before for a in report.sent] == [3]
    assert [a.suppressed_before for a in s["sns"].sent] == [0, 3]


def test_other_keys_are_not_throttled() -> None:
    s = sinks()
    use_case = alerting(s, StepClock())
    use_case.publish([alert("k:1")])
    assert len(use_case.publish([alert("k:2")]).sent) == 1


def test_a_failing_sink_does_not_block_the_others_and_nothing_is_raised() -> None:
    s = sinks()
    s["slack"].failing = True
    all_sinks = {**s, "broken": BrokenSink()}
    routes = (*DEFAULT_ROUTES, Route(None, AlertSeverity.INFO, ("broken",)))
    report = Alerting(sinks=all_sinks, routes=routes, clock=StepClock()).publish([alert(), alert("k:2")])
    assert len(s["sns"].sent) == 2 and len(s["log"].sent) == 2
    assert sorted((f.alert_key, f.sink) for f in report.failures) == sorted(
        [(alert().key, "slack"), ("k:2", "slack"), (alert().key, "broken"), ("k:2", "broken")]
    )
    assert {f.reason for f in report.failures if f.sink == "broken"} == {"unexpected RuntimeError"}
    assert len(report.sent) == 2


def test_what_went_out_is_recorded_with_failed_sinks() -> None:
    s, tables = sinks(), store()
    s["slack"].failing = True
    alerting(s, StepClock(), tables).publish([alert()])
    (row,) = tables.scan(ALERTS_SENT.name)
    assert row["alert_key"] == alert().key
    assert row["sinks"] == ["sns", "slack", "log"] and row["failed_sinks"] == ["slack"]
    assert row["raised_at"] == T0 and row["event_date"] == T0.date() and row["suppressed_before"] == 0


def test_a_second_run_within_the_period_sends_nothing() -> None:
    tables, clock = store(), StepClock()
    alerting(sinks(), clock, tables).publish([alert()])
    clock.advance(minutes=10)
    restarted = sinks()
    report = alerting(restarted, clock, tables).publish([alert()])
    assert report.sent == () and len(report.suppressed) == 1
    assert all(not sink.sent for sink in restarted.values())
    clock.advance(minutes=21)
    assert len(alerting(sinks(), clock, tables).publish([alert()]).sent) == 1


def test_an_alert_no_sink_delivered_is_retried_after_a_restart() -> None:
    tables, clock = store(), StepClock()
    down = sinks()
    for sink in down.values():
        sink.failing = True
    report = alerting(down, clock, tables).publish([alert()])
    assert report.sent == () and len(report.failures) == 3
    clock.advance(minutes=1)
    assert len(alerting(sinks(), clock, tables).publish([alert()]).sent) == 1


def test_history_that_cannot_be_written_or_read_is_counted_not_raised() -> None:
    missing = InMemoryTableStore([ALERTS_SENT])  # ensure_tables never ran: scan and append fail
    s = sinks()
    report = alerting(s, StepClock(), missing).publish([alert()])
    assert len(s["sns"].sent) == 1
    assert [f.sink for f in report.failures] == [ALERTS_SENT.name]


def test_alerts_no_configured_sink_takes_are_unrouted_and_not_throttled() -> None:
    only_sns = {"sns": InMemoryAlertSink("sns")}
    use_case = Alerting(sinks=only_sns, clock=StepClock())
    report = use_case.publish([alert(severity=AlertSeverity.WARNING)])
    assert report.unrouted == (alert(severity=AlertSeverity.WARNING),) and not only_sns["sns"].sent
    assert len(use_case.publish([alert(severity=AlertSeverity.CRITICAL)]).sent) == 1


def quality(outcome: Outcome, *, batch_id: str = "silver-20250301-1200") -> BatchQuality:
    checks = (
        CheckResult("title_not_null", Severity.CRITICAL, 3),
        CheckResult("bytes_in_range", Severity.WARNING, 40),
        CheckResult("wiki_known", Severity.WARNING, 0),
    )
    reasons = {"bytes_in_range": 40, "title_not_null": 3, "unparseable": 7, "wiki_known": 0}
    return BatchQuality("silver", batch_id, 200, 150, checks, outcome, reasons)


def test_quality_alert_is_none_on_success() -> None:
    assert quality_alert(quality(Outcome.SUCCESS), now=T0) is None


@pytest.mark.parametrize("outcome", [Outcome.WARNING, Outcome.CRITICAL])
def test_quality_alert_carries_rate_checks_reasons_and_query(outcome: Outcome) -> None:
    made = quality_alert(quality(outcome), now=T0)
    assert made is not None
    assert made.severity == AlertSeverity(str(outcome)) and made.kind is AlertKind.QUALITY
    assert made.key == f"quality:silver:{outcome}" and made.subject == "silver"
    assert made.window_or_batch == "silver-20250301-1200" and made.raised_at == T0
    assert (
        made.facts["pass rate"] == "75.0%" and made.facts["rows"] == "200" and made.facts["rejected"] == "50"
    )
    assert made.details == (
        "failed check bytes_in_range (WARNING): 40 rows",
        "failed check title_not_null (CRITICAL): 3 rows",
        "quarantine reason bytes_in_range: 40 rows",
        "quarantine reason unparseable: 7 rows",
        "quarantine reason title_not_null: 3 rows",
    )
    assert made.query == "SELECT * FROM silver_quarantine WHERE batch_id = 'silver-20250301-1200'"


def test_quality_alert_query_quotes_the_batch_id() -> None:
    made = quality_alert(quality(Outcome.WARNING, batch_id="b'1"), now=T0, layer="gold")
    assert made is not None and made.query == "SELECT * FROM gold_quarantine WHERE batch_id = 'b''1'"


def test_retry_policy_backs_off_and_honours_retry_after() -> None:
    answers = iter(
        [
            Attempt(False, True, "HTTP 429", 7.0),
            Attempt(False, True, "HTTP 503"),
            Attempt(False, True, "HTTP 500"),
            Attempt(True),
        ]
    )
    waits: list[float] = []
    tries = RetryPolicy(attempts=4, base_delay=1.0).run(lambda: next(answers), sleep=waits.append, what="x")
    assert tries == 4 and waits == [7.0, 2.0, 4.0]


def test_retry_policy_caps_waits_and_gives_up() -> None:
    waits: list[float] = []
    policy = RetryPolicy(attempts=3, base_delay=10.0, max_delay=15.0, max_retry_after=60.0)
    answers = iter(
        [
            Attempt(False, True, "HTTP 429", 3600.0),
            Attempt(False, True, "HTTP 500"),
            Attempt(False, True, "HTTP 500"),
        ]
    )
    with pytest.raises(AlertDeliveryError, match="gave up after 3 tries"):
        policy.run(lambda: next(answers), sleep=waits.append, what="x")
    assert waits == [60.0, 15.0]


def test_retry_policy_does_not_retry_a_permanent_failure() -> None:
    waits: list[float] = []
    with pytest.raises(AlertDeliveryError, match="HTTP 404 no_service"):
        RetryPolicy().run(lambda: Attempt(False, False, "HTTP 404 no_service"), sleep=waits.append, what="x")
    assert waits == []


def anomaly(
    severity: AnomalySeverity = AnomalySeverity.HIGH,
    scope: Scope = Scope.ENTITY,
    subject: str = "enwiki:Earth",
    types: tuple[str, ...] = ("REVERT_WAVE", "BURST"),
    start: datetime = T0,
) -> Anomaly:
    return Anomaly(
        scope=scope,
        subject=subject,
        window=Window(start, start + timedelta(minutes=10)),
        types=types,
        risk_score=72,
        severity=severity,
        explanation="Reverts: 6 of 9 edits (67%, baseline 8%) | Events: 31 (5.2σ above a 6h baseline of 3.1)",
        wiki="enwiki",
    )


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        (AnomalySeverity.LOW, AlertSeverity.INFO),
        (AnomalySeverity.MEDIUM, AlertSeverity.WARNING),
        (AnomalySeverity.HIGH, AlertSeverity.CRITICAL),
        (AnomalySeverity.CRITICAL, AlertSeverity.CRITICAL),
    ],
)
def test_anomaly_severity_maps_to_alert_severity(severity: AnomalySeverity, expected: AlertSeverity) -> None:
    assert anomaly_alert(anomaly(severity), now=T0).severity == expected


def test_the_severity_mapping_is_configuration() -> None:
    quiet = {**ANOMALY_SEVERITY, AnomalySeverity.HIGH: AlertSeverity.WARNING}
    assert anomaly_alert(anomaly(), now=T0, severities=quiet).severity == AlertSeverity.WARNING


def test_anomaly_alert_carries_subject_window_risk_explanations_and_query() -> None:
    made = anomaly_alert(anomaly(), now=T0)
    assert made.kind is AlertKind.ANOMALY and made.subject == "enwiki:Earth"
    assert made.key == "anomaly:enwiki:Earth:BURST+REVERT_WAVE"
    assert made.window_or_batch == "[2025-03-01 12:00, 2025-03-01 12:10) UTC"
    assert made.facts["risk score"] == "72/100" and made.facts["anomaly severity"] == "HIGH"
    assert made.details == (
        "Reverts: 6 of 9 edits (67%, baseline 8%)",
        "Events: 31 (5.2σ above a 6h baseline of 3.1)",
    )
    assert made.query == (
        "SELECT * FROM silver_events WHERE canonical_entity = 'enwiki:Earth' AND "
        "event_timestamp >= TIMESTAMP '2025-03-01 12:00:00' AND event_timestamp < TIMESTAMP '2025-03-01 12:10:00' "
        "ORDER BY event_timestamp"
    )


def test_user_and_global_anomalies_get_their_own_keys_and_queries() -> None:
    user = anomaly_alert(anomaly(scope=Scope.USER, subject="O'Brien", types=("USER_BLITZ",)), now=T0)
    assert user.key == "anomaly:user:O'Brien:USER_BLITZ" and "user_name = 'O''Brien'" in (user.query or "")
    platform = anomaly_alert(anomaly(scope=Scope.GLOBAL, subject="global"), now=T0)
    assert platform.key == "anomaly:global:BURST+REVERT_WAVE"
    assert "canonical_entity" not in (platform.query or "") and "user_name" not in (platform.query or "")


def test_an_ongoing_attack_alerts_once_per_throttle_period() -> None:
    s, clock = sinks(), StepClock()
    use_case = alerting(s, clock)
    for window in range(6):  # an hour of consecutive anomalous windows of the same page and types
        start = T0 + timedelta(minutes=10 * window)
        clock.moment = start + timedelta(minutes=10)
        use_case.publish([anomaly_alert(anomaly(start=start), now=clock.now())])
    assert [a.suppressed_before for a in s["sns"].sent] == [0, 2]
    assert [a.window_or_batch for a in s["sns"].sent] == [
        "[2025-03-01 12:00, 2025-03-01 12:10) UTC",
        "[2025-03-01 12:30, 2025-03-01 12:40) UTC",
    ]


def test_an_alert_no_sink_delivered_is_not_throttled():
    from datetime import UTC, datetime

    from wikiguard.adapters.memory.alert_sink import InMemoryAlertSink
    from wikiguard.application.alerting import Alerting
    from wikiguard.domain.alerts import Alert, AlertKind, AlertSeverity, AlertThrottle, Route

    class Fixed:
        def now(self):
            return datetime(2026, 1, 1, tzinfo=UTC)

    sink = InMemoryAlertSink("slack")
    sink.fail_next(1)
    alerting = Alerting(sinks={"slack": sink}, routes=(Route(None, AlertSeverity.WARNING, ("slack",)),),
                        throttle=AlertThrottle(), clock=Fixed())
    alert = Alert(AlertKind.ANOMALY, AlertSeverity.WARNING, "k", "t", "s", "e", "w", Fixed().now())
    assert alerting.publish([alert]).sent == ()
    assert len(alerting.publish([alert]).sent) == 1
    assert sink.titles() == ["t"]


def test_freshness_alert_only_when_the_objective_is_missed():
    from datetime import UTC, datetime

    from wikiguard.application.alerting import freshness_alert
    from wikiguard.domain.alerts import AlertKind, AlertSeverity

    now = datetime(2026, 1, 1, tzinfo=UTC)
    kw = {"layer": "silver", "batch_id": "b1", "max_seconds": 4000.0, "objective_seconds": 900.0, "now": now}
    assert freshness_alert(p50_seconds=900.0, **kw) is None
    alert = freshness_alert(p50_seconds=3600.0, **kw)
    assert alert is not None and alert.kind is AlertKind.FRESHNESS and alert.severity is AlertSeverity.WARNING
    assert alert.key == "freshness:silver" and "60 min behind" in alert.title and "quality_metrics" in alert.query
