"""Raw payloads to changes, a batch at a time: per row, what `decode_payload` then `parse_change` give.

Those per-event functions stay the specification (ADR 003). Arrow's JSON reader reads the batch, and a
row is taken from it only where the checks of `parse_well_formed` provably hold; every other row goes
through the per-event functions, which give its rejection reasons or its unusual values.

Why a row the reader took holds what orjson would have decoded (the tests hold this to account):
- Only payloads that start with "{", end with "}" and hold no CR or LF go into the buffer, one a
  line: no BOM, no empty line, no top-level `null` (which crashes pyarrow 26: apache/arrow#47409).
  No line can run on into the next (no value may follow a closing brace, and a newline ends no
  string), so a read with as many rows as lines read each line as one object (`{} {}` gives two).
- The reader is RapidJSON, which refuses what orjson refuses (trailing commas, comments, bad escapes,
  lone surrogates, control characters), except in the fields it skips: there it also takes NaN,
  Infinity, numbers beyond the double range, and nesting deeper than orjson's 1024. Payloads where
  one of those could stand (a textual over-approximation) never reach it.
- In the declared fields a value of another JSON kind, a duplicate key, a fraction or exponent where
  an integer is declared, or an integer beyond int64 fails the read: the rows are then read in
  smaller parts, and the rows of a part that still fails go per event.
- The reader gives null for `null` and for a missing key alike. So does `parse_any`, and it gives what
  `parse_well_formed` gives wherever that accepts: taking a null as missing is exact.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from wikiguard.application.batches.frames import CHANGE_SCHEMA, TIMESTAMP, marked, plain
from wikiguard.application.ports import payload_column, payload_text
from wikiguard.domain.allowlist import Allowlist
from wikiguard.domain.events import CANARY_DOMAIN, KNOWN_TYPES, Change, Rejection, parse_change, parse_time

_STR, _INT, _BOOL = pa.string(), pa.int64(), pa.bool_()
_OLD_NEW = pa.struct([("old", _INT), ("new", _INT)])
# The fields `parse_change` reads, typed as the well-formed shape has them; other fields are skipped.
JSON_SCHEMA = pa.schema([
    ("$schema", _STR),
    ("meta", pa.struct([("id", _STR), ("dt", _STR), ("stream", _STR), ("domain", _STR), ("topic", _STR),
                        ("partition", _INT), ("offset", _INT), ("schema_uri", _STR)])),
    ("id", _INT), ("type", _STR), ("namespace", _INT), ("title", _STR), ("comment", _STR),
    ("timestamp", _INT), ("user", _STR), ("bot", _BOOL), ("minor", _BOOL), ("patrolled", _BOOL),
    ("server_name", _STR), ("wiki", _STR), ("length", _OLD_NEW), ("revision", _OLD_NEW),
    ("log_type", _STR), ("log_action", _STR),
])  # fmt: skip
_PARSE_OPTIONS = pj.ParseOptions(explicit_schema=JSON_SCHEMA, unexpected_field_behavior="ignore")
_BLOCK_BYTES = 1 << 22  # the fastest block size on the recording (1, 4, 16, 64 MiB tried)

# A payload where RapidJSON could read a value orjson refuses: CR or LF, or at the start of a value
# (after ':', ',', '[' or a space) NaN, Inf or Infinity ending there (a letter after it is an error
# anyway, as in "Infobox"), or a number beyond 1.8e308: one with a 3-digit exponent, or with 200
# integer digits (under a 2-digit exponent it takes 210).
_MAY_BE_REFUSED = (
    r"[\r\n]|[:,\[ \t]-?(?:(?:NaN|Inf(?:inity)?)[ \t]*[,}\]]|[0-9]+(?:\.[0-9]+)?[eE]\+?[0-9]{3}|[0-9]{200})"
)
_ORJSON_MAX_DEPTH = 1024  # orjson refuses a value nested deeper (RapidJSON, iterative, has no limit)
# A read that fails is retried in this many parts; a failing part this small goes per event.
_PARTS, _SMALLEST_PART = 32, 64

# What `str.isspace` holds for (so `str.strip` removes); a test checks it against every code point.
PYTHON_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# A title matching this has a char that is not whitespace: `title.strip()` is not empty.
_VISIBLE = "[^" + "".join(f"\\x{{{ord(c):x}}}" for c in PYTHON_WHITESPACE) + "]"
_KNOWN_TYPES = pa.array(sorted(KNOWN_TYPES), _STR)


@attrs.frozen
class ParsedBatch:
    """A batch of payloads parsed; row i is about payload i."""

    payloads: pa.Array | pa.ChunkedArray  # string: the payloads; null where one has no UTF-8 form (lone surrogates)
    changes: pa.Table  # CHANGE_SCHEMA: the fields of payload i's `Change`; all null where it has none
    rejections: Mapping[int, Rejection]  # row -> why payload i is no change (rare; see `_parse_one`)
    is_canary: pa.Array | pa.ChunkedArray  # bool: `Change.is_canary`, False where payload i has no change


def parse_payloads(payloads: Sequence[str] | pa.Array | pa.ChunkedArray) -> ParsedBatch:
    """`decode_payload` then `parse_change` for every payload, as columns. Payloads are texts, or a column of
    them: a source chunk's payload column (UTF-8 bytes, see `SOURCE_SCHEMA`) or a string column.

    Read `_PART_ROWS` payloads at a time: the reader's working copies of the text (its UTF-8 column,
    the buffer of lines) then stay a few MB, whatever the batch size; the parts' columns are chained.
    """
    column = payloads.cast(pa.binary()) if isinstance(payloads, pa.Array | pa.ChunkedArray) else payload_column(payloads)
    if len(column) <= _PART_ROWS:
        return _parse_part(plain(column))
    parts = [_parse_part(plain(column.slice(start, _PART_ROWS))) for start in range(0, len(column), _PART_ROWS)]
    rejections = {
        start + row: rejection
        for start, part in zip(range(0, len(column), _PART_ROWS), parts, strict=True)
        for row, rejection in part.rejections.items()
    }
    return ParsedBatch(
        pa.chunked_array([part.payloads for part in parts], _STR),
        pa.concat_tables([part.changes for part in parts]),
        rejections,
        pa.chunked_array([part.is_canary for part in parts], _BOOL),
    )


_PART_ROWS = 8192


def _parse_part(payloads: pa.Array) -> ParsedBatch:
    array = _utf8_column(payloads)
    read = _read(array, _readable(array))
    changes, taken = _well_formed(read)
    rejections: dict[int, Rejection] = {}
    if not pc.all(taken).as_py():
        changes, rejections = _with_the_others(payloads, changes, pc.invert(taken))
    is_canary = pc.fill_null(pc.equal(changes.column("meta_domain"), CANARY_DOMAIN), False)
    return ParsedBatch(array, changes, rejections, plain(is_canary))


def decode_payload(payload: str) -> Any | Rejection:
    """The JSON value of a payload, or a rejection naming why it is not JSON."""
    if not payload or payload.isspace():  # what `not payload.strip()` says, without copying the payload
        return Rejection(("empty_payload",))
    try:
        # Decoded from bytes: given a str, orjson leaves a UTF-8 copy cached inside it (CPython keeps
        # it with the string), and the payload lives until its batch is written: 1 kB per event.
        return orjson.loads(payload.encode())
    except (orjson.JSONDecodeError, UnicodeEncodeError):  # lone surrogates: orjson refuses them too
        return Rejection(("invalid_json",))


def _parse_one(payload: str) -> Change | Rejection:
    """The per-event definition `parse_payloads` follows."""
    value = decode_payload(payload)
    return value if isinstance(value, Rejection) else parse_change(value)


def match_entities(allowlist: Allowlist, wiki: pa.Array, title: pa.Array) -> pa.Array:
    """`allowlist.match(wiki[i], title[i])` per row (string; null when the page is not watched, or wiki
    or title is null), matched in Python once per distinct pair and mapped back to the rows."""
    wiki_codes, wikis = _codes(wiki)
    title_codes, titles = _codes(title)
    width = len(titles)
    pairs = pc.add(pc.multiply(wiki_codes, width), title_codes)  # null where wiki or title is
    distinct = pc.unique(pairs).drop_null()
    watched = [name in allowlist.wikis for name in wikis]  # elsewhere nothing matches: skip the titles
    entities = [
        allowlist.match(wikis[pair // width], titles[pair % width]) if watched[pair // width] else None
        for pair in distinct.to_pylist()
    ]
    return pc.take(pa.array(entities, _STR), pc.index_in(pairs, value_set=distinct))


def _utf8_column(payloads: pa.Array) -> pa.Array:
    """The payloads (UTF-8 bytes) as a string column; null where one is no valid UTF-8 (a lone surrogate)."""
    try:
        return payloads.cast(_STR)  # checks every payload is valid UTF-8
    except pa.ArrowInvalid:
        return pa.array([_utf8(payload) for payload in payloads.to_pylist()], pa.binary()).view(_STR)


def _utf8(payload: bytes | None) -> bytes | None:
    if payload is None:
        return None
    try:
        payload.decode()
    except UnicodeDecodeError:
        return None
    return payload


def _readable(array: pa.Array) -> pa.Array:
    """Whether each payload may go to the JSON reader (see the module docstring)."""
    shaped = pc.and_(pc.starts_with(array, "{"), pc.ends_with(array, "}"))
    readable = pc.fill_null(
        pc.and_(shaped, pc.invert(pc.match_substring_regex(array, _MAY_BE_REFUSED))), False
    )
    # Nesting deeper than orjson's limit takes more brackets than that, so only long payloads can.
    long = pc.and_(readable, pc.greater(pc.binary_length(array), 2 * _ORJSON_MAX_DEPTH))
    deep = [
        row for row in pc.indices_nonzero(long).to_pylist()
        if _brackets(array[row].as_py()) > _ORJSON_MAX_DEPTH
    ]  # fmt: skip
    if deep:
        readable = pc.replace_with_mask(readable, marked(len(array), deep), False)
    return readable


def _brackets(text: str) -> int:
    return text.count("{") + text.count("[")


def _read(array: pa.Array, readable: pa.Array) -> pa.Table:
    """The JSON_SCHEMA fields of each payload, read as one buffer of lines; all null in the rows of
    payloads not readable or of a part the reader refuses (those rows go per event)."""
    if not pc.any(readable).as_py():
        return _nulls(JSON_SCHEMA, len(array))
    # Each payload a line, "{}" (all null) where it may not be read: row i of the read is payload i.
    lines = pc.binary_join_element_wise(
        array if pc.all(readable).as_py() else pc.if_else(readable, array, "{}"), "", "\n"
    )
    ends = pa.Array.from_buffers(pa.int32(), len(lines) + 1, [None, lines.buffers()[1]], offset=lines.offset)
    data, block = lines.buffers()[2], max(_BLOCK_BYTES, 2 * (pc.max(pc.binary_length(lines)).as_py() or 0))
    parts: list[pa.Table] = []
    # Spans to read, in row order (a stack, last first): no recursive closure, which would be a
    # reference cycle holding the buffer until the (paused) garbage collector runs.
    spans = [(0, len(lines))]
    while spans:
        start, stop = spans.pop()
        first, last = ends[start].as_py(), ends[stop].as_py()
        table = _read_json(data.slice(first, last - first), stop - start, block)
        if table is not None:
            parts.append(table)
        elif stop - start <= _SMALLEST_PART:
            parts.append(_nulls(JSON_SCHEMA, stop - start))
        else:
            size = max(_SMALLEST_PART, -(-(stop - start) // _PARTS))
            spans.extend(reversed([(cut, min(cut + size, stop)) for cut in range(start, stop, size)]))
    return pa.concat_tables(parts)


def _read_json(buffer: pa.Buffer, rows: int, block: int) -> pa.Table | None:
    """The lines of `buffer` read as one object each, or None when the reader refuses them or reads
    another number of rows."""
    try:
        table = pj.read_json(
            pa.BufferReader(buffer),
            read_options=pj.ReadOptions(use_threads=False, block_size=block),
            parse_options=_PARSE_OPTIONS,
        )
    except pa.ArrowInvalid:  # a type clash, a duplicate key, invalid JSON, a number out of range
        return None
    return table if table.num_rows == rows else None


def _well_formed(read: pa.Table) -> tuple[pa.Table, pa.Array]:
    """The changes `parse_well_formed` makes of the rows read, and whether it accepts each row (where
    it does not, the change columns hold no meaning)."""
    field = read.flatten().column
    meta_dt = _times(field("meta.dt"))
    values = {
        "meta_id": field("meta.id"),
        "meta_dt": meta_dt,
        "meta_stream": field("meta.stream"),
        "meta_domain": pc.coalesce(field("meta.domain"), field("server_name"), pa.scalar("", _STR)),
        "meta_topic": field("meta.topic"),
        "meta_partition": field("meta.partition"),
        "meta_offset": field("meta.offset"),
        "rc_id": field("id"),
        "type": field("type"),
        "namespace": field("namespace"),
        "title": field("title"),
        "comment": pc.fill_null(field("comment"), ""),
        "event_timestamp": pc.coalesce(_times(field("timestamp")), meta_dt),
        "user_name": pc.fill_null(field("user"), ""),
        "is_bot": pc.fill_null(field("bot"), False),
        "minor": field("minor"),
        "patrolled": field("patrolled"),
        "wiki": field("wiki"),
        "server_name": pc.fill_null(field("server_name"), ""),
        "length_old": field("length.old"),
        "length_new": field("length.new"),
        "revision_old": field("revision.old"),
        "revision_new": field("revision.new"),
        "log_type": field("log_type"),
        "log_action": field("log_action"),
        "schema": field("$schema"),
    }
    accepted = functools.reduce(
        pc.and_,
        [
            pc.greater(pc.binary_length(field("meta.id")), 0),
            pc.is_valid(field("meta.stream")),
            pc.is_valid(field("$schema")),
            pc.is_in(field("type"), value_set=_KNOWN_TYPES),
            pc.match_substring_regex(field("title"), _VISIBLE),
            pc.greater(pc.binary_length(field("wiki")), 0),
            pc.is_valid(meta_dt),
        ],
    )
    changes = pa.Table.from_arrays([values[f.name] for f in CHANGE_SCHEMA], schema=CHANGE_SCHEMA)
    return changes, plain(pc.fill_null(accepted, False))


def _times(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """`parse_time` of each value, called once per distinct value (events share their second)."""
    distinct = pc.unique(values)
    times = pa.array([parse_time(value) for value in distinct.to_pylist()], TIMESTAMP)
    return pc.take(times, pc.index_in(values, value_set=distinct))


def _with_the_others(
    payloads: pa.Array, fast: pa.Table, others: pa.Array
) -> tuple[pa.Table, dict[int, Rejection]]:
    """The changes, with the rows in `others` (of `payloads`, UTF-8 bytes) replaced by what the
    per-event functions give."""
    rows: list[int] = pc.indices_nonzero(others).to_pylist()
    parsed = [_parse_one(payload_text(payloads[row].as_py() or b"")) for row in rows]
    rejections = {
        row: result for row, result in zip(rows, parsed, strict=True) if isinstance(result, Rejection)
    }
    slow = pa.Table.from_arrays(
        [
            pa.array([None if isinstance(r, Rejection) else getattr(r, f.name) for r in parsed], f.type)
            for f in CHANGE_SCHEMA
        ],
        schema=CHANGE_SCHEMA,
    )
    # Slices of both in row order (a run of rows in one slice), then one copy: cheaper than replacing
    # the rows in every column.
    pieces, start, index = [], 0, 0
    while index < len(rows):
        run = 1
        while index + run < len(rows) and rows[index + run] == rows[index] + run:
            run += 1
        pieces += [fast.slice(start, rows[index] - start), slow.slice(index, run)]
        start, index = rows[index] + run, index + run
    pieces.append(fast.slice(start))
    return pa.concat_tables(pieces).combine_chunks(), rejections


def _codes(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, list[str]]:
    """Each value's index among the distinct values (int64, null for null), and those values."""
    encoded = pc.dictionary_encode(plain(values))
    return encoded.indices.cast(_INT), encoded.dictionary.to_pylist()


def _nulls(schema: pa.Schema, rows: int) -> pa.Table:
    return pa.Table.from_arrays([pa.nulls(rows, f.type) for f in schema], schema=schema)
