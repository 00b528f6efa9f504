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
# The tally's fields that are sums over the events (see `_tally`).
_SUMS = ("edits", "new_pages", "categorize", "logs", "reverts", "anonymous", "bots", "bytes_sum", "large",
         "commented", "lag_us")  # fmt: skip
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
    for row in _grouped(data, ["window", "entity"], [*_MEASURES, ("wiki", "min")]):
        entities[row["window"]].append((row["entity"], row["wiki_min"], _tally(row)))
        events[row["window"]] += row["window_count"]
    user_measures = [("is_bot", "max"), ("user_type", "min"), ("is_anonymous", "min"), ("is_temporary", "min")]
    for row in _grouped(data, ["window", "user"], [*_MEASURES, *user_measures]):
        bot = row["is_bot_max"]
        # A bot's events say "Bot"; the user's others all say the one kind its name has.
        user_type = "Bot" if bot else row["user_type_min"]
        users[row["window"]].append(
            UserTally(row["user"], user_type, bot, row["is_anonymous_min"], row["is_temporary_min"], _tally(row))
        )
    for row in _grouped(data, ["window", "entity", "user", "wiki", "is_anonymous"], []):
        editing[row["window"]].append(Editing(row["entity"], row["user"], row["wiki"], row["is_anonymous"]))
    return [
        WindowShare(_EPOCH + timedelta(microseconds=start), entities[start], users[start], editing[start], events[start])
        for start in sorted(events)
    ]


def _grouped(data: pa.Table, keys: list[str], measures: list[tuple[str, str]]) -> list[dict[str, Any]]:
    grouped = data.group_by(keys, use_threads=False).aggregate(measures)
    names = grouped.column_names
    columns = [column_values(grouped.column(name)) for name in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _tally(row: dict[str, Any]) -> Tally:
    return Tally(
        total=row["window_count"], edits=row["edits_sum"], new_pages=row["new_pages_sum"],
        categorize=row["categorize_sum"], logs=row["logs_sum"], reverts=row["reverts_sum"],
        anonymous=row["anonymous_sum"], bots=row["bots_sum"], bytes_sum=row["bytes_sum_sum"],
        bytes_min=row["bytes_sum_min"], bytes_max=row["bytes_sum_max"], large=row["large_sum"],
        commented=row["commented_sum"], lag_us=row["lag_us_sum"], lag_max=row["lag_max"],
        first=_EPOCH + timedelta(microseconds=row["moment_min"]),
        last=_EPOCH + timedelta(microseconds=row["moment_max"]),
    )  # fmt: skip
