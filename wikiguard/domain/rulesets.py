"""The default data-quality rules of each layer, as data.

Bronze guards what was received, silver what was derived, gold what was aggregated. Lateness is
never a quality failure: processing lag is measured (a non-blocking WARNING), so a backlog or a
replay never quarantines a valid event.
"""

from __future__ import annotations

from wikiguard.domain.quality import Rule, RuleKind, RuleSet, Severity

MAX_EVENT_BYTES = 1_000_000  # a recentchange event is ~1-2 kB; anything near 1 MB is not one
MAX_FUTURE_SECONDS = 300.0  # clock skew tolerated on event timestamps
MAX_PAGE_DELTA_BYTES = 10_000_000  # MediaWiki caps pages at 2 MiB by default; 10 MB is impossible
FRESHNESS_OBJECTIVE_SECONDS = 600.0
EVENT_TYPE_PATTERN = r"edit|new|log|categorize|external|\d+"  # numeric types: e.g. "142" (Flow)
WIKI_PATTERN = r"^[a-z0-9_]+$"

BRONZE_RULES = RuleSet(
    "bronze",
    (
        Rule("meta_id_not_null", RuleKind.NOT_NULL, "meta_id", Severity.CRITICAL),
        Rule("event_data_size", RuleKind.SIZE, "event_data", Severity.WARNING, max=MAX_EVENT_BYTES),
        Rule(
            "event_timestamp_not_future", RuleKind.TEMPORAL, "event_timestamp", Severity.WARNING,
            max=MAX_FUTURE_SECONDS,
        ),
        Rule("wiki_format", RuleKind.MATCHES, "wiki", Severity.WARNING, pattern=WIKI_PATTERN),
    ),
)  # fmt: skip

SILVER_RULES = RuleSet(
    "silver",
    (
        Rule("canonical_entity_not_null", RuleKind.NOT_NULL, "canonical_entity", Severity.CRITICAL),
        Rule("meta_id_not_null", RuleKind.NOT_NULL, "meta_id", Severity.CRITICAL),
        Rule("event_type_valid", RuleKind.MATCHES, "event_type", Severity.WARNING, pattern=EVENT_TYPE_PATTERN),
        Rule(
            "bytes_changed_range", RuleKind.RANGE, "bytes_changed", Severity.WARNING,
            min=-MAX_PAGE_DELTA_BYTES, max=MAX_PAGE_DELTA_BYTES,
        ),
        Rule(
            "event_timestamp_not_future", RuleKind.TEMPORAL, "event_timestamp", Severity.WARNING,
            max=MAX_FUTURE_SECONDS,
        ),
        # Log entries may hide their performer (suppressed user names); every other change has one.
        Rule(
            "user_name_not_null", RuleKind.NOT_NULL_UNLESS, "user_name", Severity.WARNING,
            other_column="event_type", values=("log",),
        ),
        Rule(
            "processing_lag_freshness", RuleKind.RANGE, "processing_lag_seconds", Severity.WARNING,
            max=FRESHNESS_OBJECTIVE_SECONDS, blocking=False,
        ),
    ),
)  # fmt: skip

_RATIOS = ("revert_ratio", "anonymous_ratio", "bot_ratio", "quality_ratio")
_SCORES = ("risk_score", "user_risk_score", "health_score")

# One rule set for the entity, user and global rows: a RANGE rule passes a row without its column.
GOLD_RULES = RuleSet(
    "gold",
    (
        Rule("window_start_not_null", RuleKind.NOT_NULL, "window_start", Severity.CRITICAL),
        Rule(
            "window_end_after_start", RuleKind.GREATER_THAN, "window_end", Severity.CRITICAL,
            other_column="window_start",
        ),
        Rule("total_events_positive", RuleKind.RANGE, "total_events", Severity.CRITICAL, min=1),
        *(Rule(f"{c}_range", RuleKind.RANGE, c, Severity.WARNING, min=0.0, max=1.0) for c in _RATIOS),
        *(Rule(f"{c}_range", RuleKind.RANGE, c, Severity.WARNING, min=0, max=100) for c in _SCORES),
    ),
)  # fmt: skip
