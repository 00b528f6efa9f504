"""A recorded stream on disk as a `ChangeSource`: JSON Lines (one event a line) or raw SSE text."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

from wikiguard.adapters.sse.wire import position_of_event_id
from wikiguard.application.ports import ChangeSource, SourceRecord
from wikiguard.domain.errors import WikiguardError

NO_RESUME: Mapping[str, int] = MappingProxyType({})


class RecordingFileError(WikiguardError):
    """A recording that cannot be read (missing, unreadable)."""


def _now() -> datetime:
    return datetime.now(UTC)


class JsonLinesChangeSource(ChangeSource):
    """Replays a recording once, in file order.

    `position` is the 1-based line number (for `.sse` files, the line where the event's block
    starts), so a checkpoint stays valid however the file's blank lines or comments are laid out.
    `resume` maps `"topic:partition"` to the last committed position; `.jsonl` records all have
    `topic` (default "embedded") and partition 0.
    The payload is the line's text, undecoded: malformed JSON (and bytes that are not UTF-8, shown
    as `\\xNN`) is bronze's business, not ours.
    """

    def __init__(self, path: str | Path, *, clock: Callable[[], datetime] = _now, topic: str = "embedded"):
        self.path = Path(path)
        self.name = f"file:{self.path.name}"
        self._clock = clock
        self._topic = topic
        self._closed = False

    def records(self, resume: Mapping[str, int] = NO_RESUME) -> Iterator[SourceRecord]:
        self._closed = False
        try:
            # A leading byte-order mark is dropped (utf-8-sig). Bytes that are not UTF-8 come through
            # as `\xNN` text, which is never valid JSON: that line is quarantined as invalid_json
            # with its text kept, and the rest of the recording is read.
            with self.path.open(encoding="utf-8-sig", errors="backslashreplace", newline="") as handle:
                lines = (line.rstrip("\r\n") for line in handle)
                parse = self._sse if self.path.suffix == ".sse" else self._jsonl
                for record in parse(lines):
                    if self._closed:
                        return
                    if record.position > resume.get(f"{record.topic}:{record.partition}", 0):
                        yield record
        except (OSError, UnicodeDecodeError) as exc:
            raise RecordingFileError(f"cannot read recording {self.path}: {exc}") from exc

    def close(self) -> None:
        self._closed = True

    def _jsonl(self, lines: Iterator[str]) -> Iterator[SourceRecord]:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield SourceRecord(
                    payload=line, position=number, received_at=self._clock(), topic=self._topic
                )

    def _sse(self, lines: Iterator[str]) -> Iterator[SourceRecord]:
        # SSE framing: fields until a blank line dispatch the event; ':' starts a comment.
        start = 0
        event_id: str | None = None
        kind = "message"
        data: list[str] = []
        for number, line in enumerate(itertools.chain(lines, [""]), start=1):
            if line:
                start = start or number
                if line.startswith(":"):
                    continue
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "data":
                    data.append(value)
                elif field == "id":
                    event_id = value
                elif field == "event":
                    kind = value
                continue
            payload = "\n".join(data)
            if payload.strip() and kind == "message":
                topic, partition = position_of_event_id(event_id, self._topic)
                yield SourceRecord(
                    payload=payload,
                    position=start,
                    received_at=self._clock(),
                    topic=topic,
                    partition=partition,
                    event_id=event_id,
                )
            start, kind, data = 0, "message", []
