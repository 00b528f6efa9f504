"""The domain's Python code, run by Spark executors through `mapInArrow` (one source of truth).

Bronze: `decode_payload` + `parse_change` + canary + `Allowlist.match`, per Kafka record.
Silver: `parse_change` + `enrich`, per bronze row.
Each function takes and returns Arrow record batches; columns are plain (no nested rows), so the
Arrow <-> Spark conversion stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

import attrs
import orjson
import pyarrow as pa

from wikiguard.application.bronze import decode_payload
from wikiguard.application.tables import SILVER_EVENTS
from wikiguard.domain.allowlist import Allowlist
from wikiguard.domain.enrichment import DEFAULT_LARGE_EDIT_BYTES, SilverEvent, enrich
from wikiguard.domain.events import Rejection, parse_change

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

_ARROW_OF = {
    "string": pa.string(), "int": pa.int32(), "long": pa.int64(), "double": pa.float64(),
    "boolean": pa.bool_(), "timestamp": _TS, "date": pa.date32(),
}  # fmt: skip
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
    """`mapInArrow` function: Kafka records (`payload` + passthrough columns) -> the parse outcome."""

    def parse(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            out: dict[str, list[Any]] = {name: [] for name, _, _ in PARSED_FIELDS}
            for payload in batch.column("payload").to_pylist():
                value = decode_payload(payload or "")
                parsed = value if isinstance(value, Rejection) else parse_change(value)
                if isinstance(parsed, Rejection):
                    _put(out, REJECTED, parsed.meta_id, None, None, None, None, list(parsed.reasons))
                elif parsed.is_canary:
                    _put(out, CANARY, parsed.meta_id, None, None, None, None, None)
                else:
                    entity = allowlist.match(parsed.wiki, parsed.title)
                    outcome = FILTERED if entity is None else ACCEPTED
                    _put(
                        out,
                        outcome,
                        parsed.meta_id,
                        entity,
                        parsed.wiki,
                        parsed.type,
                        parsed.event_timestamp,
                        None,
                    )
            arrays = list(batch.columns) + [pa.array(out[n], type=t) for n, t, _ in PARSED_FIELDS]
            names = list(batch.schema.names) + [n for n, _, _ in PARSED_FIELDS]
            yield pa.RecordBatch.from_arrays(arrays, names=names)

    return parse


def _put(out: dict[str, list[Any]], *values: Any) -> None:
    for (name, _, _), value in zip(PARSED_FIELDS, values, strict=True):
        out[name].append(value)


def silver_enricher(
    large_edit_bytes: int = DEFAULT_LARGE_EDIT_BYTES,
) -> Callable[[Iterable[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """`mapInArrow` function: bronze rows -> every `SilverEvent` column, from the domain's `enrich`."""

    def run(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            columns = {name: batch.column(name).to_pylist() for name in _BRONZE_INPUT}
            out: dict[str, list[Any]] = {name: [] for name, _ in SILVER_FIELDS}
            for i, data in enumerate(columns["event_data"]):
                change = parse_change(orjson.loads(data))
                if isinstance(change, Rejection):  # bronze only holds rows that parsed
                    raise ValueError(f"bronze row {columns['meta_id'][i]} no longer parses: {change.reason}")
                event = enrich(
                    change,
                    canonical_entity=columns["canonical_entity"][i],
                    ingested_at=_aware(columns["ingestion_timestamp"][i]),
                    kafka_topic=columns["kafka_topic"][i],
                    kafka_partition=columns["kafka_partition"][i],
                    kafka_offset=columns["kafka_offset"][i],
                    large_edit_bytes=large_edit_bytes,
                )
                for name, _ in SILVER_FIELDS:
                    out[name].append(getattr(event, name))
            yield pa.RecordBatch.from_arrays(
                [pa.array(out[name], type=_ARROW_OF[kind]) for name, kind in SILVER_FIELDS],
                names=[name for name, _ in SILVER_FIELDS],
            )

    return run


_BRONZE_INPUT = (
    "meta_id", "event_data", "canonical_entity", "ingestion_timestamp", "kafka_topic", "kafka_partition",
    "kafka_offset",
)  # fmt: skip


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
