"""Per-window metrics of silver events, aggregated by Spark SQL into the domain's metric objects.

The result is the `WindowRows` that `wikiguard.domain.metrics.WindowAccumulator.finalize` builds in
the embedded engine, column for column: the same counts, the same integer-microsecond lag sums, the
same divisions (a long sum cast to double divided by a count is the same IEEE operation as Python's
int / int below 2**53), the same rule that a user with any bot-flagged event is a bot. Windows are
event-time tumbling windows aligned on the epoch, half-open, like `window_of`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from wikiguard.adapters.spark.rule_compiler import sql_string, timestamp_literal
from wikiguard.adapters.spark.table_store import aware
from wikiguard.domain.metrics import (
    EntityWindowMetrics,
    GlobalWindowMetrics,
    UserWindowMetrics,
    WindowRows,
    ratio,
)
from wikiguard.domain.windows import Window

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

_COUNTS = """
  count(*) AS total,
  sum(IF(event_type = 'edit', 1, 0)) AS edits,
  sum(IF(event_type = 'new', 1, 0)) AS new_pages,
  sum(IF(event_type = 'categorize', 1, 0)) AS categorize,
  sum(IF(event_type = 'log', 1, 0)) AS logs,
  sum(IF(event_type = 'edit' AND is_revert, 1, 0)) AS reverts,
  sum(IF(is_anonymous, 1, 0)) AS anonymous,
  sum(IF(is_bot, 1, 0)) AS bots,
  sum(bytes_changed) AS bytes_sum,
  min(bytes_changed) AS bytes_min,
  max(bytes_changed) AS bytes_max,
  sum(IF(is_large_edit, 1, 0)) AS large,
  sum(IF(has_comment, 1, 0)) AS commented,
  sum(lag_us) AS lag_us,
  max(processing_lag_seconds) AS lag_max,
  min(event_timestamp) AS first_ts,
  max(event_timestamp) AS last_ts"""


def _events_view(silver: str, start: datetime | None, until: datetime, size: timedelta) -> str:
    micros = size // timedelta(microseconds=1)
    since = f"AND event_timestamp >= {timestamp_literal(start)}" if start else ""
    return f"""
      SELECT *, CAST(bround(processing_lag_seconds * 1000000.0D, 0) AS BIGINT) AS lag_us,
             timestamp_micros(unix_micros(event_timestamp) - pmod(unix_micros(event_timestamp), {micros}L)) AS w
      FROM {silver}
      WHERE unix_micros(event_timestamp) - pmod(unix_micros(event_timestamp), {micros}L) + {micros}L
            <= unix_micros({timestamp_literal(until)}) {since}"""


def _failures_view(
    quarantine: str, start: datetime | None, until: datetime, size: timedelta, skip: Iterable[str]
) -> str:
    micros = size // timedelta(microseconds=1)
    since = f"AND event_timestamp >= {timestamp_literal(start)}" if start else ""
    skipped = ", ".join(sql_string(s) for s in sorted(skip)) or "NULL"
    return f"""
      SELECT timestamp_micros(unix_micros(event_timestamp) - pmod(unix_micros(event_timestamp), {micros}L)) AS w,
             nullif(get_json_object(record, '$.canonical_entity'), '') AS entity,
             nullif(get_json_object(record, '$.user_name'), '') AS user_name
      FROM {quarantine}
      WHERE event_timestamp IS NOT NULL
        AND NOT exists(reasons, r -> r IN ({skipped}))
        AND unix_micros(event_timestamp) - pmod(unix_micros(event_timestamp), {micros}L) + {micros}L
            <= unix_micros({timestamp_literal(until)}) {since}"""


def window_rows(
    spark: SparkSession,
    *,
    silver: str,
    quarantine: str,
    start: datetime | None,
    until: datetime,
    size: timedelta,
    not_quality_failures: Iterable[str],
) -> list[WindowRows]:
    """The finalized rows of every window with events in `[start, until)` that ends by `until`, oldest first."""
    spark.sql(_events_view(silver, start, until, size)).createOrReplaceTempView("wg_gold_events")
    spark.sql(_failures_view(quarantine, start, until, size, not_quality_failures)).createOrReplaceTempView(
        "wg_gold_failures"
    )
    entities = spark.sql(f"""
      SELECT w, canonical_entity AS key, min(wiki) AS wiki, {_COUNTS},
             count(DISTINCT user_name) AS editors,
             count(DISTINCT IF(is_anonymous, user_name, NULL)) AS anonymous_editors
      FROM wg_gold_events GROUP BY w, canonical_entity""").collect()
    users = spark.sql(f"""
      SELECT w, user_name AS key, {_COUNTS},
             CASE WHEN bool_or(is_bot) THEN 'Bot' ELSE min(user_type) END AS user_type,
             bool_or(is_bot) AS is_bot, bool_or(is_anonymous) AS is_anonymous,
             bool_or(is_temporary_account) AS is_temporary,
             count(DISTINCT canonical_entity) AS entities, count(DISTINCT wiki) AS wikis
      FROM wg_gold_events GROUP BY w, user_name""").collect()
    platform = spark.sql("""
      SELECT w, count(DISTINCT user_name) AS users, count(DISTINCT canonical_entity) AS entities,
             count(DISTINCT wiki) AS wikis
      FROM wg_gold_events GROUP BY w""").collect()
    failures = spark.sql(
        "SELECT w, entity, user_name, count(*) AS n FROM wg_gold_failures GROUP BY w, entity, user_name"
    ).collect()
    return _assemble(entities, users, platform, failures, size)


def _assemble(
    entities: list[Any], users: list[Any], platform: list[Any], failures: list[Any], size: timedelta
) -> list[WindowRows]:
    failed: dict[datetime, int] = defaultdict(int)
    by_entity: dict[tuple[datetime, str], int] = defaultdict(int)
    by_user: dict[tuple[datetime, str], int] = defaultdict(int)
    for f in failures:
        w = aware(f["w"])
        failed[w] += f["n"]
        if f["entity"]:
            by_entity[w, f["entity"]] += f["n"]
        if f["user_name"]:
            by_user[w, f["user_name"]] += f["n"]
    grouped: dict[datetime, dict[str, list[Any]]] = defaultdict(lambda: {"e": [], "u": []})
    for row in entities:
        grouped[aware(row["w"])]["e"].append(row)
    for row in users:
        grouped[aware(row["w"])]["u"].append(row)
    distinct = {aware(row["w"]): row for row in platform}
    out = []
    for start in sorted(grouped):
        window = Window(start, start + size)
        day = start.date()
        es = sorted(grouped[start]["e"], key=lambda r: r["key"])
        us = sorted(grouped[start]["u"], key=lambda r: r["key"])
        out.append(
            WindowRows(
                window,
                tuple(_entity(r, window, day, by_entity.get((start, r["key"]), 0)) for r in es),
                tuple(_user(r, window, day, by_user.get((start, r["key"]), 0)) for r in us),
                _platform(es, distinct[start], window, day, failed.get(start, 0)),
            )
        )
    return out


def _entity(a: Any, window: Window, day: Any, failed: int) -> EntityWindowMetrics:
    total = a["total"]
    return EntityWindowMetrics(
        entity=a["key"], wiki=a["wiki"], total_events=total, edit_count=a["edits"], new_page_count=a["new_pages"],
        categorize_count=a["categorize"], log_count=a["logs"], revert_count=a["reverts"],
        anonymous_edit_count=a["anonymous"], bot_edit_count=a["bots"], total_bytes_changed=a["bytes_sum"],
        avg_bytes_changed=a["bytes_sum"] / total, min_bytes_changed=a["bytes_min"], max_bytes_changed=a["bytes_max"],
        max_abs_bytes_changed=max(abs(a["bytes_min"]), abs(a["bytes_max"])), large_edit_count=a["large"],
        quality_passed_count=total, quality_failed_count=failed, unique_editors=a["editors"],
        unique_anonymous_editors=a["anonymous_editors"], avg_processing_lag_seconds=a["lag_us"] / total / 1_000_000,
        max_processing_lag_seconds=a["lag_max"], edits_with_comment=a["commented"],
        first_event_timestamp=aware(a["first_ts"]), last_event_timestamp=aware(a["last_ts"]),
        window_start=window.start, window_end=window.end, revert_ratio=ratio(a["reverts"], a["edits"]),
        anonymous_ratio=ratio(a["anonymous"], total), bot_ratio=ratio(a["bots"], total),
        quality_ratio=ratio(total, total + failed), event_date=day,
    )  # fmt: skip


def _user(a: Any, window: Window, day: Any, failed: int) -> UserWindowMetrics:
    total = a["total"]
    return UserWindowMetrics(
        user_name=a["key"], user_type=a["user_type"], is_bot=a["is_bot"], is_anonymous=a["is_anonymous"],
        is_temporary_account=a["is_temporary"], total_events=total, edit_count=a["edits"],
        new_page_count=a["new_pages"], categorize_count=a["categorize"], log_count=a["logs"],
        revert_count=a["reverts"], total_bytes_changed=a["bytes_sum"], avg_bytes_changed=a["bytes_sum"] / total,
        large_edit_count=a["large"], entities_edited=a["entities"], wikis_touched=a["wikis"],
        quality_failed_count=failed, edits_with_comment=a["commented"],
        first_event_timestamp=aware(a["first_ts"]), last_event_timestamp=aware(a["last_ts"]),
        window_start=window.start, window_end=window.end, revert_ratio=ratio(a["reverts"], a["edits"]), event_date=day,
    )  # fmt: skip


def _platform(es: list[Any], distinct: Any, window: Window, day: Any, failed: int) -> GlobalWindowMetrics:
    total = sum(a["total"] for a in es)
    edits = sum(a["edits"] for a in es)
    reverts = sum(a["reverts"] for a in es)
    anonymous = sum(a["anonymous"] for a in es)
    bots = sum(a["bots"] for a in es)
    bytes_sum = sum(a["bytes_sum"] for a in es)
    return GlobalWindowMetrics(
        total_events=total, total_edits=edits, total_new_pages=sum(a["new_pages"] for a in es),
        total_categorize=sum(a["categorize"] for a in es), total_log=sum(a["logs"] for a in es),
        total_reverts=reverts, total_anonymous=anonymous, total_bot=bots,
        total_large_edits=sum(a["large"] for a in es), total_bytes_changed=bytes_sum,
        avg_bytes_changed=ratio(bytes_sum, total), total_quality_failed=failed,
        unique_users=distinct["users"], unique_entities=distinct["entities"], unique_wikis=distinct["wikis"],
        avg_processing_lag=sum(a["lag_us"] for a in es) / total / 1_000_000,
        max_processing_lag=max(a["lag_max"] for a in es), window_start=window.start, window_end=window.end,
        revert_ratio=ratio(reverts, edits), anonymous_ratio=ratio(anonymous, total), bot_ratio=ratio(bots, total),
        events_per_user=ratio(total, distinct["users"]), events_per_entity=ratio(total, len(es)), event_date=day,
    )  # fmt: skip
