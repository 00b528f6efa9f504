"""`wikiguard replay` and `wikiguard reprocess` on real recordings against a local Iceberg warehouse.

The yardstick: after a replay and the next `wikiguard run`, every table equals what one uninterrupted
run wrote (volatile columns aside; quality_metrics, the log of every batch's verdict, grows instead),
and a replay or reprocess run a second time changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RECORDINGS
from tests.integration.embedded_runs import open_store, snapshot_of, top_titles, wikiguard, write_allowlist

RAW = RECORDINGS / "yearfunla_wikiMedia_stream_monitor__recentchange_raw.jsonl"  # 2387 lines, 04:02-04:04
SILVER_SAMPLE = RECORDINGS / "digital-sentinel__silver_event_data.jsonl"  # ~30 late with the default lateness
NOTHING_LATE = {"WIKIGUARD_ALLOWED_LATENESS_SECONDS": str(30 * 24 * 3600)}


def cli(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = wikiguard(*args, "--json", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout[result.stdout.index("{") :]))


def run(path: Path, warehouse: Path, allowlist: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    return cli("run", "--source", str(path), "--warehouse", str(warehouse), "--allowlist", str(allowlist),
               "--batch-rows", "200", env=env)  # fmt: skip


def tables(warehouse: Path) -> dict[str, list[dict[str, Any]]]:
    return {name: rows for name, rows in snapshot_of(warehouse).items() if name != "quality_metrics"}


@pytest.fixture(scope="module")
def raw_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[dict[str, Any]]]]:
    """One uninterrupted run over the raw recording: the allowlist and the reference tables."""
    folder = tmp_path_factory.mktemp("reference")
    allowlist = write_allowlist(folder / "allowlist.yaml", top_titles(RAW, 60))
    run(RAW, folder / "wh", allowlist)
    reference = tables(folder / "wh")
    assert len(reference["silver_events"]) > 100 and len(reference["gold_entity_metrics_10min"]) > 20
    return allowlist, reference


@pytest.fixture
def warehouse(tmp_path: Path, raw_run: tuple[Path, Any]) -> Path:
    run(RAW, tmp_path / "wh", raw_run[0])
    return tmp_path / "wh"


@pytest.mark.parametrize("since", ["2024-08-22T04:03:10", "2024-08-22"])
def test_replay_silver_since_then_run_rebuilds_the_same_tables_twice(warehouse: Path, raw_run, since: str):
    allowlist, reference = raw_run
    for _ in range(2):
        before = snapshot_of(warehouse)
        dry = cli("replay", "silver", "--since", since, "--warehouse", str(warehouse), "--dry-run")
        assert dry["changed"] and snapshot_of(warehouse) == before
        done = cli("replay", "silver", "--since", since, "--warehouse", str(warehouse))
        assert (done["deleted"], done["checkpoints"]) == (dry["deleted"], dry["checkpoints"])
        assert done["deleted"]["silver_events"] > 0
        assert not cli("replay", "silver", "--since", since, "--warehouse", str(warehouse))["changed"]
        rerun = run(RAW, warehouse, allowlist)
        assert rerun["read"] == 0 and rerun["silver_rows"] == done["deleted"]["silver_events"]
        assert tables(warehouse) == reference


def test_replay_silver_to_a_snapshot_then_run_rebuilds_the_same_tables(warehouse: Path, raw_run):
    allowlist, reference = raw_run
    listed = wikiguard("replay", "snapshots", "--table", "silver_events", "--warehouse", str(warehouse))
    assert listed.returncode == 0, listed.stderr[-2000:]
    history = [line.split(" ", 2) for line in listed.stdout.splitlines()]
    with_state = [int(sid) for sid, _, cps in history if "silver.watermark" in json.loads(cps)]
    middle = with_state[len(with_state) // 2]

    cli("replay", "silver", "--snapshot", str(middle), "--warehouse", str(warehouse))

    store = open_store(warehouse)
    recorded = next(json.loads(cps) for sid, _, cps in history if int(sid) == middle)
    assert store.checkpoint("silver_events", "silver") == recorded["silver"]
    run(RAW, warehouse, allowlist)
    assert tables(warehouse) == reference


@pytest.mark.parametrize("start", ["--from-offsets=embedded:0=1200", "--earliest"])
def test_replay_bronze_then_run_rereads_the_recording_and_rebuilds_the_same_tables(warehouse: Path, raw_run, start):
    allowlist, reference = raw_run

    done = cli("replay", "bronze", start, "--warehouse", str(warehouse))

    store = open_store(warehouse)
    offsets = [row["kafka_offset"] for row in store.scan("bronze_events")]
    assert (max(offsets) < 1200) if "1200" in start else not offsets
    assert done["deleted"]["bronze_events"] > 0 and done["deleted"]["silver_events"] > 0
    assert not cli("replay", "bronze", start, "--warehouse", str(warehouse))["changed"]
    rerun = run(RAW, warehouse, allowlist)
    assert rerun["read"] == (2387 - 1199 if "1200" in start else 2387)
    assert tables(warehouse) == reference


def test_replay_gold_since_then_run_rebuilds_the_same_tables(warehouse: Path, raw_run):
    allowlist, reference = raw_run

    done = cli("replay", "gold", "--since", "2024-08-22T04:03", "--warehouse", str(warehouse))

    assert done["deleted"]["gold_entity_metrics_10min"] > 0 and "silver_events" not in done["deleted"]
    assert not cli("replay", "gold", "--since", "2024-08-22T04:03", "--warehouse", str(warehouse))["changed"]
    run(RAW, warehouse, allowlist)
    assert tables(warehouse) == reference


def test_reprocess_late_then_run_gives_what_a_run_without_lateness_gives(tmp_path: Path):
    allowlist = write_allowlist(tmp_path / "allowlist.yaml", top_titles(SILVER_SAMPLE, 40))
    run(SILVER_SAMPLE, tmp_path / "lenient", allowlist, env=NOTHING_LATE)
    lenient = tables(tmp_path / "lenient")
    warehouse = tmp_path / "wh"
    first = run(SILVER_SAMPLE, warehouse, allowlist)
    late = first["quarantine_reasons"]["late"]
    assert late >= 20

    dry = cli("reprocess", "--layer", "silver", "--reason", "late", "--warehouse", str(warehouse), "--dry-run")
    done = cli("reprocess", "--layer", "silver", "--reason", "late", "--warehouse", str(warehouse))

    assert (dry["appended"], done["appended"], done["still_quarantined"]) == (late, late, 0)
    assert done["cascade"]["changed"]
    again = cli("reprocess", "--layer", "silver", "--reason", "late", "--warehouse", str(warehouse))
    assert (again["examined"], again["changed"]) == (0, False)
    run(SILVER_SAMPLE, warehouse, allowlist)
    got = tables(warehouse)
    assert got["silver_quarantine"] == []
    for name in ("silver_events", "gold_entity_metrics_10min", "gold_user_metrics_10min", "gold_global_metrics_10min"):
        assert got[name] == lenient[name], name


def test_reprocess_keeps_rows_that_still_fail(tmp_path: Path):
    lines = RAW.read_text(encoding="utf-8").splitlines()[:50]
    path = tmp_path / "broken.jsonl"
    path.write_text("\n".join([*lines[:20], "{not json", *lines[20:]]) + "\n", encoding="utf-8")
    allowlist = write_allowlist(tmp_path / "allowlist.yaml", top_titles(RAW, 60))
    run(path, tmp_path / "wh", allowlist)

    done = cli("reprocess", "--layer", "bronze", "--reason", "invalid_json", "--warehouse", str(tmp_path / "wh"))

    assert (done["examined"], done["still_quarantined"], done["changed"]) == (1, 1, False)
    assert len(tables(tmp_path / "wh")["bronze_quarantine"]) == 1
