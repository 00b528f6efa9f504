"""The lakehouse tables, declared once: every engine (pyiceberg, Spark) builds its schemas from here.

Column names follow the earlier system's tables where they fit, so its users' queries keep working.
Types are logical: string, int (32-bit), long, double, boolean, timestamp (UTC, microseconds), date,
list<string>.
"""

from __future__ import annotations

import attrs

NAMESPACE = "wikiguard_lakehouse"


@attrs.frozen
class Column:
    name: str
    type: str
    required: bool = False
    doc: str = ""


@attrs.frozen
class TableSpec:
    name: str
    columns: tuple[Column, ...]
    partition_by: str = "event_date"  # an identity partition on this date column
    sort_by: tuple[str, ...] = ()
    doc: str = ""

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _cols(spec: str) -> tuple[Column, ...]:
    """Columns from `name:type[!]` words; `!` marks a required column."""
    out = []
    for word in spec.split():
        name, kind = word.split(":", 1)
        out.append(Column(name, kind.rstrip("!"), kind.endswith("!")))
    return tuple(out)


BRONZE_EVENTS = TableSpec(
    "bronze_events",
    _cols(
        "meta_id:string! canonical_entity:string wiki:string event_type:string event_data:string! "
        "event_timestamp:timestamp kafka_topic:string! kafka_partition:int! kafka_offset:long! "
        "sse_event_id:string ingestion_timestamp:timestamp! batch_id:string! event_date:date!"
    ),
    doc="Every allowlisted event as received (raw JSON in event_data) with its Kafka position.",
)

SILVER_EVENTS = TableSpec(
    "silver_events",
    _cols(
        "meta_id:string! canonical_entity:string! wiki:string! title:string! event_type:string! "
        "namespace:int wikimedia_id:long user_name:string! user_type:string! is_bot:boolean! "
        "is_anonymous:boolean! is_temporary_account:boolean! is_minor:boolean comment:string "
        "has_comment:boolean! length_old:long length_new:long revision_old:long revision_new:long "
        "bytes_changed:long! is_large_edit:boolean! is_revert:boolean! log_type:string "
        "event_timestamp:timestamp! ingestion_timestamp:timestamp! processing_lag_seconds:double! "
        "event_date:date! event_hour:int! kafka_topic:string! kafka_partition:int! kafka_offset:long! "
        "batch_id:string!"
    ),
    doc="Parsed, deduplicated (meta_id) and enriched allowlisted events.",
)

_QUARANTINE = (
    "meta_id:string record:string! layer:string! batch_id:string! reasons:list<string>! "
    "source_topic:string source_partition:int source_offset:long quarantined_at:timestamp! "
    "event_timestamp:timestamp event_date:date!"
)
BRONZE_QUARANTINE = TableSpec("bronze_quarantine", _cols(_QUARANTINE), doc="Records bronze refused, with reasons.")
SILVER_QUARANTINE = TableSpec("silver_quarantine", _cols(_QUARANTINE), doc="Rows silver refused, with reasons.")
GOLD_QUARANTINE = TableSpec("gold_quarantine", _cols(_QUARANTINE), doc="Metric rows gold refused, with reasons.")

QUALITY_METRICS = TableSpec(
    "quality_metrics",
    _cols(
        "layer:string! batch_id:string! engine:string! measured_at:timestamp! total_rows:long! "
        "passed_rows:long! pass_rate:double! outcome:string! failed_checks:list<string>! "
        "reasons:list<string>! freshness_p50_seconds:double freshness_max_seconds:double "
        "event_date:date!"
    ),
    doc="One row per layer and batch: the gate's verdict; the history behind quality trends.",
)

ALERTS_SENT = TableSpec(
    "alerts_sent",
    _cols(
        "alert_key:string! kind:string! severity:string! title:string! subject:string! "
        "window_or_batch:string! sinks:list<string>! failed_sinks:list<string>! suppressed_before:int! "
        "raised_at:timestamp! event_date:date!"
    ),
    doc="Every alert that went out, so a restarted process keeps throttling.",
)
