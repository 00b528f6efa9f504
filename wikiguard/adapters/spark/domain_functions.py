"""The embedded engine's batch functions, run by Spark executors through `mapInArrow` (one source of truth).

Bronze: `parse_payloads` + canary + `match_entities` (per record: `decode_payload` + `parse_change` +
`Allowlist.match`), per Arrow batch of Kafka records.
Silver: `parse_payloads` + `enrich_batch` (per row: `parse_change` + `enrich`), per batch of bronze rows.
Each function takes and returns Arrow record batches; columns are plain (no nested rows), so the
Arrow <-> Spark conversion stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs
import pyarrow as pa
import pyarrow.compute as pc

from wikiguard.application.batches.enrich import enrich_batch
from wikiguard.application.batches.frames import marked, plain
from wikiguard.application.batches.parse import match_entities, parse_payloads
from wikiguard.application.tables import SILVER_EVENTS
from wikiguard.domain.allowlist import Allowlist
from wikiguard.domain.enrichment import DEFAULT_LARGE_EDIT_BYTES, SilverEvent

# What bronze makes of a Kafka record.
ACCEPTED, REJECTED, CANARY, FILTERED = "accepted", "rejected", "canary", "filtered"

_TS = pa.timestamp("us", tz="UTC")
PARSED_FIELDS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("outcome", pa.string(), "STRING"),
    ("meta_id", pa.string(), "STRING"),
    ("canonical_entity", pa.string(), "STRING"),
    ("wiki", pa.string(), "STRING"),
    ("event_type", pa.string(), "STRING"),
    ("event_timestamp", _TS, "TIMESTAMP"),
    ("parse_reasons", pa.list_(pa.string()), "ARRAY<STRING>"),
)

_SPARK_OF = {
    "string": "STRING", "int": "INT", "long": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP", "date": "DATE",
}  # fmt: skip
# SilverEvent's fields with the silver table's logical types (its columns minus batch_id).
_SILVER_TYPES = {c.name: c.type for c in SILVER_EVENTS.columns}
SILVER_FIELDS: tuple[tuple[str, str], ...] = tuple(
    (f.name, _SILVER_TYPES[f.name]) for f in attrs.fields(SilverEvent)
)


def ddl(fields: Any) -> str:
    """A Spark DDL schema string for `(name, arrow type, spark type)` triples."""
    return ", ".join(f"`{name}` {spark}" for name, _arrow, spark in fields)


def parsed_schema(passthrough: tuple[tuple[str, pa.DataType, str], ...]) -> str:
    return ddl(passthrough + PARSED_FIELDS)


def silver_schema() -> str:
    return ", ".join(f"`{name}` {_SPARK_OF[kind]}" for name, kind in SILVER_FIELDS)


def bronze_parser(allowlist: Allowlist) -> Callable[[Iterable[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """`mapInArrow` function: Kafka records (`payload` + passthrough columns) -> the parse outcome,
    from the batch functions the embedded engine runs."""

    def parse(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            parsed = parse_payloads(batch.column("payload"))  # a null payload is an empty one
            changes = parsed.changes
            entity = match_entities(allowlist, changes.column("wiki"), changes.column("title"))
            outcome = pc.if_else(parsed.is_canary, CANARY, pc.if_else(pc.is_valid(entity), ACCEPTED, FILTERED))
            meta_id = changes.column("meta_id").to_pylist()
            reasons: list[list[str] | None] = [None] * batch.num_rows
            for row, rejection in parsed.rejections.items():
                meta_id[row], reasons[row] = rejection.meta_id, list(rejection.reasons)
            rejected = marked(batch.num_rows, parsed.rejections)
            kept = pc.invert(pc.or_(rejected, parsed.is_canary))
            out = {
                "outcome": pc.if_else(rejected, REJECTED, outcome),
                "meta_id": pa.array(meta_id, pa.string()),
                "canonical_entity": entity,
                "wiki": pc.if_else(kept, changes.column("wiki"), None),
                "event_type": pc.if_else(kept, changes.column("type"), None),
                "event_timestamp": pc.if_else(kept, changes.column("event_timestamp"), None),
                "parse_reasons": pa.array(reasons, pa.list_(pa.string())),
            }
            arrays = list(batch.columns) + [plain(out[name]).cast(kind) for name, kind, _ in PARSED_FIELDS]
            names = list(batch.schema.names) + [name for name, _, _ in PARSED_FIELDS]
            yield pa.RecordBatch.from_arrays(arrays, names=names)

    return parse


def silver_enricher(
    large_edit_bytes: int = DEFAULT_LARGE_EDIT_BYTES,
) -> Callable[[Iterable[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """`mapInArrow` function: bronze rows -> every `SilverEvent` column, from the batch functions the
    embedded engine runs."""

    def run(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            parsed = parse_payloads(batch.column("event_data"))
            if parsed.rejections:  # bronze only holds rows that parsed
                row, rejection = min(parsed.rejections.items())
                meta_id = batch.column("meta_id")[row].as_py()
                raise ValueError(f"bronze row {meta_id} no longer parses: {rejection.reason}")
            enriched = enrich_batch(
                parsed.changes,
                canonical_entity=batch.column("canonical_entity"),
                # Spark hands timestamps over without a zone; they are UTC.
                ingested_at=batch.column("ingestion_timestamp").cast(_TS),
                kafka_topic=batch.column("kafka_topic"),
                kafka_partition=batch.column("kafka_partition"),
                kafka_offset=batch.column("kafka_offset"),
                large_edit_bytes=large_edit_bytes,
            )
            yield pa.RecordBatch.from_arrays(
                [enriched.column(name).combine_chunks() for name, _ in SILVER_FIELDS],
                names=[name for name, _ in SILVER_FIELDS],
            )

    return run
