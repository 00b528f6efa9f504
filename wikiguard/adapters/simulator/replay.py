"""A recording replayed N times as if it kept happening: fresh meta.ids, times moved forward."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from wikiguard.application.batches.frames import TIMESTAMP, marked
from wikiguard.application.ports import SOURCE_SCHEMA, ChangeSource, SourceChunk, SourceRecord, records_of
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
        return records_of(self.chunks(resume), lambda: self._closed)

    def chunks(self, resume: Mapping[str, int] = _NO_RESUME) -> Iterator[SourceChunk]:
        """One chunk per round (what is left of it after `resume`), made as columns."""
        self._closed = False
        lines = [line for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]
        plan = _Plan(lines)
        rng = random.Random(self.seed)
        skip = resume.get("embedded:0", 0)
        for round_ in range(self.times):
            stem = _uuid4(rng)[:24]  # a random UUID's first groups per round; the line number ends each id
            first = round_ * len(lines)  # the position before the round's first record
            if self._closed:
                return
            if first + len(lines) <= skip:
                continue
            yield SourceChunk.of_table(plan.round(round_, stem, first).slice(max(0, skip - first)))


_ID, _DT, _TS, _OFFSET, _NOTHING = range(5)  # what a slot of a line takes: `_Plan`'s field codes
_CODES = {"id": _ID, "dt": _DT, "ts": _TS, "offset": _OFFSET}  # `_cut`'s names of the fields
_SLOTS = 4  # id, dt, timestamp, offset: a line has at most this many places that change


class _Plan:
    """The recording cut, once, into the columns each round is joined from.

    Every line is `P0 S0 P1 S1 P2 S2 P3 S3 P4`: fixed pieces P, and slots S that take the round's
    id, meta.dt, timestamp or offset text (or nothing), at the places `_cut` finds. A line that is
    not an event keeps its text in P0. A line whose places overlap (never seen in a recording) is
    made per round by `_rewrite`'s replace chain instead.
    """

    def __init__(self, lines: list[str]):
        self.lines = lines
        self.facts = [_facts(line) for line in lines]
        stamps = [f[2] for f in self.facts if f is not None]
        offsets = [f[3] for f in self.facts if f is not None and f[3] is not None]
        self.span = (max(stamps) - min(stamps) + 1) if stamps else 1
        self.offset_span = (max(offsets) - min(offsets) + 1) if offsets else len(lines)
        cuts = [None if fact is None else _cut(line, fact) for line, fact in zip(lines, self.facts, strict=True)]
        self.chained = [
            row for row, (fact, cut) in enumerate(zip(self.facts, cuts, strict=True)) if fact is not None and cut is None
        ]  # fmt: skip
        pieces: list[list[str]] = [[] for _ in range(_SLOTS + 1)]
        fields: list[list[int]] = [[] for _ in range(_SLOTS)]
        for line, fact, cut in zip(lines, self.facts, cuts, strict=True):
            parts, slots = cut if cut is not None else ([line if fact is None else ""], [])
            fixed = [part for index, part in enumerate(parts) if index not in dict(slots)]
            codes = [_CODES[field] for _, field in slots]
            for k in range(_SLOTS + 1):
                pieces[k].append(fixed[k] if k < len(fixed) else "")
            for k in range(_SLOTS):
                fields[k].append(codes[k] if k < len(codes) else _NOTHING)
        self.pieces = [pa.array(column, pa.string()) for column in pieces]
        self.fields = [pa.array(column, pa.int8()) for column in fields]
        self.numbers = pa.array([f"{number:012x}" for number in range(len(lines))], pa.string())
        self.stamps = pa.array([None if f is None else f[2] for f in self.facts], pa.int64())
        self.offsets = pa.array([None if f is None else f[3] for f in self.facts], pa.int64())
        self.event = pc.is_valid(self.stamps)
        self.positions = pa.array(range(1, len(lines) + 1), pa.int64())

    def round(self, round_: int, stem: str, first: int) -> pa.Table:
        """Round `round_` of the recording (`SOURCE_SCHEMA`), its positions after `first`."""
        n, shift = len(self.lines), round_ * self.span
        stamps = pc.add(self.stamps, shift)
        distinct = pc.unique(stamps).drop_null()
        seconds = [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp)) for stamp in distinct.to_pylist()]
        at = pc.index_in(stamps, value_set=distinct)
        values = [
            pc.binary_join_element_wise(stem, self.numbers, ""),
            pc.take(pa.array([f'"dt":"{second}"' for second in seconds], pa.string()), at),
            pc.binary_join_element_wise('"timestamp":', pc.cast(stamps, pa.string()), ""),
            pc.binary_join_element_wise('"offset":', pc.cast(pc.add(self.offsets, round_ * self.offset_span), pa.string()), ""),
            pa.repeat(pa.scalar("", pa.string()), n),
        ]
        values = [pc.fill_null(column, "") for column in values]
        slots = [pc.choose(codes, *values) for codes in self.fields]
        text = pc.binary_join_element_wise(
            *(column for k in range(_SLOTS) for column in (self.pieces[k], slots[k])), self.pieces[_SLOTS], ""
        )
        if self.chained:
            text = pc.replace_with_mask(
                text, marked(n, self.chained), pa.array([self._chain(row, round_, stem) for row in self.chained])
            )
        now = pa.scalar(datetime.now(UTC), TIMESTAMP)
        received = pc.if_else(self.event, pc.cast(pc.multiply(stamps, 1_000_000), pa.int64()).cast(TIMESTAMP), now)
        return pa.Table.from_arrays(
            [text.cast(pa.binary()), pc.add(self.positions, first), received,
             pa.repeat(pa.scalar("embedded", pa.string()), n), pa.repeat(pa.scalar(0, pa.int32()), n),
             pa.nulls(n, pa.string()), pa.nulls(n, pa.string())],
            schema=SOURCE_SCHEMA,
        )  # fmt: skip

    def _chain(self, row: int, round_: int, stem: str) -> str:
        fact = self.facts[row]
        assert fact is not None
        meta_id, dt_text, stamp, offset, ts_text = fact
        new_stamp = stamp + round_ * self.span
        new = {
            "id": f"{stem}{row:012x}",
            "dt": f'"dt":"{time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(new_stamp))}"',
            "ts": f'"timestamp":{new_stamp}',
            "offset": f'"offset":{offset + round_ * self.offset_span}' if offset is not None else "",
        }
        return _rewrite(self.lines[row], fact, new)


def _rewrite(
    line: str,
    fact: tuple[str, str, int, int | None, str | None],
    new: Mapping[str, str],
) -> str:
    """The line with its id, meta.dt, timestamp and meta.offset texts replaced by `new`'s (the first
    occurrence of each, in this order)."""
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
    """The line cut where `_rewrite`'s replace chain puts new text: its pieces, and which
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
