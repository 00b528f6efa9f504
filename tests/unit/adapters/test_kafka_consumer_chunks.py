"""`KafkaChangeSource` without a broker: what one `consume()` call's messages become (the broker
contract is in tests/contract/test_change_source_contract.py)."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError

from wikiguard.adapters.kafka import consumer_source
from wikiguard.adapters.kafka.consumer_source import KafkaAdapterError, KafkaChangeSource


class Message:
    def __init__(self, offset: int, error: KafkaError | None = None) -> None:
        self._offset, self._error = offset, error

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def error(self) -> KafkaError | None:
        return self._error

    def value(self) -> bytes:
        return b'{"x": 1}'

    def key(self) -> None:
        return None

    def topic(self) -> str:
        return "t"

    def headers(self) -> list[tuple[str, bytes]]:
        return []

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_700_000_000_000)


class Consumer:
    """One consume() call: two good records, then a transport error."""

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        return [Message(0), Message(1), Message(2, KafkaError(KafkaError._TRANSPORT))]

    def close(self) -> None:
        pass


@pytest.fixture
def source(monkeypatch: pytest.MonkeyPatch) -> KafkaChangeSource:
    monkeypatch.setattr(consumer_source, "_consumer", lambda config, group: Consumer())
    reader = KafkaChangeSource({}, "t", follow=True)
    monkeypatch.setattr(reader, "_assign", lambda consumer, resume: {})
    return reader


def test_the_records_before_an_error_are_given_then_the_error(source: KafkaChangeSource) -> None:
    got: list[Any] = []
    with pytest.raises(KafkaAdapterError, match="cannot read t"):
        for chunk in source.chunks({}):
            got.extend(record.position for record in chunk.records())

    assert got == [0, 1]


def test_records_gives_them_one_by_one_before_the_error(source: KafkaChangeSource) -> None:
    got: list[int] = []
    with pytest.raises(KafkaAdapterError):
        for record in source.records({}):
            got.append(record.position)

    assert got == [0, 1]
