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
        dt_cache: dict[int, str] = {}
        for round_ in range(self.times):
            shift = round_ * span
            for line, fact in zip(lines, facts, strict=True):
                if self._closed:
                    return
                position += 1
                fresh = _uuid4(rng)
                if position <= skip:
                    continue
                if fact is None:
                    yield SourceRecord(line, position, datetime.now(UTC))
                    continue
                meta_id, dt_text, stamp, offset, ts_text = fact
                new_stamp = stamp + shift
                new_dt = dt_cache.get(new_stamp)
                if new_dt is None:
                    new_dt = dt_cache[new_stamp] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(new_stamp))
                payload = line.replace(meta_id, fresh, 1).replace(dt_text, f'"dt":"{new_dt}"', 1)
                if ts_text:
                    payload = payload.replace(ts_text, f'"timestamp":{new_stamp}', 1)
                if offset is not None:
                    payload = payload.replace(
                        f'"offset":{offset}', f'"offset":{offset + round_ * offset_span}', 1
                    )
                yield SourceRecord(payload, position, datetime.fromtimestamp(new_stamp, UTC))


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
