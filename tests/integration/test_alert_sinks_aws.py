"""The AWS side of alerting against a moto server: SNS per-protocol bodies, Slack's secret in Secrets Manager."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from tests.support import moto_server
from tests.support.moto_server import REGION, aws_client, unique
from tests.support.slack_server import SlackServer
from wikiguard.adapters.secrets import SecretUnavailableError
from wikiguard.adapters.secrets.secrets_manager import SecretsManagerSecret
from wikiguard.adapters.slack.alert_sink import SlackAlertSink
from wikiguard.adapters.sns.alert_sink import SMS_MAX, SnsAlertSink, full_text
from wikiguard.application.alerting import AlertDeliveryError
from wikiguard.domain.alerts import Alert, AlertKind, AlertSeverity

pytestmark = pytest.mark.integration
moto_endpoint = moto_server.moto_endpoint  # the session fixture, under its own name


def alert(title: str = "REVERT_WAVE on enwiki:Kraków (risk 91, CRITICAL)", suppressed: int = 0) -> Alert:
    return Alert(
        kind=AlertKind.ANOMALY,
        severity=AlertSeverity.CRITICAL,
        key="anomaly:enwiki:Kraków:REVERT_WAVE",
        title=title,
        summary="entity enwiki:Kraków: REVERT_WAVE in [2025-03-01 12:00, 2025-03-01 12:10) UTC, risk 91/100.",
        subject="enwiki:Kraków",
        window_or_batch="[2025-03-01 12:00, 2025-03-01 12:10) UTC",
        raised_at=datetime(2025, 3, 1, 12, 10, tzinfo=UTC),
        facts={"risk score": "91/100", "types": "REVERT_WAVE"},
        details=("Reverts: 9 of 11 edits (82%, baseline 8%)",),
        query="SELECT * FROM silver_events WHERE canonical_entity = 'enwiki:Kraków'",
        suppressed_before=suppressed,
    )


@pytest.fixture
def topic_with_queue(moto_endpoint: str) -> Iterator[tuple[Any, str, Any, str]]:
    sns, sqs = aws_client("sns", moto_endpoint), aws_client("sqs", moto_endpoint)
    topic = sns.create_topic(Name=unique("alerts"))["TopicArn"]
    queue = sqs.create_queue(QueueName=unique("inbox"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    yield sns, topic, sqs, queue


def test_sns_publishes_a_body_per_protocol(topic_with_queue: tuple[Any, str, Any, str]) -> None:
    sns, topic, sqs, queue = topic_with_queue
    sent = alert(suppressed=5)
    SnsAlertSink(sns, topic).send(sent)

    (message,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    envelope = json.loads(message["Body"])
    # SNS picked the `default` body for SQS: the JSON structure was understood, not forwarded whole
    assert envelope["Message"] == full_text(sent)
    assert envelope["Subject"] == "WikiGuard CRITICAL: REVERT_WAVE on enwiki:Krak?w (risk 91, CRITICAL)"
    assert envelope["MessageAttributes"]["severity"] == {"Type": "String", "Value": "CRITICAL"}
    assert envelope["MessageAttributes"]["kind"] == {"Type": "String", "Value": "anomaly"}
    full = envelope["Message"]
    for part in (
        "Kraków",
        "risk score: 91/100",
        "Reverts: 9 of 11 edits",
        "SELECT * FROM silver_events",
        "5 similar",
    ):
        assert part in full

    # what SNS was handed: one body per protocol (moto runs in this process, so its record is readable)
    (published,) = sns_backends[DEFAULT_ACCOUNT_ID][REGION].topics[topic].sent_notifications
    bodies = json.loads(published[1])
    assert set(bodies) == {"default", "email", "sms"}
    assert bodies["email"] == bodies["default"] == full
    assert (
        bodies["sms"] == "WikiGuard CRITICAL: REVERT_WAVE on enwiki:Kraków (risk 91, CRITICAL) (+5 held back)"
    )
    assert len(bodies["sms"]) <= SMS_MAX


def test_sns_sms_body_is_clipped(topic_with_queue: tuple[Any, str, Any, str]) -> None:
    sns, topic, _, _ = topic_with_queue
    SnsAlertSink(sns, topic).send(alert(title="x" * 500))
    (published,) = sns_backends[DEFAULT_ACCOUNT_ID][REGION].topics[topic].sent_notifications
    sms = json.loads(published[1])["sms"]
    assert len(sms) == SMS_MAX and sms.endswith("…")
    assert len(published[2]) < 100  # the subject


def test_sns_unknown_topic_is_a_permanent_failure(moto_endpoint: str) -> None:
    waits: list[float] = []
    sink = SnsAlertSink(
        aws_client("sns", moto_endpoint),
        f"arn:aws:sns:{REGION}:{DEFAULT_ACCOUNT_ID}:nope",
        sleep=waits.append,
    )
    with pytest.raises(AlertDeliveryError, match="NotFound"):
        sink.send(alert())
    assert waits == []


def test_sns_throttling_is_retried_with_backoff() -> None:
    # moto never throttles; botocore's Stubber (the SDK's own test double) plays the service
    client = aws_client("sns", "http://127.0.0.1:9")
    waits: list[float] = []
    with Stubber(client) as stub:
        stub.add_client_error("publish", service_error_code="Throttling", http_status_code=400)
        stub.add_client_error("publish", service_error_code="InternalError", http_status_code=500)
        stub.add_response("publish", {"MessageId": "m-1"})
        SnsAlertSink(client, "arn:aws:sns:us-east-1:123456789012:t", sleep=waits.append).send(alert())
        stub.assert_no_pending_responses()
    assert waits == [1.0, 2.0]


def test_sns_authorization_error_is_not_retried() -> None:
    client = aws_client("sns", "http://127.0.0.1:9")
    waits: list[float] = []
    with Stubber(client) as stub:
        stub.add_client_error("publish", service_error_code="AuthorizationError", http_status_code=403)
        sink = SnsAlertSink(client, "arn:aws:sns:us-east-1:123456789012:t", sleep=waits.append)
        with pytest.raises(AlertDeliveryError, match="AuthorizationError"):
            sink.send(alert())
    assert waits == []


def test_slack_webhook_read_from_secrets_manager(moto_endpoint: str) -> None:
    secrets = aws_client("secretsmanager", moto_endpoint)
    with SlackServer() as slack:
        plain, keyed = unique("slack-webhook"), unique("wikiguard")
        secrets.create_secret(Name=plain, SecretString=slack.webhook_url)
        secrets.create_secret(Name=keyed, SecretString=json.dumps({"slack_webhook_url": slack.webhook_url}))
        SlackAlertSink(SecretsManagerSecret(secrets, plain)).send(alert())
        SlackAlertSink(SecretsManagerSecret(secrets, keyed, json_key="slack_webhook_url")).send(alert())
        assert [r.path for r in slack.requests] == [slack.webhook_path] * 2
        assert all(r.accepted for r in slack.requests)


def test_a_rotated_secret_is_picked_up_after_the_ttl(moto_endpoint: str) -> None:
    secrets = aws_client("secretsmanager", moto_endpoint)
    name, clock = unique("rotating"), [0.0]
    secrets.create_secret(Name=name, SecretString="https://hooks.example/old")
    secret = SecretsManagerSecret(secrets, name, ttl_seconds=60, monotonic=lambda: clock[0])
    assert secret.value() == "https://hooks.example/old"
    secrets.put_secret_value(SecretId=name, SecretString="https://hooks.example/new")
    clock[0] = 59
    assert secret.value() == "https://hooks.example/old"
    clock[0] = 61
    assert secret.value() == "https://hooks.example/new"


def test_a_missing_secret_or_key_is_named_without_its_value(moto_endpoint: str) -> None:
    secrets = aws_client("secretsmanager", moto_endpoint)
    with pytest.raises(SecretUnavailableError, match="ResourceNotFoundException"):
        SecretsManagerSecret(secrets, unique("absent")).value()
    name = unique("notjson")
    secrets.create_secret(Name=name, SecretString="https://hooks.example/T/B/very-secret")
    with pytest.raises(SecretUnavailableError) as failed:
        SecretsManagerSecret(secrets, name, json_key="url").value()
    assert "very-secret" not in str(failed.value) and "not a JSON object" in str(failed.value)
    with pytest.raises(AlertDeliveryError, match="ResourceNotFoundException"):
        SlackAlertSink(SecretsManagerSecret(secrets, unique("absent"))).send(alert())
