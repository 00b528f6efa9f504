"""`parse_payloads` and `match_entities` give, row by row, what the per-event functions give."""

from __future__ import annotations

import functools
import json
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.strategies import damaged_events, json_values, raw_events, titles
from wikiguard.application.batches import parse
from wikiguard.application.batches.frames import CHANGE_SCHEMA
from wikiguard.application.batches.parse import (
    PYTHON_WHITESPACE,
    ParsedBatch,
    decode_payload,
    match_entities,
    parse_payloads,
)
from wikiguard.domain.allowlist import Allowlist, AllowlistError, Entity
from wikiguard.domain.events import Change, Rejection, parse_change

DATA = Path(__file__).resolve().parents[4].parent / "shared" / "data" / "wikimedia"
RECORDING = DATA / "yearfunla_wikiMedia_stream_monitor__recentchange_raw.jsonl"
SLOW = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def per_event(payload: str) -> Change | Rejection:
    """The specification: what bronze did with one payload."""
    value = decode_payload(payload)
    return value if isinstance(value, Rejection) else parse_change(value)


def utf8_or_none(payload: str) -> str | None:
    try:
        payload.encode()
    except UnicodeEncodeError:
        return None
    return payload


def assert_as_per_event(payloads: list[str]) -> ParsedBatch:
    parsed = parse_payloads(payloads)
    assert parsed.changes.schema == CHANGE_SCHEMA
    assert parsed.payloads.type == pa.string() and parsed.is_canary.type == pa.bool_()
    assert parsed.payloads.to_pylist() == [utf8_or_none(p) for p in payloads]
    rows, canary = parsed.changes.to_pylist(), parsed.is_canary.to_pylist()
    assert len(rows) == len(canary) == len(payloads)
    expected = [per_event(payload) for payload in payloads]
    assert dict(parsed.rejections) == {i: e for i, e in enumerate(expected) if isinstance(e, Rejection)}
    for i, spec in enumerate(expected):
        if isinstance(spec, Rejection):
            assert rows[i] == dict.fromkeys(CHANGE_SCHEMA.names), (i, payloads[i])
            assert canary[i] is False
        else:  # timestamps compare as instants; the schema makes bools bools and ints ints
            assert rows[i] == attrs.asdict(spec), (i, payloads[i])
            assert canary[i] is spec.is_canary
    return parsed


@functools.cache
def recorded_lines() -> list[str]:
    return [line for line in RECORDING.read_text(encoding="utf-8").splitlines() if line.strip()]


@functools.cache
def recorded_event() -> dict[str, Any]:
    event: dict[str, Any] = orjson.loads(recorded_lines()[0])
    return event


def variant(*edits: tuple[tuple[str, ...], Any]) -> str:
    """The first recorded event with values set (`DELETE` removes the key), compact JSON."""
    event = json.loads(json.dumps(recorded_event()))
    for path, value in edits:
        parent = event
        for key in path[:-1]:
            parent = parent.setdefault(key, {})
        if value is DELETE:
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = value
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


DELETE = object()


def spliced(text: str, where: str = "x") -> str:
    """The first recorded event with a field the parser skips, its value written as raw JSON text."""
    if where == "meta":
        return variant().replace('"meta":{', '"meta":{"x":' + text + ",", 1)
    if where == "length":
        return variant().replace('"length":{', '"length":{"x":' + text + ",", 1)
    return variant()[:-1] + f',"{where}":{text}}}'


# Nested arrays: at orjson's limit of 1024 as the value of a top-level field; one deeper.
DEEP_1024 = "[" * 1023 + "]" * 1023
DEEP_1025 = "[" * 1024 + "]" * 1024

