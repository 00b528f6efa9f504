"""EventStreams wire details: what an `id:` points at, Retry-After, which failures are stalls."""

from __future__ import annotations

import contextlib
import email.utils
import json
import socket
from datetime import UTC, datetime

import requests
import urllib3


def position_of_event_id(event_id: str | None, default_topic: str = "sse") -> tuple[str, int]:
    """The topic and partition an EventStreams `id:` points at.

    The id lists every assigned topic-partition; the one that delivered most recently has the
    largest timestamp (or offset), the idle datacenter keeps `offset: -1`.
    """
    if not event_id:
        return default_topic, 0
    try:
        entries = json.loads(event_id)
    except ValueError:
        return default_topic, 0
    if not isinstance(entries, list):
        return default_topic, 0
    best: tuple[int, str, int] | None = None
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("topic"), str):
            continue
        raw_mark = entry.get("timestamp", entry.get("offset", -1))
        mark = raw_mark if isinstance(raw_mark, int) else -1
        raw_partition = entry.get("partition")
        partition = raw_partition if isinstance(raw_partition, int) else 0
        if best is None or mark > best[0]:
            best = (mark, str(entry["topic"]), partition)
    return (best[1], best[2]) if best else (default_topic, 0)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: either a number or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass  # not a number of seconds: try an HTTP date
    try:
        when: datetime = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    seconds: float = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds)


def is_read_timeout(exc: BaseException) -> bool:
    # requests and urllib3 wrap the socket timeout in one or two layers, as cause or as first arg.
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < 8:
        # Only a silent open connection is a stall; NewConnectionError subclasses the connect
        # timeout in urllib3, so connection failures stay errors.
        if isinstance(current, requests.ReadTimeout | urllib3.exceptions.ReadTimeoutError):
            return True
        seen.append(current)
        first = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        current = current.__cause__ or first or current.__context__
    return False


def shutdown_socket(response: requests.Response) -> None:
    """Unblock a read in progress on another thread; closing alone does not interrupt `recv`."""
    raw = response.raw
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is None:
        fp = getattr(getattr(raw, "_fp", None), "fp", None)
        sock = getattr(getattr(fp, "raw", None), "_sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed by the other side
            sock.shutdown(socket.SHUT_RDWR)
