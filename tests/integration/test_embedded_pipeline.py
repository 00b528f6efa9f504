"""`wikiguard run` end to end on the real recordings, checked against counts computed here independently."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import RECORDINGS
from tests.integration.embedded_runs import (
    open_store,
    snapshot_of,
    table_rows,
    top_titles,
    wikiguard,
    write_allowlist,
)

RAW = RECORDINGS / "yearfunla_wikiMedia_stream_monitor__recentchange_raw.jsonl"
BRONZE_SAMPLE = RECORDINGS / "digital-sentinel__bronze_event_data.jsonl"
SILVER_SAMPLE = RECORDINGS / "digital-sentinel__silver_event_data.jsonl"
RESUMED = RECORDINGS / "yearfunla_wikiMedia_stream_monitor__recentchange.jsonl"


def expected(path: Path, pairs: list[tuple[str, str]]) -> dict[str, object]:
    """What the tables must hold, computed from the file with plain json and exact (wiki, title) matching."""
    watched = set(pairs)
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    kept = [e for e in lines if (e["wiki"], e["title"]) in watched and e["meta"].get("domain") != "canary"]
    first: dict[str, dict] = {}
    for event in kept:
        first.setdefault(event["meta"]["id"], event)
    return {
        "read": len(lines),
        "bronze": len(kept),
        "silver_ids": set(first),
        "anonymous": {i for i, e in first.items() if e.get("user", "").startswith("~") or _is_ip(e.get("user", ""))},
        "per_entity": {},
    }


def _is_ip(user: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(user)
    except ValueError:
        return False
    return True


# The digital-sentinel files are table dumps, not stream order: days apart. Tests that count every
# event give them a lateness that closes nothing early; lateness itself is tested on its own below.
NOTHING_LATE = {"WIKIGUARD_ALLOWED_LATENESS_SECONDS": str(30 * 24 * 3600)}


def run_on(path: Path, warehouse: Path, allowlist: Path, *extra: str, env: dict[str, str] | None = None) -> dict:
    result = wikiguard(
        "run", "--source", str(path), "--warehouse", str(warehouse), "--allowlist", str(allowlist), "--json", *extra,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout[result.stdout.index("{"):])


@pytest.mark.parametrize("recording", [RAW, BRONZE_SAMPLE, SILVER_SAMPLE, RESUMED], ids=lambda p: p.name[:40])
def test_tables_match_independent_counts(recording: Path, tmp_path: Path):
    pairs = top_titles(recording, 40)
    allowlist = write_allowlist(tmp_path / "allowlist.yaml", pairs)
    want = expected(recording, pairs)
    summary = run_on(recording, tmp_path / "wh", allowlist, env=NOTHING_LATE)

    assert summary["read"] == want["read"]
    assert summary["balanced"]
    assert summary["bronze_rows"] == want["bronze"]
    assert summary["bronze_quarantined"] == 0 and summary["canaries"] == 0
    silver = table_rows(tmp_path / "wh", "silver_events")
    ids = [r["meta_id"] for r in silver]
    assert len(ids) == len(set(ids)), "silver holds each meta_id once"
    assert set(ids) == want["silver_ids"]
    assert summary["duplicates"] == want["bronze"] - len(want["silver_ids"])
    assert {r["meta_id"] for r in silver if r["is_anonymous"]} == want["anonymous"]
    assert len(table_rows(tmp_path / "wh", "bronze_events")) == want["bronze"]
    # Gold: every silver event lands in exactly one entity window; the global rows count them all.
    entity = table_rows(tmp_path / "wh", "gold_entity_metrics_10min")
    platform = table_rows(tmp_path / "wh", "gold_global_metrics_10min")
    assert sum(r["total_events"] for r in entity) == len(silver)
    assert sum(r["total_events"] for r in platform) == len(silver)
    for row in entity:
        in_window = [s for s in silver if s["canonical_entity"] == row["entity"]
                     and row["window_start"] <= s["event_timestamp"] < row["window_end"]]
        assert row["total_events"] == len(in_window)
        assert row["revert_count"] == sum(s["is_revert"] for s in in_window)
        assert row["unique_editors"] == len({s["user_name"] for s in in_window})
        assert row["anomaly_types"] is None or row["anomaly_types"].strip()
    quality = table_rows(tmp_path / "wh", "quality_metrics")
    assert {q["layer"] for q in quality} == {"bronze", "silver", "gold"}


def test_late_events_are_quarantined_not_dropped(tmp_path: Path):
    pairs = top_titles(SILVER_SAMPLE, 40)
    allowlist = write_allowlist(tmp_path / "allowlist.yaml", pairs)
    want = expected(SILVER_SAMPLE, pairs)
    summary = run_on(SILVER_SAMPLE, tmp_path / "wh", allowlist)
    late = table_rows(tmp_path / "wh", "silver_quarantine")
    silver = table_rows(tmp_path / "wh", "silver_events")
    assert late and all(q["reasons"] == ["late"] for q in late)
    assert summary["quarantine_reasons"] == {"late": len(late)}
    assert {q["meta_id"] for q in late} | {s["meta_id"] for s in silver} == want["silver_ids"]
    assert not {q["meta_id"] for q in late} & {s["meta_id"] for s in silver}
    entity = table_rows(tmp_path / "wh", "gold_entity_metrics_10min")
    assert sum(r["total_events"] for r in entity) == len(silver)


def test_temporary_accounts_are_anonymous(tmp_path: Path):
    pairs = top_titles(SILVER_SAMPLE, 200)
    allowlist = write_allowlist(tmp_path / "allowlist.yaml", pairs)
    run_on(SILVER_SAMPLE, tmp_path / "wh", allowlist, env=NOTHING_LATE)
    silver = table_rows(tmp_path / "wh", "silver_events")
    temporary = [r for r in silver if r["user_name"].startswith(("~2025-", "~2026-"))]
    assert len({r["user_name"] for r in temporary}) == 8  # six ~2026- and two ~2025- accounts in the file
    assert all(r["is_anonymous"] and r["is_temporary_account"] and r["user_type"] == "Temporary" for r in temporary)


def test_a_second_run_over_the_same_input_adds_nothing(tmp_path: Path):
    allowlist = write_allowlist(tmp_path / "allowlist.yaml", top_titles(BRONZE_SAMPLE, 40))
    run_on(BRONZE_SAMPLE, tmp_path / "wh", allowlist)
    before = snapshot_of(tmp_path / "wh")
    again = run_on(BRONZE_SAMPLE, tmp_path / "wh", allowlist)
    assert again["read"] == 0 and again["silver_rows"] == 0
    after = snapshot_of(tmp_path / "wh")
    assert after == before


def test_malformed_lines_are_quarantined_with_reasons(tmp_path: Path):
    lines = BRONZE_SAMPLE.read_text(encoding="utf-8").splitlines()[:20]
    broken = json.loads(lines[0])
    del broken["meta"]["id"]
    bad = ["{not json", json.dumps(broken), json.dumps([1, 2])]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines[:10] + bad + lines[10:]) + "\n", encoding="utf-8")
    allowlist = write_allowlist(tmp_path / "allowlist.yaml", top_titles(BRONZE_SAMPLE, 40))
    summary = run_on(path, tmp_path / "wh", allowlist)
    assert summary["balanced"] and summary["bronze_quarantined"] == 3
    quarantine = table_rows(tmp_path / "wh", "bronze_quarantine")
    assert sorted(tuple(q["reasons"]) for q in quarantine) == [("invalid_json",), ("missing_meta_id",), ("not_an_object",)]
    assert {q["record"] for q in quarantine} == set(bad)


def test_killed_run_resumes_to_the_same_tables(tmp_path: Path):
    allowlist = write_allowlist(tmp_path / "allowlist.yaml", top_titles(RAW, 60))
    run_on(RAW, tmp_path / "whole", allowlist, "--batch-rows", "100")
    reference = snapshot_of(tmp_path / "whole")

    warehouse = tmp_path / "killed"
    args = [sys.executable, "-m", "wikiguard.entrypoints.cli", "run", "--source", str(RAW), "--warehouse",
            str(warehouse), "--allowlist", str(allowlist), "--batch-rows", "100"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if (warehouse / "catalog.db").exists() and _bronze_offset(warehouse) >= 700:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    killed_at = _bronze_offset(warehouse)
    assert 0 < killed_at < 2387, f"the kill should land mid-way, bronze was at line {killed_at}"

    run_on(RAW, warehouse, allowlist, "--batch-rows", "100")
    resumed = snapshot_of(warehouse)
    for table in ("bronze_events", "silver_events", "gold_entity_metrics_10min", "gold_user_metrics_10min",
                  "gold_global_metrics_10min", "bronze_quarantine", "silver_quarantine", "gold_quarantine"):
        assert resumed[table] == reference[table], table


def _bronze_offset(warehouse: Path) -> int:
    try:
        value = open_store(warehouse).checkpoint("bronze_events", "bronze")
    except Exception:  # the catalog may be mid-creation while the run starts
        return 0
    return max(json.loads(value).values(), default=0) if value else 0


def test_sigterm_ends_an_unbounded_run_with_its_windows_closed_and_a_summary(tmp_path: Path):
    args = [sys.executable, "-m", "wikiguard.entrypoints.cli", "run", "--source", "simulate", "--warehouse",
            str(tmp_path / "wh"), "--json", "--batch-rows", "20000"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and _bronze_offset(tmp_path / "wh") < 40_000:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0
    summary = json.loads(out[out.index("{"):])
    assert summary["balanced"] and summary["read"] >= 40_000
    assert summary["silver_rows"] == len(table_rows(tmp_path / "wh", "silver_events"))
    windows = table_rows(tmp_path / "wh", "gold_global_metrics_10min")
    assert sum(w["total_events"] for w in windows) == summary["silver_rows"], "every window was closed"


def test_a_stream_unreachable_for_the_whole_run_exits_non_zero(tmp_path: Path):
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = wikiguard("run", "--source", f"http://127.0.0.1:{port}/v2/stream/recentchange", "--duration", "2",
                       "--warehouse", str(tmp_path / "wh"), timeout=60)  # fmt: skip
    assert result.returncode == 1, result.stderr[-2000:]
    assert "the stream is unreachable" in result.stderr
    assert "nothing was read" in result.stdout


def test_a_recording_with_a_bom_and_a_line_that_is_not_utf8_is_read_to_the_end(tmp_path: Path):
    lines = RAW.read_bytes().splitlines()[:50]
    path = tmp_path / "damaged.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines[:20] + [b'{"title": "caf\xff"}'] + lines[20:]) + b"\n")
    allowlist = write_allowlist(tmp_path / "allowlist.yaml", top_titles(RAW, 10))
    summary = run_on(path, tmp_path / "wh", allowlist)
    assert summary["read"] == 51 and summary["balanced"]
    assert summary["quarantine_reasons"].get("invalid_json") == 1
