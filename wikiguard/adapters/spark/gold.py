"""The gold step on Spark: close the windows silver's watermark has closed, judge them, write them.

Spark aggregates each closed window per entity, user and platform (`gold_aggregates`); the driver
then runs what the embedded `GoldStage.close` runs, with the same domain code: `judge_window` against
the `BaselineBook`, the book learning only the rows the gate lets through, `GOLD_RULES` through the
quality gate, `anomaly_of` for alerts. Gold rows are few (one per key and window), and the book must
see windows strictly in order, so this part stays on the driver.

Restart safety is `GoldStage`'s: every gold table commit carries `wikiguard.checkpoint.gold =
closed_until`; windows are recomputed from silver after a restart and a table whose checkpoint
already covers them is not written again. The book is rebuilt from the last N windows of gold.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs

from wikiguard.adapters.spark.gold_aggregates import window_rows
from wikiguard.adapters.spark.table_store import SparkTableStore
from wikiguard.application.alerting import Alerting, anomaly_alert, quality_alert
from wikiguard.application.gold import CHECKPOINT_KEY, GoldResult, GoldSettings
from wikiguard.application.ports import Clock, Row
from wikiguard.application.quality_gate import quality_metrics_row, run_gate
from wikiguard.application.silver import SILVER_STATE
from wikiguard.application.tables import (
    GOLD_ENTITY_METRICS,
    GOLD_GLOBAL_METRICS,
    GOLD_QUARANTINE,
    GOLD_USER_METRICS,
    QUALITY_METRICS,
    SILVER_EVENTS,
    SILVER_QUARANTINE,
)
from wikiguard.domain.anomalies import Scope, anomaly_of
from wikiguard.domain.baselines import BaselineBook, judge_window
from wikiguard.domain.windows import Window

logger = logging.getLogger(__name__)

_TABLES = (
    (GOLD_ENTITY_METRICS.name, "window_start"),
    (GOLD_USER_METRICS.name, "window_start"),
    (GOLD_GLOBAL_METRICS.name, "window_start"),
    (GOLD_QUARANTINE.name, "event_timestamp"),
    (QUALITY_METRICS.name, None),
)


def closed_until(store: SparkTableStore) -> datetime | None:
    """How far silver's watermark has closed windows (from silver's last commit)."""
    import json

    state = store.checkpoint(SILVER_EVENTS.name, SILVER_STATE)
    value = json.loads(state).get("closed_until") if state else None
    return datetime.fromisoformat(value) if value else None


@attrs.define
class SparkGold:
    """Call `restore()` once, then `tick()` whenever silver may have advanced (each micro-batch)."""

    store: SparkTableStore
    alerting: Alerting
    clock: Clock
    settings: GoldSettings = GoldSettings()
    engine: str = "spark"
    results: list[GoldResult] = attrs.field(factory=list)
    _book: BaselineBook | None = None
    _committed: datetime | None = None

    def checkpoint(self) -> datetime | None:
        """The `closed_until` every gold table has committed, or None before the first complete close."""
        positions = [self.store.checkpoint(table, CHECKPOINT_KEY) for table, _ in _TABLES]
        if any(p is None for p in positions):
            return None
        return min(datetime.fromisoformat(p) for p in positions if p is not None)

    def restore(self) -> None:
        s = self.settings
        self._committed = committed = self.checkpoint()
        self._book = BaselineBook(s.anomalies, s.window)
        if committed is None:
            return
        horizon = committed - s.window * s.anomalies.history_windows
        by_window: dict[datetime, dict[str, list[Row]]] = defaultdict(lambda: defaultdict(list))
        for table, _ in _TABLES[:3]:
            for row in self.store.scan(table, at_least=("window_start", horizon)):
                if row["window_start"] < committed:  # a table ahead of the others after a crash
                    by_window[row["window_start"]][table].append(row)
        for start in sorted(by_window):
            rows = by_window[start]
            platform = rows[GOLD_GLOBAL_METRICS.name]
            self._book.observe(
                Window(start, start + s.window),
                sorted(rows[GOLD_ENTITY_METRICS.name], key=lambda r: str(r["entity"])),
                sorted(rows[GOLD_USER_METRICS.name], key=lambda r: str(r["user_name"])),
                platform[0] if platform else None,
            )

    def tick(self, label: str) -> GoldResult | None:
        """Close every window that silver's watermark has closed and gold has not committed yet."""
        if self._book is None:
            self.restore()
        until = closed_until(self.store)
        if until is None or (self._committed is not None and until <= self._committed):
            return None
        now = self.clock.now()
        s = self.settings
        windows = window_rows(
            self.store.spark,
            silver=self.store.name(SILVER_EVENTS.name),
            quarantine=self.store.name(SILVER_QUARANTINE.name),
            start=self._committed,
            until=until,
            size=s.window,
            not_quality_failures=s.not_quality_failures,
        )
        result = self._close(windows, until, label, now)
        self.results.append(result)
        alerts = [anomaly_alert(a, now=now) for a in result.anomalies]
        gate = quality_alert(result.quality, now=now)
        published = [a for a in [*alerts, gate] if a is not None]
        if published:
            self.alerting.publish(published)
        return result

    def _close(self, windows: Sequence[Any], until: datetime, label: str, now: datetime) -> GoldResult:
        rules, book = self.settings.rules, self._book
        assert book is not None

        def ok(row: Row) -> bool:
            return not rules.reasons(row, now)

        tables: dict[Scope, list[dict[str, Any]]] = {Scope.ENTITY: [], Scope.USER: [], Scope.GLOBAL: []}
        for rows in windows:
            judged = judge_window(rows, book)
            for row in (*judged.entities, *judged.users, judged.platform):
                row["aggregation_timestamp"] = now
                row["batch_id"] = label
            platform = judged.platform if ok(judged.platform) else None
            book.observe(
                rows.window, list(filter(ok, judged.entities)), list(filter(ok, judged.users)), platform
            )
            tables[Scope.ENTITY].extend(judged.entities)
            tables[Scope.USER].extend(judged.users)
            tables[Scope.GLOBAL].append(judged.platform)
        everything = [row for scope_rows in tables.values() for row in scope_rows]
        gate = run_gate(rules, everything, batch_id=label, reference=now, thresholds=self.settings.thresholds)
        passed_ids = {id(row) for row in gate.passed}
        passed: dict[Scope, list[Row]] = {
            scope: [r for r in rows if id(r) in passed_ids] for scope, rows in tables.items()
        }
        quality = (
            [quality_metrics_row(gate.quality, engine=self.engine, measured_at=now)] if everything else []
        )
        self._write(GOLD_ENTITY_METRICS.name, passed[Scope.ENTITY], until, "window_start")
        self._write(GOLD_USER_METRICS.name, passed[Scope.USER], until, "window_start")
        self._write(GOLD_GLOBAL_METRICS.name, passed[Scope.GLOBAL], until, "window_start")
        self._write(GOLD_QUARANTINE.name, gate.quarantined, until, "event_timestamp")
        self._write(QUALITY_METRICS.name, quality, until, None)
        self._committed = until
        anomalies = [a for scope, rows in passed.items() for a in (anomaly_of(scope, r) for r in rows) if a]
        anomalies.sort(key=lambda a: (a.window.start, -a.risk_score, a.scope, a.subject))
        return GoldResult(
            entity_rows=passed[Scope.ENTITY],
            user_rows=passed[Scope.USER],
            global_rows=passed[Scope.GLOBAL],
            anomalies=anomalies,
            quality=gate.quality,
            windows=tuple(w.window for w in windows),
            quarantined=len(gate.quarantined),
        )

    def _write(self, table: str, rows: Sequence[Row], until: datetime, window_column: str | None) -> None:
        position = self.store.checkpoint(table, CHECKPOINT_KEY)
        done = datetime.fromisoformat(position) if position is not None else None
        if done is not None:
            if done >= until:
                return  # committed before a crash: writing again would duplicate
            if window_column is not None:
                rows = [r for r in rows if r[window_column] >= done]
        self.store.append(table, rows, {CHECKPOINT_KEY: until.isoformat()})
