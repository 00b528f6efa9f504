"""A spool in memory, for tests."""

from __future__ import annotations

from collections.abc import Collection

from wikiguard.application.ports import Spool, SpooledRecord


class InMemorySpool(Spool):
    """Keeps spooled records in insertion order; `added` counts every record ever stored."""

    def __init__(self) -> None:
        self._records: dict[str, SpooledRecord] = {}
        self.added = 0

    def add(self, record: SpooledRecord) -> None:
        self._records[record.spool_id] = record
        self.added += 1

    def pending(self) -> list[SpooledRecord]:
        return list(self._records.values())

    def remove(self, spool_ids: Collection[str]) -> None:
        for spool_id in spool_ids:
            self._records.pop(spool_id, None)
