"""Adapter fast paths give what the plain conversions give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wikiguard.adapters.iceberg.schemas import RowConversionError, _column_array, _columns
from wikiguard.adapters.simulator.replay import _cut, _facts, _rewrite

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "wikimedia"
TIMESTAMP = pa.timestamp("us", tz="UTC")
zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York")]
)
aware = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=zones)


@given(st.lists(st.one_of(st.none(), aware), max_size=20))
def test_timestamps_from_aware_datetimes_are_the_typed_conversion(values):
    assert _column_array("timestamp", values, TIMESTAMP).equals(pa.array(values, type=TIMESTAMP))


def test_a_naive_timestamp_is_still_refused():
    with pytest.raises(RowConversionError, match="naive timestamp"):
        _column_array("timestamp", [datetime.now(UTC), datetime(2026, 1, 1)], TIMESTAMP)


long_texts = st.text(min_size=256, max_size=400)


@given(st.lists(st.one_of(st.none(), long_texts, st.text(max_size=5)), max_size=8))
def test_long_texts_are_the_plain_conversion(values):
    assert _column_array("string", values, pa.string()).equals(pa.array(values, type=pa.string()))


def test_long_text_column_with_a_non_string_fails_as_before():
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        _column_array("string", ["x" * 300, 5], pa.string())


def test_columns_transpose_rows_and_read_absent_keys_as_none():
    rows = [{"a": 1, "b": "x"}, {"a": 2}]
    assert [list(c) for c in _columns(("a", "b"), rows)] == [[1, 2], ["x", None]]
    assert [list(c) for c in _columns(("a", "b"), rows[:1])] == [[1], ["x"]]
    assert [list(c) for c in _columns(("a", "b"), [])] == [[], []]


def test_replay_cut_rewrites_every_recorded_line_as_the_replace_chain():
    new = {
        "id": "fresh-id",
        "dt": '"dt":"2030-01-01T00:00:00Z"',
        "ts": '"timestamp":1893456000',
        "offset": '"offset":7',
    }
    cut_lines = 0
    for path in sorted(DATA.glob("**/*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            fact = _facts(line) if line.strip() else None
            if fact is None:
                continue
            cut = _cut(line, fact)
            cut_lines += cut is not None
            if cut is not None:
                assert _joined(cut, new) == _rewrite(line, fact, new)
    assert cut_lines > 3000


def _joined(cut: tuple[list[str], list[tuple[int, str]]], new: dict[str, str]) -> str:
    """A cut line's pieces with each slot's new text in (what the replay's rounds join as columns)."""
    pieces, slots = cut
    parts = list(pieces)
    for index, field in slots:
        parts[index] = new[field]
    return "".join(parts)


def test_replay_cut_leaves_overlapping_or_empty_texts_to_the_replace_chain():
    line = '{"meta":{"id":"\\"dt\\":\\"x","dt":"2024-01-01T00:00:00Z"}}'
    assert _cut(line, ('"dt":"x', '"dt":"2024-01-01T00:00:00Z"', 0, None, None)) is not None
    overlapping = '{"meta":{"dt":"2024-01-01T00:00:00Z"}}'
    assert _cut(overlapping, ('dt":"2024', '"dt":"2024-01-01T00:00:00Z"', 0, None, None)) is None
    assert _cut(overlapping, ("", '"dt":"2024-01-01T00:00:00Z"', 0, None, None)) is None
