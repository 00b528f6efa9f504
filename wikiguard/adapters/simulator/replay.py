"""A recording replayed N times as if it kept happening: fresh meta.ids, times moved forward."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import orjson

from wikiguard.application.ports import ChangeSource, SourceRecord
from wikiguard.domain.events import parse_time

_NO_RESUME: Mapping[str, int] = MappingProxyType({})


def _uuid4(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


class RecordedRepeatChangeSource(ChangeSource):
    """Replays a .jsonl recording `times` times (for volume benchmarks on real payloads).

    Round k moves `meta.dt`, `timestamp` and `meta.offset` forward by k times the recording's
    span, and gives every event a fresh `meta.id` (seeded), so no two rounds look like duplicates.
    Lines that are not JSON objects with those fields are replayed unchanged.
    """

    def __init__(self, path: str | Path, times: int, *, seed: int = 0):
        self.path, self.times, self.seed = Path(path), times, seed
        self.name = f"repeat:{self.path.name}x{times}"
        self._closed = False

    def close(self) -> None:
        self._closed = True

    def records(self, resume: Mapping[str, int] = _NO_RESUME) -> Iterator[SourceRecord]:
        """Records at positions 1, 2, ... (topic "embedded", partition 0), after `resume["embedded:0"]`."""
        self._closed = False
        lines = [line for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]
        facts = [_facts(line) for line in lines]
        stamps = [f[2] for f in facts if f is not None]
        offsets = [f[3] for f in facts if f is not None and f[3] is not None]
        span = (max(stamps) - min(stamps) + 1) if stamps else 1
        offset_span = (max(offsets) - min(offsets) + 1) if offsets else len(lines)
        rng = random.Random(self.seed)
        skip = resume.get("embedded:0", 0)
        position = 0
        # Per second of shifted time: its meta.dt text and datetime (events share seconds).
        seconds: dict[int, tuple[str, datetime]] = {}
        cuts = [_cut(line, fact) if fact else None for line, fact in zip(lines, facts, strict=True)]
        for round_ in range(self.times):
            shift = round_ * span
            stem = _uuid4(rng)[:24]  # a random UUID's first groups per round; the line number ends each id
            for number, (line, fact, cut) in enumerate(zip(lines, facts, cuts, strict=True)):
                if self._closed:
                    return
                position += 1
                if position <= skip:
                    continue
                if fact is None:
                    yield SourceRecord(line, position, datetime.now(UTC))
                    continue
                meta_id, dt_text, stamp, offset, ts_text = fact
                new_stamp = stamp + shift
                second = seconds.get(new_stamp)
                if second is None:
                    text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(new_stamp))
                    second = seconds[new_stamp] = (text, datetime.fromtimestamp(new_stamp, UTC))
                new_dt, received = second
                new = {
                    "id": f"{stem}{number:012x}",
                    "dt": f'"dt":"{new_dt}"',
                    "ts": f'"timestamp":{new_stamp}',
                    "offset": f'"offset":{offset + round_ * offset_span}' if offset is not None else "",
                }
                yield SourceRecord(_rewrite(line, fact, new, cut), position, received)


def _rewrite(
    line: str,
    fact: tuple[str, str, int, int | None, str | None],
    new: Mapping[str, str],
    cut: tuple[list[str], list[tuple[int, str]]] | None,
) -> str:
    """The line with its id, meta.dt, timestamp and meta.offset texts replaced by `new`'s."""
    if cut is not None:  # one copy of the line instead of four
        pieces, slots = cut
        parts = list(pieces)
        for index, field in slots:
            parts[index] = new[field]
        return "".join(parts)
    meta_id, dt_text, _, offset, ts_text = fact
    payload = line.replace(meta_id, new["id"], 1).replace(dt_text, new["dt"], 1)
    if ts_text:
        payload = payload.replace(ts_text, new["ts"], 1)
    if offset is not None:
        payload = payload.replace(f'"offset":{offset}', new["offset"], 1)
    return payload


def _cut(
    line: str, fact: tuple[str, str, int, int | None, str | None]
) -> tuple[list[str], list[tuple[int, str]]] | None:
    """The line cut where the replace() chain of `records` puts new text: its pieces, and which
    piece (index) takes which new text. Each cut is at the first occurrence of the text replaced,
    as replace(..., 1) does; None when two of them overlap (then the chain runs as written)."""
    meta_id, dt_text, _, offset, ts_text = fact
    if not meta_id:
        return None  # replace("", ...) inserts at the start: left to the chain
    targets = {
        "id": meta_id,
        "dt": dt_text,
        "ts": ts_text,
        "offset": f'"offset":{offset}' if offset is not None else None,
    }
    found = sorted((line.find(text), text, field) for field, text in targets.items() if text and text in line)
    pieces: list[str] = []
    slots: list[tuple[int, str]] = []
    end = 0
    for start, text, field in found:
        if start < end:
            return None
        pieces.append(line[end:start])
        slots.append((len(pieces), field))
        pieces.append(text)
        end = start + len(text)
    pieces.append(line[end:])
    return pieces, slots


def _facts(line: str) -> tuple[str, str, int, int | None, str | None] | None:
    """meta.id, the `"dt":"..."` text, its epoch seconds, meta.offset, the `"timestamp":N` text."""
    try:
        event = orjson.loads(line)
        meta = event["meta"]
        meta_id, dt = meta["id"], meta["dt"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    when = parse_time(dt)
    dt_text = f'"dt":"{dt}"'
    if not isinstance(meta_id, str) or when is None or dt_text not in line:
        return None
    offset = meta.get("offset") if isinstance(meta.get("offset"), int) else None
    ts = event.get("timestamp")
    ts_text = f'"timestamp":{ts}' if isinstance(ts, int) and f'"timestamp":{ts}' in line else None
    # The recordings' timestamp and meta.dt agree to the second; shift both from meta.dt.
    return meta_id, dt_text, int(when.timestamp()), offset, ts_text


def recorded_repeat(path: str | Path, times: int, *, seed: int = 0) -> RecordedRepeatChangeSource:
    """A `ChangeSource` replaying the recording at `path` `times` times with fresh ids and times."""
    return RecordedRepeatChangeSource(path, times, seed=seed)
