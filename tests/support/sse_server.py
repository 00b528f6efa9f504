"""A loopback HTTP server that plays recorded events the way Wikimedia EventStreams (KafkaSSE) does.

Framing: `:ok` first, then `event: message` / `id: [...]` / `data: {...}` blocks over chunked
HTTP; NDJSON (a leading `\\n`, one event a line) when the client sends `Accept: application/json`.
Resuming: `Last-Event-ID` (offset form: the next offset to read; timestamp form: the last
delivered event's Kafka timestamp + 1) and `?since=`. The Kafka timestamp of an event is taken as
the running maximum of `meta.dt` in file order (a broker's log time only goes forward), so a
timestamp resume repeats the events sharing the boundary second rather than losing any.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs

STREAM_PATH = "/v2/stream/recentchange"
_MALFORMED = (
    'data: {"$schema":"/mediawiki/recentchange/1.0.0","meta":{"id":"truncated\n\n',
    "data: \n\n",
    ": a comment the client must ignore\n\n",
)


@attrs.define
class Faults:
    """What goes wrong, and when. Counts are events sent on the current connection."""

    drop_every: int | None = None  # cut the connection (no final chunk) after N events
    malformed_every: int | None = None  # after every N events: bad JSON, blank data, a comment, in turn
    stall_after: int | None = None  # first connection only: go silent after N events ...
    stall_seconds: float = 0.0  # ... for this long
    stall_comments: float | None = None  # ... but send a `:` keep-alive comment this often
    too_many_requests: int = 0  # answer the first K requests with 429
    retry_after: float = 1.0
    error_event_after: int | None = None  # first connection only: an `event: error` after N events


@attrs.frozen
class RecordedRequest:
    path: str
    headers: dict[str, str]
    at: float

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


@attrs.frozen
class _Event:
    payload: str
    topic: str
    offset: int
    timestamp_ms: int


def _prepare(lines: Sequence[str]) -> list[_Event]:
    events: list[_Event] = []
    high = 0
    for index, line in enumerate(lines):
        line = line.strip()
        if not line:
            continue
        try:
            meta = json.loads(line).get("meta") or {}
        except (ValueError, AttributeError):
            meta = {}
        if not isinstance(meta, dict):  # a malformed event still gets served, with made-up position
            meta = {}
        dt = _millis(meta.get("dt"))
        high = max(high, dt or high)
        raw_offset, raw_topic = meta.get("offset"), meta.get("topic")
        offset = raw_offset if isinstance(raw_offset, int) else index
        topic = raw_topic if isinstance(raw_topic, str) else "eqiad.mediawiki.recentchange"
        events.append(_Event(line, topic, offset, high))
    return events


def _millis(value: Any) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _other_dc(topic: str) -> str:
    dc, _, rest = topic.partition(".")
    return f"{'codfw' if dc == 'eqiad' else 'eqiad'}.{rest}"


class _BadRequest(Exception):
    pass


class LoopbackSseServer:
    """Replays `events` (raw JSON lines) to every client, from where its resume point says.

    `end="hold"` keeps a connection open and silent after the last event, like a quiet live
    stream; `end="close"` finishes the response. Use as a context manager; `url` is the stream.
    """

    def __init__(
        self,
        events: Sequence[str],
        *,
        id_mode: str = "timestamp",
        faults: Faults | None = None,
        end: str = "hold",
        flush_bytes: int = 16384,
    ):
        if id_mode not in ("timestamp", "offset"):
            raise ValueError(f"id_mode must be 'timestamp' or 'offset', not {id_mode!r}")
        self.events = _prepare(events)
        self.id_mode = id_mode
        self.faults = faults or Faults()
        self.end = end
        self.flush_bytes = flush_bytes
        self.requests: list[RecordedRequest] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> LoopbackSseServer:
        handler = type("Handler", (_Handler,), {"stream": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="loopback-sse", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> LoopbackSseServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{STREAM_PATH}"

    # -- protocol --------------------------------------------------------------------------
    def event_id(self, event: _Event) -> str:
        if self.id_mode == "offset":
            mine = {"topic": event.topic, "partition": 0, "offset": event.offset + 1}
        else:
            mine = {"topic": event.topic, "partition": 0, "timestamp": event.timestamp_ms + 1}
        other = {"topic": _other_dc(event.topic), "partition": 0, "offset": -1}
        return json.dumps([mine, other], separators=(",", ":"))

    def start_index(self, last_event_id: str | None, since: str | None) -> int:
        if last_event_id:
            try:
                entries = json.loads(last_event_id)
                assert isinstance(entries, list)
            except (ValueError, AssertionError) as exc:
                raise _BadRequest("invalid Last-Event-ID") from exc
            starts = [self._resume(e) for e in entries if isinstance(e, dict)]
            usable = [s for s in starts if s is not None]
            if usable:  # `since` is ignored when Last-Event-ID carries assignments
                return min(usable)
        if since:
            millis = int(since) if since.isdigit() else _millis(since)
            if millis is None:
                raise _BadRequest("invalid_timestamp")
            return next((i for i, e in enumerate(self.events) if e.timestamp_ms >= millis), len(self.events))
        return 0

    def _resume(self, entry: dict[str, Any]) -> int | None:
        topic = entry.get("topic")
        offset, stamp = entry.get("offset"), entry.get("timestamp")
        mine = [(i, e) for i, e in enumerate(self.events) if e.topic == topic]
        if isinstance(offset, int) and offset >= 0:  # an offset wins over a timestamp, as in KafkaSSE
            return next((i for i, e in mine if e.offset >= offset), len(self.events))
        if isinstance(stamp, int):
            # Look up the boundary itself (stamp - 1), not after it: repeat rather than lose.
            return next((i for i, e in mine if e.timestamp_ms >= stamp - 1), len(self.events))
        return None

    def record(self, path: str, headers: dict[str, str]) -> int:
        with self._lock:
            self.requests.append(RecordedRequest(path, headers, time.monotonic()))
            self._connections += 1
            return self._connections


class _Handler(BaseHTTPRequestHandler):
    stream: LoopbackSseServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        server = self.stream
        number = server.record(self.path, dict(self.headers.items()))
        self.close_connection = True
        if number <= server.faults.too_many_requests:
            self._plain(
                429,
                "Too Many Concurrent Connections From Your Client IP",
                {"Retry-After": f"{server.faults.retry_after:g}"},
            )
            return
        query = parse_qs(urlsplit(self.path).query)
        try:
            since = query.get("since")
            start = server.start_index(self.headers.get("Last-Event-ID"), since[0] if since else None)
        except _BadRequest as exc:
            self._plain(400, str(exc))
            return
        ndjson = "application/json" in (self.headers.get("Accept") or "")
        self.send_response(200)
        kind = "application/json" if ndjson else "text/event-stream"
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        # The client going away is what reconnect tests do.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self._play(start, ndjson, first=number == server.faults.too_many_requests + 1)

    def _play(self, start: int, ndjson: bool, first: bool) -> None:
        server, faults = self.stream, self.stream.faults
        buffer: list[bytes] = [b"\n" if ndjson else b":ok\n\n"]
        size = 0
        last_id = ""
        for sent, event in enumerate(server.events[start:], start=1):
            if server.stopping.is_set():
                return
            if ndjson:
                block = event.payload + "\n"
            else:
                last_id = server.event_id(event)
                block = f"event: message\nid: {last_id}\ndata: {event.payload}\n\n"
            buffer.append(block.encode())
            size += len(buffer[-1])
            extra = ""
            if faults.malformed_every and sent % faults.malformed_every == 0 and not ndjson:
                kind = _MALFORMED[(sent // faults.malformed_every - 1) % len(_MALFORMED)]
                extra = kind if kind.startswith(":") else f"event: message\nid: {last_id}\n{kind}"
            if first and faults.error_event_after == sent and not ndjson:
                extra += (
                    f'event: error\nid: {last_id}\ndata: {{"message":"injected","name":"KafkaError"}}\n\n'
                )
            if extra:
                buffer.append(extra.encode())
            stall = first and faults.stall_after == sent
            drop = bool(faults.drop_every) and sent % (faults.drop_every or 1) == 0
            if size >= server.flush_bytes or stall or drop:
                self._chunk(b"".join(buffer))
                buffer, size = [], 0
            if stall:
                until = time.monotonic() + faults.stall_seconds
                while not server.stopping.wait(
                    min(faults.stall_comments or 1e9, max(0.0, until - time.monotonic()))
                ):
                    if time.monotonic() >= until:
                        break
                    self._chunk(b": keep-alive\n\n")
            if drop:
                return  # no terminating chunk: the client sees a cut connection
        if buffer:
            self._chunk(b"".join(buffer))
        if server.end == "hold":
            while not server.stopping.wait(0.05):
                pass
            return
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _plain(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        body = json.dumps({"status": status, "message": message}).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
