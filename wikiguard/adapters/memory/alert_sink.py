"""An alert sink that keeps what it is sent, for tests and local runs."""

from __future__ import annotations

from wikiguard.application.alerting import AlertDeliveryError
from wikiguard.application.ports import AlertSink
from wikiguard.domain.alerts import Alert


class InMemoryAlertSink(AlertSink):
    """Records delivered alerts in `sent`; told to fail, it raises `AlertDeliveryError` instead.

    `fail_next(n)` fails the next n sends (a transient outage); `failing = True` fails every send
    until set back. `attempts` counts every call, delivered or not.
    """

    def __init__(self, name: str = "memory", *, failing: bool = False) -> None:
        self.name = name
        self.failing = failing
        self.sent: list[Alert] = []
        self.attempts = 0
        self._fail_next = 0

    def fail_next(self, times: int = 1) -> None:
        self._fail_next = times

    def send(self, alert: Alert) -> None:
        self.attempts += 1
        if self.failing or self._fail_next > 0:
            self._fail_next = max(0, self._fail_next - 1)
            raise AlertDeliveryError(f"{self.name}: told to fail")
        self.sent.append(alert)

    def titles(self) -> list[str]:
        return [a.title for a in self.sent]