# What RapidJSON, as Arrow runs it, reads in a skipped field and orjson refuses; and near misses.
REFUSED_BY_ORJSON_ONLY = [
    "NaN", "-NaN", "Infinity", "-Infinity", "Inf", "-Inf", " NaN", "\tInfinity", "[NaN]", "[1,Inf]", "[1, -Inf]",
    "NaN ", "Inf\t", "[NaN ]", "-Infinity  ",
    '{"a":NaN}', "2e308", "-2e308", "1.8e308", "18e307", "1.7976931348623159e308", "17976931348623159e292",
    "0.5e309", "1" + "0" * 309, "-" + "9" * 400, "9" * 310 + ".5", "2" + "0" * 209 + "e99",
    "2" + "0" * 209 + ".5E+99", "1" + "0" * 400 + "e-50", "[2e308]", "[0, 2E+308]", "2e0308", DEEP_1025,
]  # fmt: skip
REFUSED_BY_BOTH = ["Infobox", "Infi", "NaNa", "Infinityx", "-Infinit", "nan", "inf", "- NaN", "+Inf"]
ACCEPTED_BY_BOTH = ["1.7976931348623157e308", "1e-400", "9" * 199 + "e99", "1e99", '"NaN"', '"Infinity 2e308"',
                    "[1e200, -1e-300]", "123456789012345678901234567890", DEEP_1024]  # fmt: skip


# -- payloads: JSON orjson and RapidJSON may judge differently, kinds, nulls, times, titles -------

# Keys that parse reads (some declared to the JSON reader, some nested), and keys it skips.
PATHS = [
    ("$schema",), ("id",), ("type",), ("namespace",), ("title",), ("comment",), ("timestamp",), ("user",),
    ("bot",), ("minor",), ("patrolled",), ("server_name",), ("wiki",), ("length",), ("revision",),
    ("log_type",), ("log_action",), ("meta",), ("meta", "id"), ("meta", "dt"), ("meta", "stream"),
    ("meta", "domain"), ("meta", "topic"), ("meta", "partition"), ("meta", "offset"), ("meta", "schema_uri"),
    ("length", "old"), ("length", "new"), ("revision", "new"), ("x",), ("log_params",), ("meta", "uri"),
    ("length", "x"),
]  # fmt: skip
ODD_VALUES = [
    "NaN", "-NaN", "Infinity", "-Infinity", "Inf", "[NaN]", "[1, Infinity]", "1e400", "2e308", "-2e308",
    "1.7976931348623157e308", "1.7976931348623159e308", "18e307", "1" + "0" * 309, "9" * 400, "1e-400",
    "1.0", "1e2", "1E+2", "-0", "0", "-1", "1.5", "9223372036854775807", "9223372036854775808",
    "-9223372036854775809", "18446744073709551616", '""', '" "', '"\\u3000"', '"\\ud800"', '"\\udc00x"',
    '"\\ud83d\\ude00"', '"a\\u0000b"', '"\\x"', "true", "false", "null", "[]", "{}", "[1,]", '{"a":1,}',
    "tru", "01", ".5", "+1", DEEP_1024, DEEP_1025, '{"old": 1, "old": 2}', '{"old": "1"}', '"2024-08-22T04:03:29Z"',
    '"2024-08-22T04:03:29"', '"2024-08-22T06:03:29+02:00"', '"canary"', '"edit"', '"142"', "142",
]  # fmt: skip
TEXT_ALPHABET = PYTHON_WHITESPACE + "\u200b\u180e\ufeffa_éÉ𝔸 "
any_times = st.one_of(
    st.integers(-(10**13), 10**13),
    st.sampled_from([979_516_800, 979_516_799, 10**11, 10**11 + 1, 1_724_299_409_123]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7))])).map(
        lambda d: d.isoformat().replace("+00:00", "Z")
    ),
    st.text(max_size=12),
)
value_texts = st.one_of(
    st.sampled_from(ODD_VALUES),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats().map(json.dumps),  # NaN and Infinity as the json module writes them
    any_times.map(json.dumps),
    st.text(alphabet=TEXT_ALPHABET, max_size=4).map(lambda t: json.dumps(t, ensure_ascii=False)),
    st.text(max_size=6).map(json.dumps),  # \\u escapes, surrogate pairs for astral chars
    json_values(4).map(json.dumps),
)
spaces = st.sampled_from(
    ["", " ", "\t", "\n", "\r", "\r\n", "\x0c", "\x0b", "\xa0", "\u3000", "\ufeff", "\x00"]
)
EDIT_ALPHABET = '{}[],:"\\ \t\n\r0123456789eE+-.NaIfinty/u\x00é\ud800'


def _parent(event: Any, path: tuple[str, ...]) -> dict[str, Any] | None:
    for key in path[:-1]:
        if not isinstance(event, dict):
            return None
        event = event.get(key)
    return event if isinstance(event, dict) else None


