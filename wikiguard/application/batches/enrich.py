"""Silver's enrichment of a whole batch of changes: `wikiguard.domain.enrichment.enrich` on Arrow columns.

`enrich` stays the specification: row i of `enrich_batch` is `attrs.asdict(enrich(change_i, ...))`, and
a property test holds the two to that. Where the semantics are subtle the batch path reuses the domain
instead of re-stating it: users are classified by the domain's own functions once per distinct name,
revert summaries by `is_revert` on the few comments a necessary-condition prefilter lets through, and
`has_comment` falls back to `str.strip` wherever the vectorised test cannot decide.
"""

from __future__ import annotations

import re
import typing

import attrs
import pyarrow as pa
import pyarrow.compute as pc

from wikiguard.application.batches.frames import ARROW_TYPES, CHANGE_SCHEMA, TIMESTAMP, plain
from wikiguard.application.tables import SILVER_EVENTS
from wikiguard.domain.enrichment import (
    DEFAULT_LARGE_EDIT_BYTES,
    REVERT_PATTERNS,
    REVERT_SUMMARY,
    SilverEvent,
    is_anonymous,
    is_revert,
    is_temporary_account,
    user_type,
)

_SILVER_TYPES = {column.name: column.type for column in SILVER_EVENTS.columns}
# What it returns: the fields of `SilverEvent`, in its order, with the silver table's column types.
SILVER_EVENT_SCHEMA = pa.schema(
    [(field.name, ARROW_TYPES[_SILVER_TYPES[field.name]]) for field in attrs.fields(SilverEvent)]
)

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_EXACT_FLOAT = 2**53  # integers up to this magnitude convert to float64 exactly
_MICROS = 10**6


def _revert_prefilter() -> str | None:
    """An RE2 pattern that every comment `is_revert` accepts matches; None when it cannot be derived.

    `REVERT_SUMMARY` is `^\\s*(/\\*.*?\\*/\\s*)?(alt|alt|...)`, case-insensitive. So a revert summary is: chars
    that are Python whitespace (none of them printable ASCII), an optional `/* ... */` without a
    newline, more whitespace, then the first letter of an alternative, or a char that `re.IGNORECASE`
    equates with it (an ASCII one, listed here, or any non-ASCII char). The letters are read from the
    patterns; if the regex is no longer of that shape, every comment goes to `is_revert`.
    """
    wrapper = r"^\s*(/\*.*?\*/\s*)?(" + "|".join(REVERT_PATTERNS) + ")"
    if REVERT_SUMMARY.pattern != wrapper or REVERT_SUMMARY.flags != re.IGNORECASE | re.UNICODE:
        return None
    firsts = set()
    for pattern in REVERT_PATTERNS:
        # A leading letter that no quantifier makes optional, and no top-level alternation.
        if not pattern[:1].isalpha() or pattern[1:2] in ("?", "*", "+", "{") or "|" in pattern:
            return None
        firsts.add(pattern[0])
    ascii_starts = sorted(
        chr(code) for code in range(128)
        if any(re.fullmatch(re.escape(first), chr(code), re.IGNORECASE) for first in firsts)
    )  # fmt: skip
    letters = "".join(f"\\x{{{ord(c):x}}}" for c in ascii_starts)
    return rf"^[^!-~]*(?:/\*[^\n]*\*/[^!-~]*)?(?:[{letters}]|[^\x00-\x7f])"


REVERT_PREFILTER = _revert_prefilter()


def enrich_batch(
    changes: pa.Table,
    *,
    canonical_entity: pa.Array,
    ingested_at: pa.Array,
    kafka_topic: pa.Array,
    kafka_partition: pa.Array,
    kafka_offset: pa.Array,
    large_edit_bytes: int = DEFAULT_LARGE_EDIT_BYTES,
) -> pa.Table:
    """Silver's columns for a table of changes (`CHANGE_SCHEMA`), in `SILVER_EVENT_SCHEMA`.

    The keyword arrays hold one value per change, as `enrich`'s keywords do for one change.
    """
    n = changes.num_rows
    extra = {"canonical_entity": canonical_entity, "ingested_at": ingested_at, "kafka_topic": kafka_topic,
             "kafka_partition": kafka_partition, "kafka_offset": kafka_offset}  # fmt: skip
    for name, array in extra.items():
        if len(array) != n:
            raise ValueError(f"{name} has {len(array)} values for {n} changes")

    def column(name: str) -> pa.ChunkedArray:
        return changes.column(name).cast(CHANGE_SCHEMA.field(name).type)

    users, is_bot, comment = column("user_name"), column("is_bot"), column("comment")
    length_old, length_new = column("length_old"), column("length_new")
    event_time = column("event_timestamp")
    ingested = ingested_at.cast(TIMESTAMP)
    kinds, anonymous, temporary = _classify_users(users)
    delta = pc.if_else(
        pc.is_null(length_new), 0, pc.subtract_checked(length_new, pc.coalesce(length_old, 0))
    )  # as bytes_changed(length_old, length_new)
    values = {
        "meta_id": column("meta_id"),
        "canonical_entity": canonical_entity,
        "wiki": column("wiki"),
        "title": column("title"),
        "event_type": column("type"),
        "namespace": column("namespace"),
        "wikimedia_id": column("rc_id"),
        "user_name": users,
        "user_type": pc.if_else(is_bot, "Bot", kinds),
        "is_bot": is_bot,
        "is_anonymous": anonymous,
        "is_temporary_account": temporary,
        "is_minor": column("minor"),
        "comment": comment,
        "has_comment": _has_text(comment),
        "length_old": length_old,
        "length_new": length_new,
        "revision_old": column("revision_old"),
        "revision_new": column("revision_new"),
        "bytes_changed": delta,
        # abs(delta) >= large: written without abs, which overflows on the smallest int64
        "is_large_edit": pc.or_(_at_least(delta, large_edit_bytes), _at_most(delta, -large_edit_bytes)),
        "is_revert": _reverts(comment),
        "log_type": column("log_type"),
        "event_timestamp": event_time,
        "ingestion_timestamp": ingested,
        "processing_lag_seconds": _seconds_between(event_time, ingested),
        "event_date": event_time.cast(pa.date32()),  # the UTC date: the column's zone is UTC
        "event_hour": pc.hour(event_time),
        "kafka_topic": kafka_topic,
        "kafka_partition": kafka_partition,
        "kafka_offset": kafka_offset,
    }
    arrays = [values[field.name].cast(field.type) for field in SILVER_EVENT_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=SILVER_EVENT_SCHEMA)


