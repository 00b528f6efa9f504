"""The ingest process's pieces that need no broker: allowlist hot reload, the health check, JSON logs."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import pytest

from wikiguard.entrypoints.ingest import health
from wikiguard.entrypoints.ingest_container import HEARTBEAT_FILE, ReloadingAllowlist
from wikiguard.entrypoints.logs import JsonFormatter


class Tick:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def write(path: Path, text: str, mtime_ns: int) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_the_allowlist_is_reloaded_when_the_file_changes_and_a_broken_edit_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "allowlist.yaml"
    write(path, "entities:\n  - {title: Earth, wiki: enwiki}\n", 1_000_000_000)
    tick = Tick()
    allowlist = ReloadingAllowlist(path, monotonic=tick)
    assert allowlist().match("enwiki", "Earth") == "enwiki:Earth"

    write(path, "entities:\n  - {title: Mars, wiki: enwiki}\n", 2_000_000_000)
    assert allowlist().match("enwiki", "Mars") is None  # looked at no more than once a second
    tick.t = 1.5
    assert allowlist().match("enwiki", "Mars") == "enwiki:Mars"
    assert allowlist().match("enwiki", "Earth") is None and allowlist.reloads == 1

    write(path, "entities:\n  - {title: Venus, wik: enwiki}\n", 3_000_000_000)
    tick.t = 3.0
    assert allowlist().match("enwiki", "Mars") == "enwiki:Mars"  # the typo does not stop ingest
    assert allowlist.reloads == 1


def heartbeat(state: Path, *, written_ago: float, event_ago: float | None) -> None:
    now = time.time()
    state.mkdir(parents=True, exist_ok=True)
    (state / HEARTBEAT_FILE).write_text(
        json.dumps(
            {
                "written_at": now - written_ago,
                "started_at": now - 1000,
                "last_event_at": None if event_ago is None else now - event_ago,
                "counters": {"read": 5},
            }
        )
    )


@pytest.mark.parametrize(
    ("written_ago", "event_ago", "expected"),
    [(1, 2, 0), (300, 2, 1), (1, 300, 1), (1, None, 1)],
    ids=["fresh", "process-gone", "stream-silent", "never-an-event"],
)
def test_health_reads_the_heartbeat(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    written_ago: float,
    event_ago: float | None,
    expected: int,
) -> None:
    monkeypatch.setenv("WIKIGUARD_STATE_DIR", str(tmp_path))
    heartbeat(tmp_path, written_ago=written_ago, event_ago=event_ago)
    assert health(120.0) == expected


def test_health_fails_without_a_heartbeat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIKIGUARD_STATE_DIR", str(tmp_path))
    assert health(120.0) == 1


def test_log_lines_are_json_with_the_extra_fields() -> None:
    record = logging.LogRecord("wikiguard.ingest", logging.INFO, __file__, 1, "progress %d", (3,), None)
    record.counters = {"read": 3}
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "progress 3" and line["counters"] == {"read": 3} and line["level"] == "INFO"