def _dumps(event: Any, style: str) -> str:
    if style == "orjson":
        try:
            return orjson.dumps(event).decode()
        except TypeError:  # an integer beyond 64 bits
            style = "compact"
    if style == "compact":
        return json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(event, ensure_ascii=style == "ascii")  # ", " and ": " between tokens


@st.composite
def awkward_payloads(draw: st.DrawFn) -> str:
    """An event, whole or damaged, with fields removed or nulled, one value replaced by raw JSON text
    (NaN, numbers out of range, other kinds, deep nesting, odd times and titles), and the text then
    perhaps edited: spaces around, duplicate keys, two objects, trailing commas, comments, a random
    character inserted, deleted or replaced."""
    event = draw(st.one_of(raw_events(), damaged_events()))
    for path in draw(st.lists(st.sampled_from(PATHS), max_size=3)):
        parent = _parent(event, path)
        if parent is not None:
            if draw(st.booleans()):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = None
    if draw(st.booleans()):
        parent = _parent(event, ("meta", "domain"))
        if parent is not None:
            parent["domain"] = "canary"
    marker = "@@value@@"
    if draw(st.booleans()):
        parent = _parent(event, path := draw(st.sampled_from(PATHS)))
        if parent is not None:
            parent[path[-1]] = marker
    text = _dumps(event, draw(st.sampled_from(["orjson", "compact", "spaced", "ascii"])))
    text = text.replace(f'"{marker}"', draw(spaces) + draw(value_texts) + draw(spaces), 1)
    edit = draw(st.sampled_from(["none", "none", "wrap", "duplicate", "two", "comma", "comment", "char"]))
    if edit == "wrap":
        text = draw(spaces) + text + draw(spaces)
    elif edit == "duplicate" and text.endswith("}") and len(text) > 2:
        key = draw(st.sampled_from([p[-1] for p in PATHS] + ["ti\\u0074le", "met\\u0061"]))
        text = f'{text[:-1]},"{key}":{draw(value_texts)}}}'
    elif edit == "two":
        text = (
            text + draw(st.sampled_from(["", " ", "\n"])) + draw(st.sampled_from([text, "{}", "null", "1"]))
        )
    elif edit == "comma" and text.endswith("}"):
        text = text[:-1] + ",}"
    elif edit == "comment":
        text = draw(st.sampled_from(["/* c */", ""])) + text + draw(st.sampled_from([" // c", "/**/", ""]))
    elif edit == "char":
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 1))
        text = text[:at] + draw(st.sampled_from(["", *EDIT_ALPHABET])) + text[at + cut :]
    return text


@st.composite
def batches(draw: st.DrawFn, odd: st.SearchStrategy[str]) -> list[str]:
    """A few drawn payloads among a run of recorded events (so the reader reads, fails, retries)."""
    good = recorded_lines()
    start = draw(st.integers(0, len(good) - 1))
    count = draw(st.sampled_from([0, 0, 1, 5, 70, 300]))
    batch = (good[start:] + good)[:count]
    for payload in draw(st.lists(odd, max_size=6)):
        batch.insert(draw(st.integers(0, len(batch))), payload)
    return batch


