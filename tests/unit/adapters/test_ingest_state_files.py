"""The ingest state files: the resume id and the spool survive a restart and are replaced whole."""

from __future__ import annotations

from pathlib import Path

from wikiguard.adapters.files.resume_store import FileResumeStore
from wikiguard.adapters.files.spool import FileSpool
from wikiguard.application.ports import SpooledRecord

EVENT_ID = '[{"topic":"eqiad.mediawiki.recentchange","partition":0,"timestamp":1724299470001}]'


def test_the_resume_id_round_trips_and_replaces_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "state" / "resume"
    assert FileResumeStore(path).load() is None
    FileResumeStore(path).save("old")
    FileResumeStore(path).save(EVENT_ID)
    assert FileResumeStore(path).load() == EVENT_ID
    assert sorted(p.name for p in path.parent.iterdir()) == ["resume"]  # no temporary file left behind


def test_the_spool_keeps_records_across_instances_until_removed(tmp_path: Path) -> None:
    path = tmp_path / "spool.jsonl"
    first = SpooledRecord("a", "enwiki:Earth", '{"x": "é"}', (("sse_event_id", EVENT_ID),), "timed out")
    second = SpooledRecord("b", "", "{bad", (), "timed out", 3, "invalid_json")
    FileSpool(path).add(first)
    FileSpool(path).add(second)
    assert FileSpool(path).pending() == [first, second]
    FileSpool(path).remove(["a"])
    assert FileSpool(path).pending() == [second]
    FileSpool(path).remove(["b"])
    assert FileSpool(path).pending() == [] and not path.exists()


def test_a_line_torn_by_a_crash_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "spool.jsonl"
    record = SpooledRecord("a", "k", "p", (), "e")
    FileSpool(path).add(record)
    with path.open("ab") as handle:
        handle.write(b'{"spool_id": "b", "key"')
    assert FileSpool(path).pending() == [record]
