"""The ingest service (the Fargate task): `python -m wikiguard.entrypoints.ingest` or `wikiguard ingest`.

SIGTERM/SIGINT stop reading, flush Kafka, persist the resume id and exit 0. A heartbeat file in
`state_dir` is rewritten every second by a service thread and says when the last event was read;
`health()` (the container health check, `wikiguard health`) fails when it is stale.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wikiguard.application.ingest import Ingest
from wikiguard.domain.errors import WikiguardError
from wikiguard.entrypoints.arguments import positive_float, positive_int
from wikiguard.entrypoints.ingest_container import HEARTBEAT_FILE, IngestContainer
from wikiguard.entrypoints.logs import configure_json_logging
from wikiguard.entrypoints.settings import Settings

logger = logging.getLogger("wikiguard.ingest")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wikiguard ingest", description="SSE -> allowlist -> Kafka")
    parser.add_argument("--max-events", type=positive_int, default=None, help="stop after N records (tests)")
    parser.add_argument("--duration", type=positive_float, default=None, help="stop after S seconds")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except WikiguardError as exc:
        configure_json_logging("INFO")
        logger.error("bad configuration: %s", exc)
        return 2
    configure_json_logging(settings.log_level)
    container = IngestContainer(settings=settings)
    service: ServiceThread | None = None
    try:
        container.topic_admin().ensure_topics(container.topics())
        ingest = container.ingest()
        logger.info(
            "ingest starting",
            extra={
                "sse_url": settings.sse_url,
                "topic": settings.kafka_topic,
                "resume_id": getattr(ingest.source, "resume_id", None),
            },
        )
        service = ServiceThread(ingest, container.heartbeat_path(), settings.progress_seconds, args.duration)
        _on_signals(ingest)
        service.start()
        counters = ingest.run(max_events=args.max_events, duration_s=args.duration)
        logger.info("ingest stopped", extra={"counters": counters.as_dict(), "resume_id": ingest.resume_id})
        return 0
    except WikiguardError as exc:
        logger.error("ingest failed: %s", exc, extra={"error": type(exc).__name__})
        return 1
    except Exception:
        logger.exception("ingest crashed")
        return 1
    finally:
        if service is not None:
            service.stop()
        container.shutdown_resources()


def _on_signals(ingest: Ingest) -> None:
    def stop(signum: int, _frame: Any) -> None:
        logger.info("signal %s: stopping", signal.Signals(signum).name)
        ingest.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


class ServiceThread(threading.Thread):
    """Serves delivery reports while the reader waits on the network, writes the heartbeat, logs
    progress, and enforces `--duration` even when no event arrives."""

    def __init__(self, ingest: Ingest, heartbeat: Path, progress_s: float, duration_s: float | None):
        super().__init__(name="ingest-service", daemon=True)
        self.ingest, self.heartbeat, self.progress_s = ingest, heartbeat, progress_s
        self.started_wall = time.time()
        self._deadline = None if duration_s is None else time.monotonic() + duration_s
        self._done = threading.Event()

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=5)
        self.beat()

    def run(self) -> None:
        last_beat = last_progress = time.monotonic()
        previous = 0
        while not self._done.is_set():
            try:
                self.ingest.service(0.2)
            except Exception:  # a failure here must not kill the heartbeat silently
                logger.exception("serving delivery reports failed; stopping")
                self.ingest.stop()
                return
            now = time.monotonic()
            if now - last_beat >= 1.0:
                self.beat()
                last_beat = now
            if self.progress_s and now - last_progress >= self.progress_s:
                read = self.ingest.counters.read
                self.progress(rate=(read - previous) / (now - last_progress))
                previous, last_progress = read, now
            if self._deadline is not None and now >= self._deadline:
                self.ingest.stop()
                self._deadline = None

    def progress(self, rate: float) -> None:
        source = getattr(self.ingest.source, "counters", None)
        logger.info(
            "progress",
            extra={
                "counters": self.ingest.counters.as_dict(),
                "events_per_s": round(rate, 1),
                "in_flight": self.ingest.in_flight,
                "source": vars(source) if source is not None else None,
            },
        )

    def beat(self) -> None:
        last = self.ingest.last_read_at
        state = {
            "pid": os.getpid(),
            "written_at": time.time(),
            "started_at": self.started_wall,
            "last_event_at": None if last is None else time.time() - (time.monotonic() - last),
            "counters": self.ingest.counters.as_dict(),
            "resume_id": self.ingest.resume_id,
        }
        try:
            self.heartbeat.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.heartbeat.with_name(self.heartbeat.name + ".tmp")
            tmp.write_text(json.dumps(state), encoding="utf-8")
            os.replace(tmp, self.heartbeat)
        except OSError as exc:
            logger.warning("cannot write heartbeat %s: %s", self.heartbeat, exc)


def health(max_age_s: float = 120.0) -> int:
    """0 when the ingest process wrote its heartbeat and read an event within `max_age_s`, else 1.

    Just after a start (no event yet) the start time stands in for the last event.
    """
    try:
        settings = Settings.from_env()
    except WikiguardError as exc:
        print(f"unhealthy: bad configuration: {exc}", file=sys.stderr)
        return 1
    path = settings.state_dir / HEARTBEAT_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        written, started = float(state["written_at"]), float(state["started_at"])
        last_event = state.get("last_event_at")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"unhealthy: no usable heartbeat at {path}: {exc}", file=sys.stderr)
        return 1
    now = time.time()
    if now - written > max_age_s:
        print(f"unhealthy: heartbeat is {now - written:.0f}s old (process stuck or gone)", file=sys.stderr)
        return 1
    quiet = now - float(last_event if last_event is not None else started)
    if quiet > max_age_s:
        print(f"unhealthy: no event read for {quiet:.0f}s", file=sys.stderr)
        return 1
    print(f"healthy: last event {quiet:.1f}s ago, read={state.get('counters', {}).get('read')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
