"""Undeliverable records spooled to a local JSON Lines file until the event log takes them."""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

import orjson

from wikiguard.adapters.files.resume_store import StateFileError, write_atomically
from wikiguard.application.ports import Spool, SpooledRecord


class FileSpool(Spool):
    """Appends one JSON line per record (fsynced); removal rewrites the file atomically.

    Spooling is rare (the log gave up after its own retries), so simplicity beats speed here.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def add(self, record: SpooledRecord) -> None:
        line = _line(record)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as handle:
                handle.write(line + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise StateFileError(f"cannot append to spool {self.path}: {exc}") from exc

    def pending(self) -> list[SpooledRecord]:
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StateFileError(f"cannot read spool {self.path}: {exc}") from exc
        records = []
        for line in lines:
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # a line torn by a crash mid-append; the record was never acknowledged
            records.append(
                SpooledRecord(
                    spool_id=data["spool_id"],
                    key=data["key"],
                    payload=data["payload"],
                    headers=tuple((str(k), str(v)) for k, v in data["headers"]),
                    error=data["error"],
                    attempts=int(data["attempts"]),
                    dead_letter_reason=data["dead_letter_reason"],
                )
            )
        return records

    def remove(self, spool_ids: Collection[str]) -> None:
        gone = set(spool_ids)
        if not gone:
            return
        keep = [r for r in self.pending() if r.spool_id not in gone]
        if not keep:
            self.path.unlink(missing_ok=True)
            return
        text = b"".join(_line(r) + b"\n" for r in keep)
        write_atomically(self.path, text.decode("utf-8"))


def _line(record: SpooledRecord) -> bytes:
    return orjson.dumps(
        {
            "spool_id": record.spool_id,
            "key": record.key,
            "payload": record.payload,
            "headers": [list(h) for h in record.headers],
            "error": record.error,
            "attempts": record.attempts,
            "dead_letter_reason": record.dead_letter_reason,
        }
    )
