"""`checkpoints.beyond` keeps the same rows whether a batch is held as rows or as an Arrow table."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from wikiguard.application import checkpoints
from wikiguard.application.batches.frames import rows_of

topics = st.sampled_from(["embedded", "wikiguard.recentchange"])
positions = st.tuples(topics, st.integers(0, 2), st.integers(0, 40))
dones = st.dictionaries(
    st.builds(checkpoints.partition_key, topics, st.integers(0, 2)), st.integers(-1, 40), max_size=4
)


def table(prefix: str, places: list[tuple[str, int, int]]) -> pa.Table:
    names = [f"{prefix}_topic", f"{prefix}_partition", f"{prefix}_offset"]
    columns: list[Any] = [list(column) for column in zip(*places, strict=True)] if places else [[], [], []]
    return pa.table(
        {names[0]: pa.array(columns[0], pa.string()), names[1]: pa.array(columns[1], pa.int32()),
         names[2]: pa.array(columns[2], pa.int64()), "n": pa.array(range(len(places)), pa.int64())}
    )  # fmt: skip


@given(st.lists(positions, max_size=30), dones, st.sampled_from(["kafka", "source"]))
def test_a_table_keeps_the_rows_a_list_of_rows_keeps(places: list[tuple[str, int, int]], done: dict[str, int],
                                                      prefix: str) -> None:
    data = table(prefix, places)

    kept = checkpoints.beyond(data, done)

    assert isinstance(kept, pa.Table)
    assert rows_of(kept) == checkpoints.beyond(rows_of(data), done)
    assert [checkpoints.locate(row) for row in rows_of(kept)] == [
        place for place in places if checkpoints.is_beyond(done, *place)
    ]


def test_a_table_with_no_row_committed_comes_back_as_it_is() -> None:
    data = table("kafka", [("t", 0, 5), ("t", 1, 2), ("u", 0, 9)])

    assert checkpoints.beyond(data, {"t:0": 4, "t:1": 1, "v:0": 100}) is data  # not a copy of every row
    assert checkpoints.beyond(data, {"t:0": 5}).num_rows == 2


@given(st.lists(positions, max_size=30), st.sampled_from(["kafka", "source"]))
def test_last_positions_are_the_last_of_each_partition(places: list[tuple[str, int, int]], prefix: str) -> None:
    expected: dict[str, int] = {}
    for topic, partition, offset in places:
        key = checkpoints.partition_key(topic, partition)
        expected[key] = max(expected.get(key, -1), offset)

    assert checkpoints.last_positions(table(prefix, places)) == expected
