"""Alerts posted to Slack: an incoming webhook, or a bot token with chat.postMessage.

HTTP goes through the standard library on purpose: urllib3 (under requests) logs request paths at
DEBUG, and a webhook's path is its secret. The secret appears in no log line and no error message.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from wikiguard.adapters.secrets import Secret, SecretUnavailableError
from wikiguard.adapters.slack.blocks import message
from wikiguard.application.alerting import AlertDeliveryError, Attempt, RetryPolicy
from wikiguard.application.ports import AlertSink
from wikiguard.domain.alerts import Alert

log = logging.getLogger(__name__)

SLACK_API = "https://slack.com/api"
# chat.postMessage answers HTTP 200 {"ok": false} for these; Slack says to try again later
_TRANSIENT_API_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)


class SlackAlertSink(AlertSink):
    """Posts each alert as a Block Kit message.

    `secret` holds either a webhook URL (`https://hooks.slack.com/services/...`) or a bot token
    (`xoxb-...`, which needs `channel`). 429 and 5xx are retried per `retry`, honouring
    `Retry-After`; `sleep` is injected so tests need not wait.
    """

    def __init__(
        self,
        secret: Secret,
        *,
        name: str = "slack",
        channel: str | None = None,
        api_base: str = SLACK_API,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.channel = channel
        self._secret = secret
        self._api_base = api_base.rstrip("/")
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._timeout = timeout

    def send(self, alert: Alert) -> None:
        try:
            secret = self._secret.value().strip()
        except SecretUnavailableError as exc:
            raise AlertDeliveryError(f"{self.name}: {exc}") from None
        if secret.startswith(("https://", "http://")):
            url, headers, what = secret, {}, f"{self.name} webhook"
            body = message(alert)
        elif secret.startswith("xox"):
            if not self.channel:
                raise AlertDeliveryError(f"{self.name}: a bot token needs a channel")
            url, what = (
                f"{self._api_base}/chat.postMessage",
                f"{self.name} chat.postMessage to {self.channel}",
            )
            headers = {"Authorization": f"Bearer {secret}"}
            body = message(alert, self.channel)
        else:
            raise AlertDeliveryError(f"{self.name}: the secret is neither a webhook URL nor a bot token")
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers["Content-Type"] = "application/json; charset=utf-8"
        is_api = "Authorization" in headers
        tries = self._retry.run(
            lambda: self._attempt(url, data, headers, is_api, secret), sleep=self._sleep, what=what
        )
        log.info("%s: delivered alert %s (%s) in %d tries", what, alert.key, alert.severity, tries)

    def _attempt(self, url: str, data: bytes, headers: dict[str, str], is_api: bool, secret: str) -> Attempt:
        try:
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                text = response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            status = exc.code
            retry_after = _seconds(exc.headers.get("Retry-After") if exc.headers else None)
            detail = _scrub(exc.read().decode("utf-8", "replace"), secret)
            transient = status == 429 or status >= 500
            return Attempt(False, transient, f"HTTP {status} {detail}".strip(), retry_after)
        except (http.client.InvalidURL, ValueError) as exc:  # a malformed URL; its message would quote it
            return Attempt(False, False, f"the webhook URL is malformed ({type(exc).__name__})")
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            # the exception text can carry the URL; its type is enough to act on
            return Attempt(False, True, f"connection failed ({type(exc).__name__})")
        if not is_api:
            return Attempt(True)
        return _api_outcome(text, secret)


def _api_outcome(text: str, secret: str) -> Attempt:
    try:
        answer: Any = json.loads(text)
    except ValueError:
        return Attempt(False, True, "answer is not JSON")
    if isinstance(answer, dict) and answer.get("ok") is True:
        return Attempt(True)
    error = str(answer.get("error", "unknown")) if isinstance(answer, dict) else "unknown"
    return Attempt(False, error in _TRANSIENT_API_ERRORS, f"Slack error {_scrub(error, secret)}")


def _seconds(header: str | None) -> float | None:
    try:
        return max(0.0, float(header)) if header is not None else None
    except ValueError:
        return None  # an HTTP-date: Slack sends seconds, so fall back to our own backoff


def _scrub(text: str, secret: str) -> str:
    # a proxy's error page may echo the URL; a webhook's path alone is as secret as the whole URL
    text = text.strip()[:200]
    for part in (secret, urllib.parse.urlsplit(secret).path):
        if len(part) > 8:
            text = text.replace(part, "<redacted>")
    return text
