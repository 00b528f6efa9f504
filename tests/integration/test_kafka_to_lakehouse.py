"""The whole chain on real components: loopback SSE -> ingest -> Kafka -> embedded bronze/silver/gold.

Also: the embedded engine reading the same recording over SSE gives the same tables as from the file.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.embedded_runs import VOLATILE, table_rows, wikiguard
from tests.integration.test_ingest_kafka import (
    EXPECTED,
    LINES,
    RECORDING,
    InProcessIngest,
    allowlist_file,  # noqa: F401  (fixtures)
    meta_ids,
    settings_for,
    topic,  # noqa: F401
    wait_until,
)
from tests.support.sse_server import Faults, LoopbackSseServer

# Where a row came from differs by source (file line vs SSE sequence vs Kafka offset), not what it says.
POSITIONAL = VOLATILE | {"kafka_topic", "kafka_partition", "kafka_offset", "sse_event_id", "source_topic",
                         "source_partition", "source_offset"}
TABLES = ("silver_events", "gold_entity_metrics_10min", "gold_user_metrics_10min", "gold_global_metrics_10min",
          "silver_quarantine", "gold_quarantine")


def _run(source: str, warehouse: Path, allowlist: Path, *extra: str, env: dict[str, str] | None = None) -> dict:
    result = wikiguard("run", "--source", source, "--warehouse", str(warehouse), "--allowlist", str(allowlist),
                       "--json", *extra, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout[result.stdout.index("{"):])


def test_sse_dropping_every_100_events_through_kafka_gives_each_meta_id_once_in_silver(
    kafka_broker: str, topic: str, tmp_path: Path, allowlist_file: Path  # noqa: F811
):
    with LoopbackSseServer(LINES, faults=Faults(drop_every=100)) as server:
        settings = settings_for(server, kafka_broker, topic, tmp_path, allowlist_file)
        with InProcessIngest(settings):
            wait_until(lambda: set(meta_ids(kafka_broker, topic)) >= EXPECTED, 90, "every allowlisted event")
    in_kafka = meta_ids(kafka_broker, topic)
    env = {"WIKIGUARD_KAFKA_BOOTSTRAP": kafka_broker, "WIKIGUARD_KAFKA_TOPIC": topic}
    summary = _run("kafka", tmp_path / "wh", allowlist_file, env=env)
    assert summary["read"] == sum(in_kafka.values()) and summary["balanced"]
    silver = [r["meta_id"] for r in table_rows(tmp_path / "wh", "silver_events")]
    assert len(silver) == len(set(silver)), "silver holds each meta_id once"
    assert set(silver) == EXPECTED
    assert summary["duplicates"] == sum(in_kafka.values()) - len(EXPECTED)
    # Kafka positions were committed with bronze: a second run reads nothing new.
    again = _run("kafka", tmp_path / "wh", allowlist_file, env=env)
    assert again["read"] == 0


def test_source_url_gives_the_same_tables_as_source_file(tmp_path: Path, allowlist_file: Path):  # noqa: F811
    from_file = _run(str(RECORDING), tmp_path / "file", allowlist_file)
    # Offset ids resume exactly, so the bounded run reads each event once, like the file.
    with LoopbackSseServer(LINES, id_mode="offset", faults=Faults(drop_every=500)) as server:
        from_sse = _run(server.url, tmp_path / "sse", allowlist_file, "--max-events", str(len(LINES)))
    assert from_sse["read"] == from_file["read"] == len(LINES)
    for table in TABLES:
        assert table_rows(tmp_path / "sse", table, POSITIONAL) == table_rows(tmp_path / "file", table, POSITIONAL), table
    bronze_ids = {r["meta_id"] for r in table_rows(tmp_path / "sse", "bronze_events")}
    assert bronze_ids == EXPECTED
