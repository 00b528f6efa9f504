"""A loopback HTTP server that plays Slack: an incoming webhook and chat.postMessage.

It records every request (path, headers, JSON payload) and answers like Slack does, unless told to
misbehave: `answer_429(times, retry_after)` then normal answers, or `answer(status, times=None)` for
a fixed status (None: forever).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs

WEBHOOK_PATH = "/services/T0WIKIGUARD/B0ALERTS/s3cr3tW3bh00kPathXYZ"
BOT_TOKEN = "xoxb-1234-5678-s3cr3tB0tT0ken"


@attrs.frozen
class RecordedRequest:
    path: str
    headers: dict[str, str]
    payload: Any
    status: int
    accepted: bool  # Slack took the message (2xx, and `ok` for the Web API)


@attrs.frozen
class _Answer:
    status: int
    body: str
    headers: tuple[tuple[str, str], ...] = ()


class SlackServer:
    """Start with `with SlackServer() as slack:`; point a sink at `webhook_url` or `api_base`."""

    def __init__(self, *, webhook_path: str = WEBHOOK_PATH, token: str = BOT_TOKEN) -> None:
        self.webhook_path = webhook_path
        self.token = token
        self.requests: list[RecordedRequest] = []
        self._scripted: deque[_Answer] = deque()
        self._always: _Answer | None = None
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def webhook_url(self) -> str:
        return self.base_url + self.webhook_path

    @property
    def api_base(self) -> str:
        return self.base_url + "/api"

    def answer_429(self, times: int, retry_after: int | str = 1) -> None:
        """The next `times` requests get 429 with `Retry-After`, then Slack answers normally."""
        with self._lock:
            answer = _Answer(429, "rate_limited", (("Retry-After", str(retry_after)),))
            self._scripted.extend([answer] * times)

    def answer(self, status: int, body: str = "", times: int | None = None) -> None:
        """Answer `status` to the next `times` requests, or to every request when `times` is None."""
        with self._lock:
            if times is None:
                self._always = _Answer(status, body)
            else:
                self._scripted.extend([_Answer(status, body)] * times)

    def payloads(self) -> list[Any]:
        """Every JSON payload received, accepted or not."""
        return [r.payload for r in self.requests]

    def delivered(self) -> list[Any]:
        """The payloads Slack accepted: what people would see."""
        return [r.payload for r in self.requests if r.accepted]

    def __enter__(self) -> SlackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _respond(self, path: str, headers: dict[str, str], raw: bytes) -> _Answer:
        try:
            payload = json.loads(raw.decode("utf-8"))
        except ValueError:
            payload = None
        with self._lock:
            answer = self._scripted.popleft() if self._scripted else self._always
            answer = answer or self._slack_answer(path, headers, payload)
            accepted = answer.status == 200 and (answer.body == "ok" or '"ok": true' in answer.body)
            self.requests.append(RecordedRequest(path, headers, payload, answer.status, accepted))
        return answer

    def _slack_answer(self, path: str, headers: dict[str, str], payload: Any) -> _Answer:
        if path == self.webhook_path:
            if not isinstance(payload, dict) or not (payload.get("text") or payload.get("blocks")):
                return _Answer(400, "invalid_payload")
            return _Answer(200, "ok")
        if path == "/api/chat.postMessage":
            if headers.get("authorization") != f"Bearer {self.token}":
                return _json(200, {"ok": False, "error": "invalid_auth"})
            if not isinstance(payload, dict) or not payload.get("channel"):
                return _json(200, {"ok": False, "error": "channel_not_found"})
            return _json(200, {"ok": True, "channel": payload["channel"], "ts": f"{len(self.requests)}.000100"})
        return _Answer(404, "no_service")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = server._respond(self.path, headers, raw)
                body = answer.body.encode("utf-8")
                self.send_response(answer.status)
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        return Handler


def _json(status: int, document: dict[str, Any]) -> _Answer:
    return _Answer(status, json.dumps(document), (("Content-Type", "application/json"),))