def serialised(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    return st.tuples(strategy, st.sampled_from(["orjson", "compact", "spaced", "ascii"])).map(
        lambda v: _dumps(*v)
    )


@SLOW
@given(st.lists(serialised(raw_events()), max_size=12))
def test_valid_events_parse_as_per_event(payloads):
    assert_as_per_event(payloads)


@SLOW
@given(batches(serialised(st.one_of(damaged_events(), json_values()))))
def test_damaged_events_and_any_json_parse_as_per_event(payloads):
    assert_as_per_event(payloads)


@settings(SLOW, max_examples=200)
@given(batches(awkward_payloads()))
def test_awkward_payloads_parse_as_per_event(payloads):
    assert_as_per_event(payloads)


@SLOW
@given(st.lists(st.text(alphabet='{}[]":, \t\n\r0aeN\ud800\x00', max_size=8), max_size=8))
def test_any_text_parses_as_per_event(payloads):
    assert_as_per_event(payloads)


EDGE_CASES = [
    "", " ", "\t\r\n", "\x0c", "\u3000", "{}", "{} {}", "{}{}", "{}\n{}", "{}\r", "[1]", "3", "null", "true",
    '"s"', "[]", "{", "}", "{}}", '{"a": NaN}', '{"a": -Infinity}', '{"a": [1, Infinity]}', '{"a":Inf}',
    '{"a": 2e308}', '{"a": 1' + "0" * 309 + "}", '{"a": 1e400}', '{"a": 1,}', '{"a": [1,]}', '{"a": 1} // c',
    "/* c */ {}", "{'a': 1}", "\ufeff{}", "{}\x00", '{"x":' + DEEP_1024 + "}", '{"x":' + DEEP_1025 + "}",
    "x\ud800", '{"title": "\ud800"}', '{"title": "\\ud800"}', '{"title": "a\tb"}',
    variant((("x",), float("nan"))), variant((("log_params",), [1, float("inf")])),
    variant((("meta", "uri"), 1e308 * 10)), variant()[:-1] + ',"x":' + DEEP_1024 + "}",
    variant()[:-1] + ',"x":' + DEEP_1025 + "}", variant().replace('"meta":{', '"meta":{"x":' + DEEP_1024 + ",", 1),
    variant((("bot",), "yes")), variant((("bot",), 1)), variant((("minor",), None)), variant((("id",), 1.0)),
    variant((("id",), 2**63)), variant((("id",), 2**64)), variant((("id",), -(2**63))),
    variant((("namespace",), True)), variant((("length",), None)), variant((("length",), {})),
    variant((("length",), DELETE)), variant((("length",), [])), variant((("length", "old"), "1")),
    variant((("timestamp",), 1724299409.5)), variant((("timestamp",), "2024-08-22T04:03:29Z")),
    variant((("timestamp",), 1724299409123)), variant((("timestamp",), 0)), variant((("timestamp",), -1)),
    variant((("timestamp",), 10**20)), variant((("timestamp",), None)), variant((("timestamp",), True)),
    variant((("meta", "dt"), "2024-08-22T04:03:29")), variant((("meta", "dt"), "2024-08-22T06:03:29+02:00")),
    variant((("meta", "dt"), " 2024-08-22T04:03:29Z ")), variant((("meta", "dt"), "2000-01-01T00:00:00Z")),
    variant((("meta", "dt"), 1724299409)), variant((("meta", "dt"), DELETE)), variant((("meta",), None)),
    variant((("meta",), "x")), variant((("meta", "id"), "")), variant((("meta", "stream"), None)),
    variant((("$schema",), None), (("meta", "schema_uri"), "mediawiki/recentchange/1")),
    variant((("type",), "142")), variant((("type",), 142)), variant((("type",), "Edit")),
    variant((("type",), "")), variant((("title",), "")), variant((("title",), "\u3000\x1c\x85")),
    variant((("title",), "\u200b")), variant((("title",), "\ufeff")), variant((("title",), " a ")),
    variant((("wiki",), "")), variant((("user",), None)), variant((("user",), "")), variant((("user",), 5)),
    variant((("comment",), None)), variant((("comment",), 5)), variant((("server_name",), None)),
    variant((("meta", "domain"), "canary")), variant((("meta", "domain"), None), (("server_name",), "canary")),
    variant((("meta", "domain"), None), (("server_name",), None)), variant((("meta", "topic"), 5)),
    variant((("log_type",), 5)), variant((("log_type",), "block"), (("log_action",), None)),
    variant((("meta", "partition"), -0.0)), variant((("meta", "offset"), 2**63 - 1)),
    variant((("title",), "a"), (("x",), "\u2028\u2029\x7f")),
    variant()[:-1] + ',"title":"Duplicate"}', variant()[:-1] + ',"ti\\u0074le":"Escaped duplicate"}',
    *(spliced(text, where) for text in REFUSED_BY_ORJSON_ONLY + REFUSED_BY_BOTH + ACCEPTED_BY_BOTH for where in ("x", "meta", "length")),
    *(spliced(text, "x").replace(":" + text, ": " + text) for text in REFUSED_BY_ORJSON_ONLY[:8]),
    variant()[:-1] + ',"meta":null}', variant()[:-1] + ',"x":1,"x":2}', " " + variant(), variant() + " ",
    variant() + "\n", "\n" + variant(), variant().replace(",", ",\n", 1), variant().replace(",", ",\r", 1),
    variant().replace(":", ": ", 3), variant() + variant(), variant() + " {}",
]  # fmt: skip


@pytest.mark.parametrize("payload", EDGE_CASES)
def test_edge_cases_parse_as_per_event_among_good_events(payload):
    good = recorded_lines()[:100]
    assert_as_per_event([*good[:50], payload, *good[50:]])
    assert_as_per_event([payload])


@SLOW
@given(
    st.lists(
        st.tuples(
            serialised(raw_events()),
            st.sampled_from(REFUSED_BY_ORJSON_ONLY + ACCEPTED_BY_BOTH),
            st.sampled_from(["", " ", "\t"]),
        ),
        max_size=4,
    ),
    st.integers(0, 200),
)
def test_values_only_rapidjson_reads_are_refused_as_orjson_refuses_them(cases, good):
    """In a field the reader skips, NaN, Infinity, numbers beyond the double range, deep nesting: the
    reader would take the event, orjson refuses it."""
    payloads = [text[:-1] + f',"x":{space}{value}}}' for text, value, space in cases]
    assert_as_per_event(recorded_lines()[:good] + payloads)


def test_a_line_cannot_run_on_into_the_next():
    # Joined by newlines, these two are one valid event, and `{} {}` makes up the count of rows.
    event = variant()
    head, tail = '{"x":', "{}," + event[1:]
    for batch in (
        [head, tail, "{} {}"],
        [*recorded_lines()[:80], head, tail, "{}{}", *recorded_lines()[:80]],
    ):
        parsed = assert_as_per_event(batch)
        assert parsed.rejections[batch.index(head)] == Rejection(("invalid_json",))


def test_payloads_with_cr_or_lf_never_reach_the_json_reader(monkeypatch):
    read: list[bytes] = []
    real = parse.pj.read_json

    def reading(source: pa.BufferReader, **options: Any) -> pa.Table:
        read.append(source.read())
        source.seek(0)
        return real(source, **options)

    monkeypatch.setattr(parse.pj, "read_json", reading)
    good = recorded_lines()[:100]
    odd = [
        variant().replace(",", ",\n", 1),
        variant().replace(",", ",\r", 1),
        variant() + "\r\n",
        "\n" + variant(),
    ]
    assert_as_per_event([*good[:50], *odd, *good[50:]])
    assert read and all(buffer.endswith(b"\n") for buffer in read)  # each line ends with one
    lines = [line for buffer in read for line in buffer[:-1].split(b"\n")]
    assert b"\r" not in b"".join(read) and all(line.strip() for line in lines)
    assert set(lines) <= {line.encode() for line in good} | {b"{}"}


def test_every_recorded_event_parses_as_per_event(monkeypatch):
    files = sorted(DATA.glob("*.jsonl")) + sorted((DATA / "legacy").glob("*.jsonl"))
    assert len(files) >= 10
    payloads = [line for path in files for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(payloads) > 8000
    one_by_one = count_per_event(monkeypatch)
    parsed = assert_as_per_event(payloads)
    assert not parsed.rejections
    current = [p for p in payloads if '"$schema"' in p]  # the legacy events go per event
    assert len(current) > 3000 and len(one_by_one) < len(payloads) - len(current) + 50


def count_per_event(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The payloads `parse_payloads` parses one by one from now on."""
    seen: list[str] = []

    def counting(payload: str) -> Change | Rejection:
        seen.append(payload)
        return per_event(payload)

    monkeypatch.setattr(parse, "_parse_one", counting)
    return seen


def test_a_failing_row_costs_only_its_part(monkeypatch):
    good = recorded_lines()
    batch = (good * 3)[:5000]
    bad = {0: variant((("bot",), "yes")), 1700: "{} {}", 2600: variant((("id",), 1.5)), 4999: '{"title": 5}'}
    for row, payload in bad.items():
        batch[row] = payload
    one_by_one = count_per_event(monkeypatch)
    assert_as_per_event(batch)
    slow_anyway = sum(
        not orjson.loads(line).get("type", "").isalpha() for line in batch if line not in bad.values()
    )
    assert len(one_by_one) <= slow_anyway + len(bad) * parse._SMALLEST_PART


def test_an_empty_batch():
    parsed = assert_as_per_event([])
    assert parsed.changes.num_rows == 0 and not parsed.rejections


def test_python_whitespace_is_what_str_isspace_says():
    assert "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()) == PYTHON_WHITESPACE


# -- match_entities ---------------------------------------------------------------------------

allowlist_wikis = st.sampled_from(["enwiki", "dewiki", "enwiktionary", "frwiktionary", "commonswiki"])
odd_titles = st.one_of(
    titles,
    st.text(alphabet="aAbBsßǆǅİı_ é\t\u3000\xa0", min_size=1, max_size=8),
    st.sampled_from(
        ["United States", "United_States", "  united   States ", "united_states", "India", "apple"]
    ),
)


@st.composite
def respelled(draw: st.DrawFn, title: str) -> str:
    """The title as an editor might give it: underscores, doubled spaces, spaces or underscores
    around, the first letter's case changed."""
    if draw(st.booleans()):
        title = title.replace(" ", "_")
    if draw(st.booleans()):
        title = title.replace(" ", "  ")
    around = draw(st.sampled_from(["", " ", "  ", "_", "\u3000"]))
    title = around + title + around
    if draw(st.booleans()):
        title = title[:1].swapcase() + title[1:]
    return title


@st.composite
def allowlists_and_pages(draw: st.DrawFn) -> tuple[Allowlist, list[str | None], list[str | None]]:
    entities = draw(
        st.lists(
            st.builds(
                Entity,
                title=odd_titles,
                wiki=allowlist_wikis,
                aliases=st.lists(odd_titles, max_size=2).map(tuple),
            ),
            max_size=6,
        )
    )
    try:
        allowlist = Allowlist.of(entities)
    except AllowlistError:
        assume(False)
    names = [(e.wiki, name) for e in entities for name in (e.title, *e.aliases)] or [("enwiki", "India")]
    wikis: list[str | None] = []
    pages: list[str | None] = []
    for _ in range(draw(st.integers(0, 30))):
        wiki, name = draw(st.sampled_from(names))
        wikis.append(draw(st.one_of(st.just(wiki), allowlist_wikis, st.none())))
        pages.append(draw(st.one_of(respelled(name), odd_titles, st.none())))
    return allowlist, wikis, pages


@settings(SLOW, max_examples=200)
@given(allowlists_and_pages(), st.booleans())
def test_match_entities_is_allowlist_match_per_row(case, chunked):
    allowlist, wikis, pages = case
    wiki, title = pa.array(wikis, pa.string()), pa.array(pages, pa.string())
    if chunked and len(wikis) > 1:  # a table's columns: several chunks, not cut at the same rows
        wiki = pa.chunked_array([wiki[:1], wiki[1:]])
        title = pa.chunked_array([title[:2], title[2:]])
    got = match_entities(allowlist, wiki, title)
    assert got.type == pa.string()
    expected = [
        None if w is None or t is None else allowlist.match(w, t) for w, t in zip(wikis, pages, strict=True)
    ]
    assert got.to_pylist() == expected


def test_match_entities_on_the_recording():
    parsed = parse_payloads(recorded_lines())
    changes = [per_event(line) for line in recorded_lines()]
    pairs = sorted({(c.wiki, c.title) for c in changes if isinstance(c, Change)})
    allowlist = Allowlist.of(Entity(title.lower(), wiki) for wiki, title in pairs[::3])
    got = match_entities(allowlist, parsed.changes.column("wiki"), parsed.changes.column("title"))
    expected = [allowlist.match(c.wiki, c.title) if isinstance(c, Change) else None for c in changes]
    assert got.to_pylist() == expected
    assert sum(e is not None for e in expected) > 300


def test_an_integer_beyond_int64_is_damage():
    payload = variant((("id",), 2**63), (("length", "new"), 2**64 - 1), (("namespace",), -(2**63)))
    parsed = assert_as_per_event([payload])
    assert parsed.rejections == {
        0: Rejection(("bad_length_new", "bad_rc_id"), recorded_event()["meta"]["id"])
    }


def test_a_time_before_wikipedia_falls_back_to_meta_dt():
    parsed = assert_as_per_event([variant((("timestamp",), 979_516_799))])
    assert parsed.changes.column("event_timestamp")[0].as_py() == datetime(2024, 8, 22, 4, 3, 29, tzinfo=UTC)
