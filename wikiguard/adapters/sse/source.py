"""The live `recentchange` feed (Wikimedia EventStreams, SSE over chunked HTTP) as a `ChangeSource`.

Resuming follows KafkaSSE: every event carries an `id:` (a JSON array of topic/partition/timestamp
or offset) and a reconnect sends the id of the last event the consumer has acknowledged as
`Last-Event-ID`. Without any id, `?since=` asks for history from a point in time.
"""

from __future__ import annotations

import http.client
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import attrs
import requests
import sseclient
import urllib3

from wikiguard.adapters.sse.wire import (
    is_read_timeout,
    position_of_event_id,
    retry_after_seconds,
    shutdown_socket,
)
from wikiguard.application.ports import ChangeSource, SourceRecord
from wikiguard.domain.errors import WikiguardError

log = logging.getLogger(__name__)

# 408/429 and 5xx are the server asking us to come back later; anything else is our mistake.
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_NETWORK_ERRORS = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)


_NO_RESUME: Mapping[str, int] = MappingProxyType({})


class SseSourceError(WikiguardError):
    """The stream cannot be (re)connected: a refused request, or retries exhausted."""


class _Stall(Exception):
    """No event for `read_timeout` seconds although the connection is open."""


@attrs.define(slots=False)  # plain attributes, so `vars()` works for progress logs
class SseCounters:
    """What the source has seen since it was built; read from any thread."""

    connects: int = 0
    reconnects: int = 0
    events: int = 0
    comments: int = 0
    stalls: int = 0
    errors: int = 0
    error_events: int = 0

    def as_dict(self) -> dict[str, int]:
        return attrs.asdict(self)


def _now() -> datetime:
    return datetime.now(UTC)


