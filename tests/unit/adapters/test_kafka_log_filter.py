"""librdkafka's reconnect lines: the first of each kind passes, repeats are counted and said later."""

from __future__ import annotations

import logging

from wikiguard.adapters.kafka.config import RepeatedLogFilter, client_config


def record(message: str, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("wikiguard.librdkafka", level, __file__, 1, "%s", (message,), None)


def test_repeats_within_the_window_are_held_back_and_counted_on_the_next_line() -> None:
    now = [0.0]
    keep = RepeatedLogFilter(window=30.0, clock=lambda: now[0])
    refused = "FAIL [rdkafka#consumer-1] Connect to ipv4#127.0.0.1:{} failed: Connection refused (after {}ms)"

    passed = []
    for second in range(60):
        now[0] = float(second)
        line = record(refused.format(1, second))
        if keep.filter(line):
            passed.append(line.getMessage())

    assert len(passed) == 2
    assert passed[1].endswith("(29 more like it in the last 30 s)")
    assert keep.filter(record("another kind of line"))
    assert keep.filter(record(refused.format(1, 5), level=logging.WARNING))  # another level: another kind


def test_every_client_config_logs_through_one_filtered_logger() -> None:
    first = client_config("127.0.0.1:9092")["logger"]
    second = client_config("127.0.0.1:9092")["logger"]
    assert first is second
    assert sum(isinstance(f, RepeatedLogFilter) for f in first.filters) == 1