def _classify_users(users: pa.ChunkedArray) -> tuple[pa.Array, pa.Array, pa.Array]:
    """The account kind, is_anonymous and is_temporary_account of each user, by the domain's functions
    called once per distinct name (a batch has a few hundred) and mapped back to the rows."""
    distinct = pc.unique(users)
    names: list[str] = distinct.to_pylist()
    positions = pc.index_in(users, value_set=distinct)
    kinds = pa.array([user_type(name, False) for name in names], pa.string())
    anonymous = pa.array([is_anonymous(name) for name in names], pa.bool_())
    temporary = pa.array([is_temporary_account(name) for name in names], pa.bool_())
    return kinds.take(positions), anonymous.take(positions), temporary.take(positions)


def _has_text(comment: pa.ChunkedArray) -> pa.Array:
    """`bool(comment.strip())` per row: a printable ASCII char (never whitespace) decides most rows,
    an empty comment the rest but a few, and Python's `str.strip` decides those few."""
    visible = pc.match_substring_regex(comment, "[!-~]")
    undecided = pc.and_(pc.invert(visible), pc.greater(pc.binary_length(comment), 0))
    return _decide_in_python(visible, undecided, comment, lambda text: bool(text.strip()))


def _reverts(comment: pa.ChunkedArray) -> pa.Array:
    """`is_revert` per row, called only where the prefilter (a necessary condition) holds."""
    if REVERT_PREFILTER is None:
        candidates = pc.greater(pc.binary_length(comment), 0)  # is_revert("") is False
    else:
        candidates = pc.match_substring_regex(comment, REVERT_PREFILTER)
    return _decide_in_python(candidates, candidates, comment, is_revert)


def _decide_in_python(
    base: pa.Array, undecided: pa.Array, values: pa.ChunkedArray, decide: typing.Callable[[str], bool]
) -> pa.Array:
    """`base`, with the rows where `undecided` holds replaced by `decide(value)`."""
    undecided = plain(undecided)
    texts: list[str] = values.filter(undecided).to_pylist()
    decided = pa.array([decide(text) for text in texts], pa.bool_())
    return pc.replace_with_mask(plain(base), undecided, decided)


def _seconds_between(start: pa.ChunkedArray, end: pa.Array) -> pa.Array:
    """`(end - start).total_seconds()`: integer microseconds / 10**6, which Python divides correctly
    rounded, as IEEE division of two doubles is whenever the microseconds are exact as a double."""
    micros = plain(pc.subtract_checked(end, start).cast(pa.int64()))
    seconds = pc.divide(micros.cast(pa.float64(), safe=False), float(_MICROS))  # inexact ones replaced below
    inexact = pc.or_(_at_least(micros, _EXACT_FLOAT + 1), _at_most(micros, -_EXACT_FLOAT - 1))
    if not pc.any(inexact).as_py():
        return seconds
    # Over 285 years apart: Python's own division of the integers.
    exact = pa.array([m / _MICROS for m in micros.filter(inexact).to_pylist()], pa.float64())
    return pc.replace_with_mask(plain(seconds), plain(inexact), exact)


def _at_least(values: pa.Array, bound: int) -> pa.Array:
    """`values >= bound` for int64 values and any Python int (no overflow, no wrap-around)."""
    if bound <= _INT64_MIN:
        return pc.is_valid(values)
    if bound > _INT64_MAX:
        return pa.repeat(False, len(values))
    return pc.greater_equal(values, pa.scalar(bound, pa.int64()))


def _at_most(values: pa.Array, bound: int) -> pa.Array:
    """`values <= bound` for int64 values and any Python int."""
    if bound >= _INT64_MAX:
        return pc.is_valid(values)
    if bound < _INT64_MIN:
        return pa.repeat(False, len(values))
    return pc.less_equal(values, pa.scalar(bound, pa.int64()))