class WikimediaSseChangeSource(ChangeSource):
    """Reads the stream forever, reconnecting after any error, EOF or stall, until `close()`.

    `position` is a sequence number local to this `records()` call: the live stream is resumed by
    `Last-Event-ID` (see `acknowledge`), not by position, so the `resume` mapping is not used.
    Payloads are yielded undecoded, even when they are not JSON.
    """

    name = "wikimedia-sse"

    def __init__(
        self,
        url: str,
        *,
        user_agent: str,
        last_event_id: str | None = None,
        since: datetime | str | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        jitter: float = 0.5,
        max_retries: int | None = None,
        require_ack: bool = False,
        clock: Callable[[], datetime] = _now,
        sleep: Callable[[float], Any] | None = None,
        session: requests.Session | None = None,
        seed: int | None = None,
    ):
        if not user_agent.strip():
            raise SseSourceError("a descriptive User-Agent (tool/version and a contact URL) is required")
        self.url = url
        self.user_agent = user_agent
        self.counters = SseCounters()
        self._since = (
            since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(since, datetime) else since
        )
        self._timeouts = (connect_timeout, read_timeout)
        self._read_timeout = read_timeout
        self._backoff = (backoff_initial, backoff_max, jitter)
        self._max_retries = max_retries
        self._require_ack = require_ack
        self._clock = clock
        self._wake = threading.Event()
        self._sleep = sleep or self._wake.wait
        self._session = session
        self._random = random.Random(seed)
        self._initial_id = last_event_id
        self._yielded_id: str | None = None
        self._acked_id: str | None = None
        self._closed = False
        self._response: requests.Response | None = None
        self._last_event_at = 0.0

    def acknowledge(self, event_id: str) -> None:
        """The consumer has made this event durable; a reconnect resumes after it."""
        self._acked_id = event_id

    @property
    def resume_id(self) -> str | None:
        """What the next connection will send as `Last-Event-ID`."""
        if self._acked_id is not None or self._require_ack:
            return self._acked_id or self._initial_id
        return self._yielded_id or self._initial_id

    def close(self) -> None:
        """Stop promptly, also from another thread: wakes a backoff sleep and cuts the socket."""
        self._closed = True
        self._wake.set()
        response = self._response
        if response is not None:
            shutdown_socket(response)

    def records(self, resume: Mapping[str, int] = _NO_RESUME) -> Iterator[SourceRecord]:
        self._closed = False
        self._wake.clear()
        sequence = 0
        failures = 0
        last_error = "no event"
        session = self._session or requests.Session()
        try:
            while not self._closed:
                delay: float | None = None
                delivered = 0
                try:
                    response = self._connect(session)
                    if response is None:
                        return
                    for event_id, topic, partition, data in self._events(response):
                        sequence += 1
                        delivered += 1
                        yield SourceRecord(
                            payload=data,
                            position=sequence,
                            received_at=self._clock(),
                            topic=topic,
                            partition=partition,
                            event_id=event_id,
                        )
                        # Time spent in the consumer is not the server's silence.
                        self._last_event_at = time.monotonic()
                        if self._closed:
                            return
                    log.info("stream ended after %d events; reconnecting", delivered)
                except _Stall:
                    self.counters.stalls += 1
                    log.warning("no event for %.1fs; reconnecting", self._read_timeout)
                except _RetryLater as retry:
                    self.counters.errors += 1
                    delay = retry.after
                    last_error = retry.reason
                except _NETWORK_ERRORS as exc:
                    if self._closed:
                        return
                    if is_read_timeout(exc):
                        self.counters.stalls += 1
                    else:
                        self.counters.errors += 1
                    last_error = f"{type(exc).__name__}: {exc}"
                    log.warning("stream error: %s", last_error)
                finally:
                    self._drop()
                if self._closed:
                    return
                failures = 0 if delivered else failures + 1
                if self._max_retries is not None and failures > self._max_retries:
                    raise SseSourceError(
                        f"{self.url}: gave up after {failures} attempts without an event (last: {last_error})"
                    )
                self._sleep(max(delay or 0.0, self._delay(failures)))
        finally:
            if self._session is None:
                session.close()

    def _connect(self, session: requests.Session) -> requests.Response | None:
        headers = {"User-Agent": self.user_agent, "Accept": "text/event-stream", "Cache-Control": "no-cache"}
        params: dict[str, str] = {}
        resume = self.resume_id
        if resume:
            headers["Last-Event-ID"] = resume
        elif self._since:
            params["since"] = self._since
        response = session.get(self.url, headers=headers, params=params, stream=True, timeout=self._timeouts)
        self._response = response
        if self._closed:
            return None
        if response.status_code != 200:
            status = response.status_code
            reason = f"HTTP {status} {response.reason}"
            if status in _RETRYABLE_STATUS:
                raise _RetryLater(reason, retry_after_seconds(response.headers.get("Retry-After")))
            raise SseSourceError(f"{self.url}: {reason}: {response.text[:200]}")
        self.counters.connects += 1
        if self.counters.connects > 1:
            self.counters.reconnects += 1
        return response

    def _events(self, response: requests.Response) -> Iterator[tuple[str | None, str, int, str]]:
        self._last_event_at = time.monotonic()
        for event in sseclient.SSEClient(self._lines(response)).events():
            if event.event == "error":
                # KafkaSSE reports a server-side failure in-band; it is not a change.
                self.counters.error_events += 1
                log.warning("server sent an error event: %.200s", event.data)
                continue
            if event.event != "message" or not event.data.strip():
                continue
            self.counters.events += 1
            if event.id:
                self._yielded_id = event.id
            topic, partition = position_of_event_id(event.id)
            yield event.id, topic, partition, event.data

    def _lines(self, response: requests.Response) -> Iterator[bytes]:
        """Whole lines for sseclient; counts comments and watches the time since the last event."""
        raw = response.raw
        pending = b""
        while True:
            chunk = raw.read1(65536)
            if not chunk:
                if pending:
                    yield pending
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.startswith(b":"):
                    self.counters.comments += 1
                yield line + b"\n"
            if time.monotonic() - self._last_event_at > self._read_timeout:
                raise _Stall()

    def _delay(self, failures: int) -> float:
        initial, cap, jitter = self._backoff
        delay: float = min(cap, initial * 2.0 ** max(failures - 1, 0))
        return delay * (1.0 - jitter * self._random.random())

    def _drop(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            try:
                response.close()
            except _NETWORK_ERRORS + (ValueError, AttributeError):
                pass  # already broken; nothing left to release


class _RetryLater(Exception):
    def __init__(self, reason: str, after: float | None):
        super().__init__(reason)
        self.reason = reason
        self.after = after
