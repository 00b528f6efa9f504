"""One contract for every AlertSink: the in-memory fake, Slack (loopback server) and SNS (moto).

The contract: a delivered alert is observable at the receiver with its title and severity; a receiver
that fails permanently makes `send` raise `AlertDeliveryError`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import attrs
import pytest

from tests.support import moto_server
from tests.support.moto_server import aws_client, unique
from tests.support.slack_server import SlackServer
from wikiguard.adapters.log_sink.alert_sink import LogAlertSink
from wikiguard.adapters.memory.alert_sink import InMemoryAlertSink
from wikiguard.adapters.secrets import LiteralSecret
from wikiguard.adapters.slack.alert_sink import SlackAlertSink
from wikiguard.adapters.sns.alert_sink import SnsAlertSink
from wikiguard.application.alerting import AlertDeliveryError, RetryPolicy
from wikiguard.application.ports import AlertSink
from wikiguard.domain.alerts import Alert, AlertKind, AlertSeverity

FAST = RetryPolicy(attempts=3, base_delay=0.01)
moto_endpoint = moto_server.moto_endpoint  # the session fixture, under its own name


@attrs.frozen
class Receiver:
    """A sink and what its receiving end saw (one text per delivered message)."""

    sink: AlertSink
    seen: Callable[[], list[str]]
    break_permanently: Callable[[], None]


def memory_receiver() -> Iterator[Receiver]:
    sink = InMemoryAlertSink("memory")

    def fail() -> None:
        sink.failing = True

    yield Receiver(sink, lambda: [f"{a.severity}: {a.title}" for a in sink.sent], fail)


def slack_receiver(mode: str) -> Iterator[Receiver]:
    with SlackServer() as slack:
        if mode == "webhook":
            sink = SlackAlertSink(LiteralSecret(slack.webhook_url), retry=FAST, sleep=lambda _: None)
        else:
            sink = SlackAlertSink(
                LiteralSecret(slack.token),
                channel="#wikiguard",
                api_base=slack.api_base,
                retry=FAST,
                sleep=lambda _: None,
            )

        def seen() -> list[str]:
            return [p["blocks"][0]["text"]["text"] for p in slack.delivered()]

        yield Receiver(sink, seen, lambda: slack.answer(404, "no_service"))


def sns_receiver(endpoint: str) -> Iterator[Receiver]:
    sns, sqs = aws_client("sns", endpoint), aws_client("sqs", endpoint)
    topic = sns.create_topic(Name=unique("alerts"))["TopicArn"]
    queue = sqs.create_queue(QueueName=unique("inbox"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    sink = SnsAlertSink(sns, topic, retry=FAST, sleep=lambda _: None)
    received: list[str] = []

    def seen() -> list[str]:
        answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
        received.extend(json.loads(m["Body"])["Message"] for m in answer.get("Messages", []))
        return received

    yield Receiver(sink, seen, lambda: sns.delete_topic(TopicArn=topic))


@pytest.fixture(params=["memory", "slack-webhook", "slack-bot", "sns"])
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    if request.param == "memory":
        yield from memory_receiver()
    elif request.param.startswith("slack"):
        yield from slack_receiver(request.param.removeprefix("slack-"))
    else:
        yield from sns_receiver(request.getfixturevalue("moto_endpoint"))


def alert(title: str = "Émile Zola: revert wave", severity: AlertSeverity = AlertSeverity.CRITICAL) -> Alert:
    return Alert(
        kind=AlertKind.ANOMALY,
        severity=severity,
        key=f"anomaly:enwiki:{title}",
        title=title,
        summary="Seven reverts in ten minutes by three new accounts.",
        subject="enwiki:Émile_Zola",
        window_or_batch="[2025-03-01T12:00Z, 2025-03-01T12:10Z)",
        raised_at=datetime(2025, 3, 1, 12, 10, tzinfo=UTC),
        facts={"risk score": "87"},
        details=("REVERT_WAVE: 7 reverts (baseline 0.4)",),
        query="SELECT * FROM silver_events WHERE canonical_entity = 'enwiki:Émile_Zola'",
    )


def test_is_an_alert_sink_with_a_name(receiver: Receiver) -> None:
    assert isinstance(receiver.sink, AlertSink) and receiver.sink.name


def test_a_delivered_alert_is_seen_with_its_title_and_severity(receiver: Receiver) -> None:
    receiver.sink.send(alert())
    (text,) = receiver.seen()
    assert "Émile Zola: revert wave" in text and "CRITICAL" in text


def test_each_alert_is_delivered_once(receiver: Receiver) -> None:
    receiver.sink.send(alert("first", AlertSeverity.WARNING))
    receiver.sink.send(alert("second", AlertSeverity.CRITICAL))
    seen = receiver.seen()
    assert len(seen) == 2
    first, second = sorted(seen, key=lambda text: "second" in text)
    assert "first" in first and "WARNING" in first and "second" in second and "CRITICAL" in second


def test_a_receiver_that_fails_permanently_makes_send_raise(receiver: Receiver) -> None:
    receiver.break_permanently()
    with pytest.raises(AlertDeliveryError):
        receiver.sink.send(alert())
    assert receiver.seen() == []


def test_the_log_sink_logs_title_and_severity_at_the_severity_level(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        LogAlertSink().send(alert(severity=AlertSeverity.WARNING))
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "Émile Zola: revert wave" in record.getMessage() and "WARNING" in record.getMessage()
    assert record.alert["key"] == "anomaly:enwiki:Émile Zola: revert wave"  # type: ignore[attr-defined]
