import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given

from tests.strategies import damaged_events, json_values, raw_events
from wikiguard.domain.events import Change, Rejection, parse_change, parse_time

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "wikimedia"


@given(json_values())
def test_parse_never_raises_on_any_json(value):
    assert isinstance(parse_change(value), Change | Rejection)


@given(damaged_events())
def test_parse_never_raises_on_damaged_events(value):
    result = parse_change(value)
    assert isinstance(result, Change | Rejection)
    if isinstance(result, Rejection):
        assert result.reasons


@given(raw_events())
def test_valid_events_parse(event):
    change = parse_change(event)
    assert isinstance(change, Change), change
    assert change.meta_id == event["meta"]["id"]
    assert change.event_timestamp.tzinfo is not None


def test_every_recorded_event_parses():
    files = sorted(DATA.glob("*.jsonl")) + sorted((DATA / "legacy").glob("*.jsonl"))
    assert len(files) >= 10
    total = 0
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                total += 1
                result = parse_change(json.loads(line))
                assert isinstance(result, Change), (path.name, result)
    assert total > 8000


def test_flow_numeric_type_and_new_page_without_old():
    lines = (DATA / "yearfunla_wikiMedia_stream_monitor__recentchange_raw.jsonl").read_text().splitlines()
    changes = [parse_change(json.loads(x)) for x in lines if x.strip()]
    assert any(c.type == "142" for c in changes)
    new_pages = [c for c in changes if c.type == "new"]
    assert new_pages and all(c.length_old is None and c.revision_old is None for c in new_pages)
    logs = [c for c in changes if c.type == "log"]
    assert any(c.rc_id is None for c in logs) and all(c.log_type for c in logs)


def test_rejection_names_every_reason():
    result = parse_change({"meta": {"dt": "yesterday"}, "type": "edit"})
    assert isinstance(result, Rejection)
    assert {"missing_meta_id", "bad_meta_dt", "missing_title", "missing_wiki"} <= set(result.reasons)
    assert parse_change([1, 2]) == Rejection(("not_an_object",))


def test_canary_recognised():
    event = json.loads((DATA / "dlw-github_wiki_visualizer__example.jsonl").read_text().splitlines()[0])
    event["meta"]["domain"] = "canary"
    change = parse_change(event)
    assert isinstance(change, Change) and change.is_canary


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-03T11:15:25.048Z", datetime(2026, 3, 3, 11, 15, 25, 48000, tzinfo=UTC)),
        ("2018-03-07T16:16:17+00:00", datetime(2018, 3, 7, 16, 16, 17, tzinfo=UTC)),
        (1769523539, datetime(2026, 1, 27, 14, 18, 59, tzinfo=UTC)),
        (1772536525049, datetime(2026, 3, 3, 11, 15, 25, 49000, tzinfo=UTC)),
        ("2026-01-01T00:00:00", None),
        ("not a date", None),
        (True, None),
        (-5, None),  # before any wiki existed: a broken value
        (0, None),
        ("1970-01-01T00:00:00Z", None),
        ("2001-01-15T00:00:00Z", datetime(2001, 1, 15, tzinfo=UTC)),  # Wikipedia's first day
    ],
)
def test_parse_time(value, expected):
    assert parse_time(value) == expected


def test_a_broken_timestamp_falls_back_to_meta_dt_and_a_broken_meta_dt_is_rejected():
    event = json.loads((DATA / "dlw-github_wiki_visualizer__example.jsonl").read_text().splitlines()[0])
    event["timestamp"] = -5
    change = parse_change(event)
    assert isinstance(change, Change) and change.event_timestamp == parse_time(event["meta"]["dt"])
    event["meta"]["dt"] = "1969-12-31T23:59:55Z"
    result = parse_change(event)
    assert isinstance(result, Rejection) and "bad_meta_dt" in result.reasons


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [("bot", "yes", "bad_bot"), ("minor", "no", "bad_minor"), ("patrolled", 1, "bad_patrolled"),
     ("length", "big", "bad_length"), ("revision", [1, 2], "bad_revision")],
)  # fmt: skip
def test_a_flag_or_size_of_another_type_is_a_reason_not_a_default(field, value, reason):
    event = json.loads((DATA / "dlw-github_wiki_visualizer__example.jsonl").read_text().splitlines()[0])
    assert isinstance(parse_change(event), Change)
    event[field] = value
    result = parse_change(event)
    assert isinstance(result, Rejection) and reason in result.reasons
    event[field] = None  # null is absence, which the schema allows
    assert isinstance(parse_change(event), Change)


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [(("id",), 2**63, "bad_rc_id"), (("namespace",), -(2**63) - 1, "bad_namespace"),
     (("length", "new"), 2**64 - 1, "bad_length_new"), (("meta", "offset"), 10**30, "bad_meta_offset")],
)  # fmt: skip
def test_an_integer_no_64_bit_column_holds_is_damage(path, value, reason):
    event = json.loads((DATA / "dlw-github_wiki_visualizer__example.jsonl").read_text().splitlines()[0])
    *parents, last = path
    holder = event
    for key in parents:
        holder = holder.setdefault(key, {})
    holder[last] = value
    result = parse_change(event)
    assert isinstance(result, Rejection) and result.reasons == (reason,)
    holder[last] = -(2**63) if value < 0 else 2**63 - 1  # the bounds themselves are held
    assert isinstance(parse_change(event), Change)
