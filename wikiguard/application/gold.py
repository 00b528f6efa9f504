"""The gold use case: close event-time windows into entity, user and platform metrics, judged against
baselines learned from the gold tables' own history, gated, and written with a checkpoint.

Restart safety: every table write carries the checkpoint `{"gold": closed_until}` in its own commit.
Windows are recomputed from silver on restart, and a table whose checkpoint already covers a window
is not written again, so a crash between two tables' commits neither loses nor duplicates rows.
The baseline book learns only the rows the gate let through, which are exactly the rows a restarted
process reads back from the gold tables.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs
import pyarrow as pa

from wikiguard.application.batches.tallies import window_shares
from wikiguard.application.ports import Row, TableStore
from wikiguard.application.quality_gate import quality_metrics_row, run_gate
from wikiguard.application.tables import (
    GOLD_ENTITY_METRICS,
    GOLD_GLOBAL_METRICS,
    GOLD_QUARANTINE,
    GOLD_USER_METRICS,
    QUALITY_METRICS,
    SILVER_EVENTS,
    SILVER_QUARANTINE,
)
from wikiguard.domain.anomalies import Anomaly, AnomalyConfig, Scope, anomaly_of
from wikiguard.domain.baselines import BaselineBook, judge_window
from wikiguard.domain.enrichment import SilverEvent
from wikiguard.domain.metrics import OpenWindows, WindowRows
from wikiguard.domain.quality import BatchQuality, GateThresholds, RuleSet
from wikiguard.domain.rulesets import GOLD_RULES
from wikiguard.domain.windows import DEFAULT_WINDOW, Window

CHECKPOINT_KEY = "gold"
_SILVER_FIELDS = tuple(a.name for a in attrs.fields(SilverEvent))
# (table, the column that says which window a row belongs to)
_TABLES = (
    (GOLD_ENTITY_METRICS.name, "window_start"),
    (GOLD_USER_METRICS.name, "window_start"),
    (GOLD_GLOBAL_METRICS.name, "window_start"),
    (GOLD_QUARANTINE.name, "event_timestamp"),
    (QUALITY_METRICS.name, None),
)


@attrs.frozen
class GoldSettings:
    window: timedelta = DEFAULT_WINDOW
    anomalies: AnomalyConfig = AnomalyConfig()
    thresholds: GateThresholds = GateThresholds()
    rules: RuleSet = GOLD_RULES
    # Silver quarantine reasons that say nothing about the data's quality: not counted as failures.
    not_quality_failures: frozenset[str] = frozenset({"late", "duplicate"})


@attrs.frozen
class GoldResult:
    entity_rows: list[Row]
    user_rows: list[Row]
    global_rows: list[Row]
    anomalies: list[Anomaly]
    quality: BatchQuality
    windows: tuple[Window, ...] = ()  # the windows closed, oldest first
    quarantined: int = 0  # metric rows the gate sent to gold_quarantine


class GoldStage:
    """Windows of silver events in, gold metric rows and anomalies out.

    Call `restore()` first when the store already holds data; then `add()` events and quality
    failures as silver writes them, and `close()` whenever the watermark's `closed_until` advances.
    If `close()` raises, call `restore()` before going on: the windows it took are rebuilt from silver.
    """

    def __init__(self, store: TableStore, settings: GoldSettings, *, engine: str = "embedded") -> None:
        self._store = store
        self._settings = settings
        self._engine = engine
        self._open = OpenWindows(settings.window)
        self._book = BaselineBook(settings.anomalies, settings.window)
        self._committed: datetime | None = None
        self._known = False  # whether `_committed` reflects the store (after restore or a close)
        self.late_events = 0  # events whose window was already closed (silver should have held them back)

    def checkpoint(self) -> datetime | None:
        """The `closed_until` every gold table has committed, or None before the first complete close.

        Read from the store once (cheap to call per batch afterwards): this stage is the only writer.
        """
        if self._known:
            return self._committed
        self._committed = committed_until(self._store)
        self._known = True
        return self._committed

    def restore(self, closed_until: datetime | None) -> None:
        """Rebuild the open windows from silver and the baselines from the last N windows of gold.

        Windows are rebuilt from gold's own committed checkpoint when there is one (a window gold has
        not committed everywhere is recomputed), otherwise from `closed_until` (None: all of silver).
        """
        self._known = False
        committed = self.checkpoint()
        start = committed or closed_until
        self._open = OpenWindows(self._settings.window, closed_until=start)
        since = ("event_timestamp", start) if start else None
        self.add(_silver_event(row) for row in self._store.scan(SILVER_EVENTS.name, at_least=since))
        self.add_quality_failures(self._store.scan(SILVER_QUARANTINE.name, at_least=since))
        self._book = restore_book(self._store, self._settings, committed)

    def add(self, events: Iterable[SilverEvent]) -> None:
        """Count silver events in their windows."""
        add = self._open.add
        late = 0
        for event in events:
            if not add(event):
                late += 1
        self.late_events += late

    def add_table(self, rows: pa.Table) -> None:
        """Count silver rows held as an Arrow table (the silver table's columns) in their windows."""
        for share in window_shares(rows, self._settings.window):
            if not self._open.add_tallies(share.start, share.entities, share.users, share.editing):
                self.late_events += share.events

    def add_quality_failures(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Count silver quarantine rows against their window, entity and user.

        A row needs `event_timestamp`; the entity and user come from `canonical_entity`/`user_name`
        on the row or else from its `record` (the quarantined silver row as JSON). Rows refused only
        for being late or duplicates are not quality failures and are skipped.
        """
        skip = self._settings.not_quality_failures
        for row in rows:
            moment = row.get("event_timestamp")
            if moment is None or skip.intersection(row.get("reasons") or ()):
                continue
            entity, user = _who(row)
            self._open.add_quality_failure(moment, entity, user)

    def close(self, closed_until: datetime, *, batch_id: str, now: datetime) -> GoldResult:
        """Finalize, judge, gate and write every open window that ends at or before `closed_until`."""
        finished = (acc.finalize() for acc in self._open.close(closed_until))
        result = commit_windows(
            self._store,
            self._settings,
            self._book,
            [rows for rows in finished if rows is not None],
            closed_until,
            batch_id=batch_id,
            now=now,
            engine=self._engine,
        )
        self._committed, self._known = closed_until, True
        return result

    @property
    def open_windows(self) -> int:
        return len(self._open)


def _silver_event(row: Row) -> SilverEvent:
    return SilverEvent(**{name: row[name] for name in _SILVER_FIELDS})


def _who(row: Mapping[str, Any]) -> tuple[str | None, str | None]:
    entity, user = row.get("canonical_entity"), row.get("user_name")
    if (entity is None or user is None) and isinstance(row.get("record"), str):
        try:
            record = json.loads(row["record"])
        except ValueError:
            record = None
        if isinstance(record, dict):
            entity = entity or _text(record.get("canonical_entity"))
            user = user or _text(record.get("user_name"))
    return entity, user


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def committed_until(store: TableStore) -> datetime | None:
    """The `closed_until` every gold table has committed, or None before the first complete close."""
    positions = [store.checkpoint(table, CHECKPOINT_KEY) for table, _ in _TABLES]
    done = [datetime.fromisoformat(p) for p in positions if p is not None]
    return min(done) if len(done) == len(positions) else None


def restore_book(store: TableStore, settings: GoldSettings, committed: datetime | None) -> BaselineBook:
    """The baselines as they stood after the window gold committed last, rebuilt from gold's own rows."""
    book = BaselineBook(settings.anomalies, settings.window)
    if committed is None:
        return book
    horizon = committed - settings.window * settings.anomalies.history_windows
    by_window: dict[datetime, dict[str, list[Row]]] = defaultdict(lambda: defaultdict(list))
    for table, _ in _TABLES[:3]:
        for row in store.scan(table, at_least=("window_start", horizon)):
            if row["window_start"] < committed:  # a table ahead of the others after a crash
                by_window[row["window_start"]][table].append(row)
    for start in sorted(by_window):
        rows = by_window[start]
        platform = rows[GOLD_GLOBAL_METRICS.name]
        book.observe(
            Window(start, start + settings.window),
            sorted(rows[GOLD_ENTITY_METRICS.name], key=lambda r: str(r["entity"])),
            sorted(rows[GOLD_USER_METRICS.name], key=lambda r: str(r["user_name"])),
            platform[0] if platform else None,
        )
    return book


def commit_windows(
    store: TableStore,
    settings: GoldSettings,
    book: BaselineBook,
    windows: Sequence[WindowRows],
    closed_until: datetime,
    *,
    batch_id: str,
    now: datetime,
    engine: str,
) -> GoldResult:
    """Judge finished windows (oldest first) against the book, gate them, and write every gold table.

    Both engines call this with the windows they aggregated, so judging and writing have one source.
    """
    rules = settings.rules
    tables: dict[Scope, list[dict[str, Any]]] = {Scope.ENTITY: [], Scope.USER: [], Scope.GLOBAL: []}
    # Rows not proven clean by `RuleSet.proves_clean`, per scope: the only ones the gate has to judge row by row.
    doubtful: dict[Scope, list[dict[str, Any]]] = {Scope.ENTITY: [], Scope.USER: [], Scope.GLOBAL: []}
    clean = 0
    for rows in windows:
        judged = judge_window(rows, book)
        kept: dict[Scope, list[dict[str, Any]]] = {}
        for scope, scope_rows in (
            (Scope.ENTITY, judged.entities),
            (Scope.USER, judged.users),
            (Scope.GLOBAL, [judged.platform]),
        ):
            for row in scope_rows:
                row["aggregation_timestamp"] = now
                row["batch_id"] = batch_id
            tables[scope].extend(scope_rows)
            if rules.proves_clean(scope_rows):
                kept[scope] = scope_rows
                clean += len(scope_rows)
            else:
                kept[scope] = [row for row in scope_rows if not rules.reasons(row, now)]
                doubtful[scope].extend(scope_rows)
        # The book learns only what the gate lets through: exactly what the tables will hold.
        platform = kept[Scope.GLOBAL][0] if kept[Scope.GLOBAL] else None
        book.observe(rows.window, kept[Scope.ENTITY], kept[Scope.USER], platform)
    everything = sum(len(scope_rows) for scope_rows in tables.values())
    # Rows proven clean break no rule, so the gate counts them as passed without judging them again:
    # the same verdict, counts and quarantine rows as judging every row.
    gate = run_gate(
        rules,
        [*doubtful[Scope.ENTITY], *doubtful[Scope.USER], *doubtful[Scope.GLOBAL]],
        batch_id=batch_id,
        reference=now,
        thresholds=settings.thresholds,
        upstream_passed=clean,
    )
    refused = {id(row) for rows in doubtful.values() for row in rows} - {id(row) for row in gate.passed}
    passed = tables
    if refused:
        passed = {scope: [r for r in rows if id(r) not in refused] for scope, rows in tables.items()}
    quality = [quality_metrics_row(gate.quality, engine=engine, measured_at=now)] if everything else []
    outputs: tuple[Sequence[Row], ...] = (
        passed[Scope.ENTITY], passed[Scope.USER], passed[Scope.GLOBAL], gate.quarantined, quality
    )
    for (table, column), rows_out in zip(_TABLES, outputs, strict=True):
        write_closed(store, table, rows_out, closed_until, column)
    found = (anomaly_of(scope, row) for scope, rows in passed.items() for row in rows if row["is_anomaly"])
    anomalies = [a for a in found if a]
    anomalies.sort(key=lambda a: (a.window.start, -a.risk_score, a.scope, a.subject))
    return GoldResult(
        entity_rows=list(passed[Scope.ENTITY]),
        user_rows=list(passed[Scope.USER]),
        global_rows=list(passed[Scope.GLOBAL]),
        anomalies=anomalies,
        quality=gate.quality,
        windows=tuple(rows.window for rows in windows),
        quarantined=len(gate.quarantined),
    )


def write_closed(
    store: TableStore, table: str, rows: Sequence[Row], closed_until: datetime, window_column: str | None
) -> None:
    """Append gold rows with `{"gold": closed_until}`, skipping what a commit before a crash already holds."""
    position = store.checkpoint(table, CHECKPOINT_KEY)
    done = datetime.fromisoformat(position) if position is not None else None
    if done is not None:
        if done >= closed_until:
            return  # committed before a crash: writing again would duplicate
        if window_column is not None:
            rows = [r for r in rows if r[window_column] >= done]
    store.append(table, rows, {CHECKPOINT_KEY: closed_until.isoformat()})
