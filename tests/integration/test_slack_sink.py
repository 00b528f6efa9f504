"""SlackAlertSink against a loopback server that plays Slack: retries, payload and secrecy."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.support.slack_server import SlackServer
from wikiguard.adapters.secrets import LiteralSecret
from wikiguard.adapters.slack.alert_sink import SlackAlertSink
from wikiguard.application.alerting import AlertDeliveryError, RetryPolicy, quality_alert
from wikiguard.domain.alerts import Alert, AlertKind, AlertSeverity
from wikiguard.domain.quality import BatchQuality, CheckResult, Outcome, Severity

pytestmark = pytest.mark.integration

NOW = datetime(2025, 3, 1, 12, 5, tzinfo=UTC)


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


def webhook_sink(slack: SlackServer, waits: list[float], attempts: int = 4) -> SlackAlertSink:
    return SlackAlertSink(
        LiteralSecret(slack.webhook_url),
        retry=RetryPolicy(attempts=attempts, base_delay=1.0),
        sleep=waits.append,
    )


def quality_batch_alert() -> Alert:
    checks = (
        CheckResult("title_not_null", Severity.CRITICAL, 12),
        CheckResult("wiki_known", Severity.WARNING, 0),
    )
    quality = BatchQuality(
        "silver", "silver-0042", 400, 300, checks, Outcome.CRITICAL, {"title_not_null": 12, "unparseable": 88}
    )
    made = quality_alert(quality, now=NOW)
    assert made is not None
    return made


def test_429_with_retry_after_is_honoured_then_delivered(slack: SlackServer) -> None:
    slack.answer_429(times=2, retry_after=3)
    waits: list[float] = []
    webhook_sink(slack, waits).send(quality_batch_alert())
    assert waits == [3.0, 3.0]
    assert [r.status for r in slack.requests] == [429, 429, 200]
    assert len(slack.delivered()) == 1


def test_5xx_is_retried_with_exponential_backoff_then_gives_up(slack: SlackServer) -> None:
    slack.answer(503, "service unavailable")
    waits: list[float] = []
    with pytest.raises(AlertDeliveryError, match="HTTP 503.*gave up after 4 tries"):
        webhook_sink(slack, waits).send(quality_batch_alert())
    assert waits == [1.0, 2.0, 4.0]
    assert len(slack.requests) == 4


def test_a_transient_500_then_success(slack: SlackServer) -> None:
    slack.answer(500, times=1)
    waits: list[float] = []
    webhook_sink(slack, waits).send(quality_batch_alert())
    assert waits == [1.0] and len(slack.delivered()) == 1


def test_a_permanent_4xx_is_not_retried(slack: SlackServer) -> None:
    slack.answer(404, "no_service")
    waits: list[float] = []
    with pytest.raises(AlertDeliveryError, match="HTTP 404 no_service"):
        webhook_sink(slack, waits).send(quality_batch_alert())
    assert waits == [] and len(slack.requests) == 1


def test_bot_token_posts_to_the_channel_with_a_bearer_token(slack: SlackServer) -> None:
    sink = SlackAlertSink(LiteralSecret(slack.token), channel="#wikiguard-alerts", api_base=slack.api_base)
    sink.send(quality_batch_alert())
    (request,) = slack.requests
    assert request.path == "/api/chat.postMessage" and request.accepted
    assert request.headers["authorization"] == f"Bearer {slack.token}"
    assert request.headers["content-type"].startswith("application/json")
    assert request.payload["channel"] == "#wikiguard-alerts"


def test_a_rejected_bot_token_fails_without_retrying(slack: SlackServer) -> None:
    waits: list[float] = []
    sink = SlackAlertSink(
        LiteralSecret("xoxb-wrong"), channel="#c", api_base=slack.api_base, sleep=waits.append
    )
    with pytest.raises(AlertDeliveryError, match="invalid_auth"):
        sink.send(quality_batch_alert())
    assert waits == [] and len(slack.requests) == 1


def test_the_message_shows_layer_batch_rate_checks_reasons_and_query(slack: SlackServer) -> None:
    webhook_sink(slack, []).send(quality_batch_alert())
    (payload,) = slack.delivered()
    assert payload["text"] == "[CRITICAL] silver quality CRITICAL: pass rate 75.0%"
    header, summary, fields, details, query, context = payload["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "CRITICAL: silver quality CRITICAL: pass rate 75.0%"},
    }
    assert "300 of 400 rows passed" in summary["text"]["text"]
    field_texts = [f["text"] for f in fields["fields"]]
    assert "*Layer*\nsilver" in field_texts and "*Batch*\nsilver-0042" in field_texts
    assert "*Pass rate*\n75.0%" in field_texts
    assert details["text"]["text"].splitlines() == [
        "*Details*",
        "• failed check title_not_null (CRITICAL): 12 rows",
        "• quarantine reason unparseable: 88 rows",
        "• quarantine reason title_not_null: 12 rows",
    ]
    assert query["text"]["text"] == (
        "*See the rows*\n```SELECT * FROM silver_quarantine WHERE batch_id = 'silver-0042'```"
    )
    assert context["type"] == "context" and "quality:silver:CRITICAL" in context["elements"][0]["text"]


def test_text_from_wikipedia_cannot_ping_a_channel(slack: SlackServer) -> None:
    hostile = Alert(
        kind=AlertKind.ANOMALY,
        severity=AlertSeverity.WARNING,
        key="anomaly:enwiki:X",
        title="edits on <!channel> & <https://evil.example|click>",
        summary="<!here> look",
        subject="enwiki:<!everyone>",
        window_or_batch="w",
        raised_at=NOW,
        suppressed_before=4,
    )
    webhook_sink(slack, []).send(hostile)
    (payload,) = slack.delivered()
    header, *parsed = payload["blocks"]  # Slack parses mentions in mrkdwn and `text`, not in plain_text
    assert header["text"]["type"] == "plain_text"
    rendered = str([payload["text"], *parsed])
    assert "<!" not in rendered and "<http" not in rendered
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in payload["text"]
    assert "4 similar alerts held back" in payload["blocks"][-1]["elements"][0]["text"]


def test_the_webhook_and_token_never_reach_the_logs(
    slack: SlackServer, caplog: pytest.LogCaptureFixture
) -> None:
    closed_port = _closed_port()
    dead = f"http://127.0.0.1:{closed_port}{slack.webhook_path}"
    errors: list[str] = []
    with caplog.at_level(logging.DEBUG):
        webhook_sink(slack, []).send(quality_batch_alert())  # delivered
        slack.answer_429(times=1, retry_after=0)
        webhook_sink(slack, []).send(quality_batch_alert())  # retried
        for status in (404, 500):
            slack.answer(status, f"error for {slack.webhook_path}", times=1 if status == 404 else 4)
            with pytest.raises(AlertDeliveryError) as failed:
                webhook_sink(slack, []).send(quality_batch_alert())
            errors.append(str(failed.value))
        with pytest.raises(AlertDeliveryError) as refused:
            SlackAlertSink(LiteralSecret(dead), retry=RetryPolicy(attempts=2), sleep=lambda _: None).send(
                quality_batch_alert()
            )
        errors.append(str(refused.value))
        with pytest.raises(AlertDeliveryError, match="malformed") as malformed:
            SlackAlertSink(LiteralSecret(slack.webhook_url + " x"), sleep=lambda _: None).send(
                quality_batch_alert()
            )
        errors.append(str(malformed.value))
        bot = SlackAlertSink(LiteralSecret(slack.token), channel="#c", api_base=slack.api_base)
        bot.send(quality_batch_alert())
    assert len(caplog.records) >= 5  # the sink did log: delivered, retrying, failures
    secret_parts = ("s3cr3tW3bh00kPath", slack.webhook_path, slack.token)
    for text in (caplog.text, *errors, repr(LiteralSecret(slack.token))):
        for part in secret_parts:
            assert part not in text
    assert "connection failed (URLError)" in errors[-2]
    assert refused.value.__cause__ is None and refused.value.__context__ is None  # no URL in a traceback


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
