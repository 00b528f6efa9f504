"""A batch of silver rows as per-window tallies: `wikiguard.domain.metrics.tally` on Arrow columns.

What counting the rows one by one adds to the gold windows, summed by `group_by` per window and
entity and per window and user, with the distinct (entity, user) pairs the unique-editor sets need.
Adding these with `OpenWindows.add_tallies` gives the rows adding the events one by one gives (a
property test holds the two together).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pyarrow as pa
import pyarrow.compute as pc

from wikiguard.application.batches.frames import column_values
from wikiguard.domain.metrics import Editing, Tally, UserTally

_I64 = pa.int64()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The tally's fields that are sums over the events (see `_tallies`).
_SUMS = ("edits", "new_pages", "categorize", "logs", "reverts", "anonymous", "bots", "bytes_sum", "large",
         "commented", "lag_us")  # fmt: skip
# Where each of `Tally`'s counts is in the groups `_MEASURES` makes (`first` and `last` are times).
_TALLY_COLUMNS = {
    "total": "window_count", **{name: f"{name}_sum" for name in _SUMS if name != "bytes_sum"},
    "bytes_sum": "bytes_sum_sum", "bytes_min": "bytes_sum_min", "bytes_max": "bytes_sum_max", "lag_max": "lag_max",
}  # fmt: skip
_MEASURES = [(name, "sum") for name in _SUMS] + [
    ("bytes_sum", "min"), ("bytes_sum", "max"), ("lag", "max"), ("moment", "min"), ("moment", "max"),
    ("window", "count"),
]  # fmt: skip


@attrs.frozen
class WindowShare:
    """A batch's share of one window."""

    start: datetime
    entities: list[tuple[str, str, Tally]]  # (entity, wiki, tally)
    users: list[UserTally]
    editing: list[Editing]
    events: int


def window_shares(rows: pa.Table, size: timedelta) -> list[WindowShare]:
    """The tallies of silver rows (the silver table's columns), window by window, oldest first."""
    if not rows.num_rows:
        return []
    step = size // timedelta(microseconds=1)
    moment = rows.column("event_timestamp").cast(_I64)  # event times are after 2001: positive
    kind = rows.column("event_type")
    edit = pc.equal(kind, "edit")
    lag = rows.column("processing_lag_seconds")
    data = pa.table({
        "window": pc.multiply(pc.divide(moment, step), step),
        "entity": rows.column("canonical_entity"), "wiki": rows.column("wiki"), "user": rows.column("user_name"),
        "user_type": rows.column("user_type"), "is_bot": rows.column("is_bot"),
        "is_anonymous": rows.column("is_anonymous"), "is_temporary": rows.column("is_temporary_account"),
        "edits": edit.cast(_I64), "new_pages": pc.equal(kind, "new").cast(_I64),
        "categorize": pc.equal(kind, "categorize").cast(_I64), "logs": pc.equal(kind, "log").cast(_I64),
        "reverts": pc.and_(edit, rows.column("is_revert")).cast(_I64),
        "anonymous": rows.column("is_anonymous").cast(_I64), "bots": rows.column("is_bot").cast(_I64),
        "bytes_sum": rows.column("bytes_changed"), "large": rows.column("is_large_edit").cast(_I64),
        "commented": rows.column("has_comment").cast(_I64),
        # round(lag * 1e6) per event, as `count` adds it: the same product, rounded half to even.
        "lag_us": pc.round(pc.multiply(lag, 1_000_000.0), round_mode="half_to_even").cast(_I64),
        "lag": lag, "moment": moment,
    })  # fmt: skip
    entities: dict[int, list[tuple[str, str, Tally]]] = defaultdict(list)
    users: dict[int, list[UserTally]] = defaultdict(list)
    editing: dict[int, list[Editing]] = defaultdict(list)
    events: dict[int, int] = defaultdict(int)
    by_entity = _grouped(data, ["window", "entity"], [*_MEASURES, ("wiki", "min")])
    for window, entity, wiki, count, tally in zip(
        by_entity["window"], by_entity["entity"], by_entity["wiki_min"], by_entity["window_count"],
        _tallies(by_entity), strict=True,
    ):  # fmt: skip
        entities[window].append((entity, wiki, tally))
        events[window] += count
    user_measures = [("is_bot", "max"), ("user_type", "min"), ("is_anonymous", "min"), ("is_temporary", "min")]
    by_user = _grouped(data, ["window", "user"], [*_MEASURES, *user_measures])
    for window, user, bot, user_type, anonymous, temporary, tally in zip(
        by_user["window"], by_user["user"], by_user["is_bot_max"], by_user["user_type_min"],
        by_user["is_anonymous_min"], by_user["is_temporary_min"], _tallies(by_user), strict=True,
    ):  # fmt: skip
        # A bot's events say "Bot"; the user's others all say the one kind its name has.
        users[window].append(UserTally(user, "Bot" if bot else user_type, bot, anonymous, temporary, tally))
    pairs = _grouped(data, ["window", "entity", "user", "wiki", "is_anonymous"], [])
    for window, entity, user, wiki, anonymous in zip(
        pairs["window"], pairs["entity"], pairs["user"], pairs["wiki"], pairs["is_anonymous"], strict=True
    ):
        editing[window].append(Editing(entity, user, wiki, anonymous))
    return [
        WindowShare(_EPOCH + timedelta(microseconds=start), entities[start], users[start], editing[start], events[start])
        for start in sorted(events)
    ]


def _grouped(data: pa.Table, keys: list[str], measures: list[tuple[str, str]]) -> dict[str, list[Any]]:
    """The groups' keys and measures, a list of values per column (named as `aggregate` names them)."""
    grouped = data.group_by(keys, use_threads=False).aggregate(measures)
    return {name: column_values(grouped.column(name)) for name in grouped.column_names}


def _tallies(groups: dict[str, list[Any]]) -> list[Tally]:
    """Each group's `Tally`, from the `_MEASURES` columns."""
    counted = [groups[_TALLY_COLUMNS[name]] for name in Tally._fields if name in _TALLY_COLUMNS]
    first = [_EPOCH + timedelta(microseconds=moment) for moment in groups["moment_min"]]
    last = [_EPOCH + timedelta(microseconds=moment) for moment in groups["moment_max"]]
    return list(map(Tally, *counted, first, last))
