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

_GOLD_JUDGEMENT = (
    "anomaly_types:string is_anomaly:boolean! severity:string! anomaly_explanation:string! "
    "aggregation_timestamp:timestamp! batch_id:string! event_date:date!"
)

GOLD_ENTITY_METRICS = TableSpec(
    "gold_entity_metrics_10min",
    _cols(
        "entity:string! wiki:string! total_events:long! edit_count:long! new_page_count:long! "
        "categorize_count:long! log_count:long! revert_count:long! anonymous_edit_count:long! "
        "bot_edit_count:long! total_bytes_changed:long! avg_bytes_changed:double! min_bytes_changed:long! "
        "max_bytes_changed:long! max_abs_bytes_changed:long! large_edit_count:long! "
        "quality_passed_count:long! quality_failed_count:long! unique_editors:long! "
        "unique_anonymous_editors:long! avg_processing_lag_seconds:double! max_processing_lag_seconds:double! "
        "edits_with_comment:long! first_event_timestamp:timestamp! last_event_timestamp:timestamp! "
        "window_start:timestamp! window_end:timestamp! revert_ratio:double! anonymous_ratio:double! "
        "bot_ratio:double! quality_ratio:double! baseline_windows:int! baseline_events_avg:double! "
        "baseline_events_stddev:double! baseline_revert_ratio:double! baseline_anonymous_ratio:double! "
        "events_zscore:double! revert_deviation:double! anonymous_deviation:double! "
        "is_burst_activity:boolean! is_high_revert_rate:boolean! is_anonymous_surge:boolean! "
        "is_large_content_change:boolean! risk_score:int! " + _GOLD_JUDGEMENT
    ),
    sort_by=("window_start", "entity"),
    doc="One row per watched page and 10-minute window: activity, learned baseline, anomalies, risk.",
)

GOLD_USER_METRICS = TableSpec(
    "gold_user_metrics_10min",
    _cols(
        "user_name:string! user_type:string! is_bot:boolean! is_anonymous:boolean! "
        "is_temporary_account:boolean! total_events:long! edit_count:long! new_page_count:long! "
        "categorize_count:long! log_count:long! revert_count:long! total_bytes_changed:long! "
        "avg_bytes_changed:double! large_edit_count:long! entities_edited:long! wikis_touched:long! "
        "quality_failed_count:long! edits_with_comment:long! first_event_timestamp:timestamp! "
        "last_event_timestamp:timestamp! window_start:timestamp! window_end:timestamp! revert_ratio:double! "
        "baseline_samples:long! baseline_edits_avg:double! baseline_edits_stddev:double! "
        "baseline_entities_avg:double! baseline_entities_stddev:double! baseline_revert_ratio:double! "
        "edits_zscore:double! entities_zscore:double! is_new_user:boolean! is_user_blitz:boolean! "
        "is_new_user_blitz:boolean! is_mass_reverter:boolean! is_cross_wiki_active:boolean! "
        "is_high_revert_user:boolean! user_risk_score:int! " + _GOLD_JUDGEMENT
    ),
    sort_by=("window_start", "user_name"),
    doc="One row per user and 10-minute window on watched pages, judged against the user's class.",
)

GOLD_GLOBAL_METRICS = TableSpec(
    "gold_global_metrics_10min",
    _cols(
        "total_events:long! total_edits:long! total_new_pages:long! total_categorize:long! total_log:long! "
        "total_reverts:long! total_anonymous:long! total_bot:long! total_large_edits:long! "
        "total_bytes_changed:long! avg_bytes_changed:double! total_quality_failed:long! unique_users:long! "
        "unique_entities:long! unique_wikis:long! avg_processing_lag:double! max_processing_lag:double! "
        "window_start:timestamp! window_end:timestamp! revert_ratio:double! anonymous_ratio:double! "
        "bot_ratio:double! events_per_user:double! events_per_entity:double! baseline_windows:int! "
        "baseline_events_avg:double! baseline_events_stddev:double! baseline_revert_ratio:double! "
        "baseline_anonymous_ratio:double! events_zscore:double! revert_deviation:double! "
        "anonymous_deviation:double! is_burst_activity:boolean! is_high_revert_rate:boolean! "
        "is_anonymous_surge:boolean! risk_score:int! health_score:int! platform_health:string! "
        "health_explanation:string! " + _GOLD_JUDGEMENT
    ),
    sort_by=("window_start",),
    doc="One row per 10-minute window over every watched page: volume, baseline, anomalies, health.",
)

ALL_TABLES = (
    BRONZE_EVENTS,
    SILVER_EVENTS,
    BRONZE_QUARANTINE,
    SILVER_QUARANTINE,
    GOLD_QUARANTINE,
    QUALITY_METRICS,
    ALERTS_SENT,
    GOLD_ENTITY_METRICS,
    GOLD_USER_METRICS,
    GOLD_GLOBAL_METRICS,
)
