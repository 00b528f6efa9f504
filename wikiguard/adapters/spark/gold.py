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

import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs

from wikiguard.adapters.spark.gold_aggregates import window_rows
from wikiguard.adapters.spark.table_store import SparkTableStore
from wikiguard.application.alerting import Alerting, anomaly_alert, quality_alert
from wikiguard.application.gold import GoldResult, GoldSettings, commit_windows, committed_until, restore_book
from wikiguard.application.ports import Clock
from wikiguard.application.silver import SILVER_STATE
from wikiguard.application.tables import (
    SILVER_EVENTS,
    SILVER_QUARANTINE,
)
from wikiguard.domain.baselines import BaselineBook

logger = logging.getLogger(__name__)

def closed_until(store: SparkTableStore) -> datetime | None:
    """How far silver's watermark has closed windows (from silver's last commit)."""
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
        return committed_until(self.store)

    def restore(self) -> None:
        self._committed = committed = self.checkpoint()
        self._book = restore_book(self.store, self.settings, committed)

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
        assert self._book is not None
        result = commit_windows(
            self.store, self.settings, self._book, windows, until, batch_id=label, now=now, engine=self.engine
        )
        self._committed = until
        return result
