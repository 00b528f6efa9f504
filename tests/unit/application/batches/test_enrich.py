"""`enrich_batch` gives, row by row, what `enrich` gives for each change."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.strategies import BASE_TIME, raw_events, users
from wikiguard.application.batches.enrich import REVERT_PREFILTER, SILVER_EVENT_SCHEMA, enrich_batch
from wikiguard.application.batches.frames import CHANGE_SCHEMA, TIMESTAMP
from wikiguard.domain.enrichment import bytes_changed, enrich, is_revert
from wikiguard.domain.events import Change, parse_change

PYTHON_WHITESPACE = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())

odd_users = st.one_of(
    users,
    st.ip_addresses(v=6).map(lambda a: f"{a}%eth0"),
    st.ip_addresses().map(lambda a: str(a).upper()),
    st.sampled_from(["", " ", "1.2.3.4 ", " 1.2.3.4", "\u30001.2.3.4", "1.2.3", "::1%", "fe80::1%%1", "~2026-",
                     "~202-1-1", " ~2026-1-1", "~Tilde", "Alice\x1c", "\u2003", "ᚠ"]),
    st.text(alphabet="0123456789abcdefABCDEF:.%~- \t\u3000", max_size=16),
    st.text(max_size=8),
)  # fmt: skip

# Revert phrases as the domain lists them, plus near misses; comments built around them.
PHRASES = [
    "reverted edits by X", "Reverted 2 edits by X", "reverted to revision 5", "reverting edit by X",
    "reverted good faith edits by X", "undid revision 12 by X", "undo revision 3", "rv", "rv vandalism",
    "rvv", "rvx", "revert", "reverted", "reverting is not allowed", "restored revision 7", "rollback",
    "rollbacks", "annulation de la modification", "révocation des modifications",
    "änderung 5 von X rückgängig gemacht", "deshecha la edición", "revertidos los cambios",
    "desfeita a edição", "reversão de edições", "reſtored revision 7", "undid revision ٣ by X",
    "ﬀ", "fix", "", "Copyedit; see revert policy",
]  # fmt: skip
SPACES = ["", " ", "\t", "\n", "\u3000", "\x1c", "\x85", "\xa0", "\u2028", "\u200b", "  \u2003 "]
SECTIONS = ["", "/* History */ ", "/*x*/", "/* a\nb */ ", "/* a */ /* b */ ", "/* open ", "*/ "]


@st.composite
def comments(draw: st.DrawFn) -> str:
    phrase = draw(st.sampled_from(PHRASES))
    flips = draw(st.lists(st.booleans(), min_size=len(phrase), max_size=len(phrase)))
    phrase = "".join(c.swapcase() if flip else c for c, flip in zip(phrase, flips, strict=True))
    return (
        draw(st.sampled_from(SPACES)) + draw(st.sampled_from(SECTIONS)) + draw(st.sampled_from(SPACES))
        + phrase + draw(st.sampled_from(["", " ", "\n", ": see talk", "\u3000"]))
    )  # fmt: skip


any_comments = st.one_of(
    comments(),
    st.text(alphabet=PYTHON_WHITESPACE + "\u200b\u180e\ufeffxé/*", max_size=6),  # strip() decides these
    st.text(max_size=20),
)
lengths = st.one_of(st.none(), st.integers(0, 200_000), st.sampled_from([0, 4999, 5000, 5001, 2**40]))


@st.composite
def changes(draw: st.DrawFn) -> Change:
    """A change as `parse_change` makes it, from an event with odd users, comments, sizes and times."""
    event = draw(raw_events())
    event["user"] = draw(st.one_of(st.none(), odd_users))
    event["comment"] = draw(st.one_of(st.none(), any_comments))
    if draw(st.booleans()):
        event["length"] = {k: v for k, v in {"old": draw(lengths), "new": draw(lengths)}.items() if v is not None}
        if draw(st.booleans()):
            event.pop("length")
    if draw(st.booleans()):  # epoch milliseconds: a fraction of a second
        event["timestamp"] = event["timestamp"] * 1000 + draw(st.integers(0, 999))
    event["bot"] = draw(st.sampled_from([True, False, None]))
    event["minor"] = draw(st.sampled_from([True, False, None]))
    change = parse_change(event)
    assert isinstance(change, Change)
    return change


moments = st.one_of(
    st.datetimes(timezones=st.just(UTC)),  # years 1..9999: lags beyond 2**53 microseconds
    st.integers(-3600 * 10**6, 7200 * 10**6).map(lambda us: BASE_TIME + timedelta(microseconds=us)),
)
large_edits = st.one_of(st.integers(-10, 10**6), st.sampled_from([0, 1, 5000, 2**63 - 1, 2**63, 2**70, -(2**63)]))


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[Change], list[dict[str, Any]], int]:
    batch = draw(st.lists(changes(), max_size=12))
    extras = [
        {
            "canonical_entity": draw(st.text(max_size=6)),
            "ingested_at": draw(moments),
            "kafka_topic": draw(st.sampled_from(["embedded", "wikiguard.raw"])),
            "kafka_partition": draw(st.integers(0, 2**31 - 1)),
            "kafka_offset": draw(st.integers(0, 2**63 - 1)),
        }
        for _ in batch
    ]
    sizes = sorted({abs(bytes_changed(c.length_old, c.length_new)) for c in batch} | {0})
    return batch, extras, draw(st.one_of(large_edits, st.sampled_from(sizes)))  # often on a boundary


def change_table(batch: list[Change], chunks: int = 1) -> pa.Table:
    table = pa.Table.from_pylist([attrs.asdict(c) for c in batch], schema=CHANGE_SCHEMA)
    if chunks > 1 and table.num_rows > 1:  # the batch function must not assume one chunk per column
        cut = table.num_rows // 2
        table = pa.concat_tables([table.slice(0, cut), table.slice(cut)])
    return table


EXTRA_TYPES = {"canonical_entity": pa.string(), "ingested_at": TIMESTAMP, "kafka_topic": pa.string(),
               "kafka_partition": pa.int64(), "kafka_offset": pa.int64()}  # fmt: skip


def by_batch(batch: list[Change], extras: list[dict[str, Any]], large: int, chunks: int = 1) -> list[dict[str, Any]]:
    arrays = {name: pa.array([e[name] for e in extras], kind) for name, kind in EXTRA_TYPES.items()}
    result = enrich_batch(change_table(batch, chunks), large_edit_bytes=large, **arrays)
    assert result.schema == SILVER_EVENT_SCHEMA
    rows: list[dict[str, Any]] = result.to_pylist()
    return rows


def by_event(batch: list[Change], extras: list[dict[str, Any]], large: int) -> list[dict[str, Any]]:
    return [attrs.asdict(enrich(c, large_edit_bytes=large, **e)) for c, e in zip(batch, extras, strict=True)]


@settings(max_examples=300, deadline=None)
@given(batches(), st.sampled_from([1, 2]))
def test_a_batch_is_enriched_as_each_of_its_changes(generated, chunks):
    batch, extras, large = generated
    assert by_batch(batch, extras, large, chunks) == by_event(batch, extras, large)


def test_every_recorded_change_is_enriched_as_by_the_domain(recordings):
    batch = []
    for path in sorted(recordings.glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            parsed = parse_change(orjson.loads(line)) if line.strip() else None
            if isinstance(parsed, Change):
                batch.append(parsed)
    extras = [
        {"canonical_entity": c.wiki, "ingested_at": datetime(2026, 1, 29, tzinfo=UTC), "kafka_topic": "t",
         "kafka_partition": 0, "kafka_offset": i}
        for i, c in enumerate(batch)
    ]  # fmt: skip
    expected = by_event(batch, extras, 5000)
    assert len(batch) > 3000
    # Not a vacuous comparison: the recording has every class of user, reverts, and empty comments.
    assert {row["user_type"] for row in expected} == {"Bot", "Registered", "Anonymous", "Temporary"}
    assert any(row["is_revert"] for row in expected)
    assert not all(row["has_comment"] for row in expected)
    assert by_batch(batch, extras, 5000, chunks=2) == expected


def test_an_empty_batch_has_the_silver_columns():
    assert by_batch([], [], 5000) == []


def test_the_revert_prefilter_is_derived_and_never_drops_a_revert():
    # None would still be exact (every comment to `is_revert`), but slow: a pattern changed shape.
    assert REVERT_PREFILTER is not None
    summaries = [s + p for p in PHRASES for s in ("", " \u3000", "/* Intro */ ", "/*a*/\x85", "\x1c")]
    summaries = [s for s in summaries + [s.upper() for s in summaries] if is_revert(s)]
    assert len(summaries) > 100
    assert all(pc.match_substring_regex(pa.array(summaries), REVERT_PREFILTER).to_pylist())


def test_printable_ascii_is_never_python_whitespace():
    # What `has_comment`'s vectorised test and the revert prefilter rely on.
    assert not re.search(r"\s", "".join(map(chr, range(0x21, 0x7F))))
