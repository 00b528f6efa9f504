"""Alerts published to an SNS topic, with a body per protocol (short for SMS, full for email)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from wikiguard.application.alerting import Attempt, RetryPolicy
from wikiguard.application.ports import AlertSink
from wikiguard.domain.alerts import Alert

log = logging.getLogger(__name__)

SMS_MAX = 140  # one SMS part; longer texts are split and cost more
SUBJECT_MAX = 100  # SNS: ASCII, no line breaks, under 100 characters
FULL_MAX_BYTES = 100_000  # two full bodies stay well under SNS's 256 KiB message limit
_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "KMSThrottling",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
    }
)


class SnsAlertSink(AlertSink):
    """Publishes each alert with `MessageStructure='json'`: `sms` short, `email` and `default` full.

    `severity` and `kind` go along as message attributes so subscriptions can filter on them.
    Throttling and 5xx answers are retried per `retry` (on top of botocore's own retries).
    """

    def __init__(
        self,
        client: Any,
        topic_arn: str,
        *,
        name: str = "sns",
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.topic_arn = topic_arn
        self._client = client
        self._retry = retry or RetryPolicy()
        self._sleep = sleep

    def send(self, alert: Alert) -> None:
        request = {
            "TopicArn": self.topic_arn,
            "Subject": subject(alert),
            "Message": json.dumps(bodies(alert), ensure_ascii=False),
            "MessageStructure": "json",
            "MessageAttributes": {
                "severity": {"DataType": "String", "StringValue": str(alert.severity)},
                "kind": {"DataType": "String", "StringValue": str(alert.kind)},
            },
        }
        what = f"{self.name} publish to {self.topic_arn}"
        tries = self._retry.run(lambda: self._attempt(request), sleep=self._sleep, what=what)
        log.info("%s: delivered alert %s (%s) in %d tries", what, alert.key, alert.severity, tries)

    def _attempt(self, request: dict[str, Any]) -> Attempt:
        try:
            self._client.publish(**request)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            meta = exc.response.get("ResponseMetadata", {})
            status = int(meta.get("HTTPStatusCode") or 0)
            code = str(error.get("Code", "ClientError"))
            transient = code in _TRANSIENT_CODES or status == 429 or status >= 500
            retry_after = meta.get("HTTPHeaders", {}).get("retry-after")
            reason = f"{code}: {error.get('Message', '')}".strip()
            return Attempt(False, transient, reason, _seconds(retry_after))
        except BotoCoreError as exc:  # endpoint unreachable, timeouts, dropped connections
            return Attempt(False, True, type(exc).__name__)
        return Attempt(True)


def bodies(alert: Alert) -> dict[str, str]:
    full = full_text(alert)
    return {"default": full, "email": full, "sms": short_text(alert)}


def short_text(alert: Alert) -> str:
    text = f"WikiGuard {alert.severity}: {alert.title}"
    if alert.suppressed_before:
        text += f" (+{alert.suppressed_before} held back)"
    return text if len(text) <= SMS_MAX else text[: SMS_MAX - 1] + "…"


def full_text(alert: Alert) -> str:
    lines = [
        f"[{alert.severity}] {alert.title}",
        "",
        alert.summary,
        "",
        f"Subject: {alert.subject}",
        f"Window or batch: {alert.window_or_batch}",
        *(f"{name}: {value}" for name, value in alert.facts.items()),
    ]
    if alert.details:
        lines += ["", "Details:", *(f"- {line}" for line in alert.details)]
    if alert.query:
        lines += ["", "See the rows:", alert.query]
    lines += ["", f"{alert.kind} alert {alert.key}, raised {alert.raised_at.isoformat()}"]
    if alert.suppressed_before:
        lines.append(f"{alert.suppressed_before} similar alerts were held back since the last one.")
    encoded = "\n".join(lines).encode("utf-8")
    return encoded[:FULL_MAX_BYTES].decode("utf-8", "ignore")


def subject(alert: Alert) -> str:
    text = f"WikiGuard {alert.severity}: {alert.title}"
    # SNS refuses non-ASCII and control characters in a subject; the body keeps the real title
    clean = "".join(c if " " <= c <= "~" else "?" for c in text)
    return clean if len(clean) < SUBJECT_MAX else clean[: SUBJECT_MAX - 4] + "..."


def _seconds(header: object) -> float | None:
    try:
        return max(0.0, float(str(header))) if header is not None else None
    except ValueError:
        return None
