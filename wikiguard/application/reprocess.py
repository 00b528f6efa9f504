"""Reprocessing quarantine: after a rule change, let the quarantined rows that now pass through.

Rows quarantined for `reason` are judged again by the layer's CURRENT rules:
- bronze: the raw record is re-parsed, matched against the current allowlist and gated with the
  bronze rules (`BronzeStage.process`, with `quarantined_at` standing in for the receive time).
  Rows that pass go to bronze_events (unless a row at that source position is already there); rows
  no longer watched, or canaries, simply leave quarantine. Silver is rewound to just before the
  first new bronze row, so the next run derives silver and gold from them in offset order.
- silver: the row's bronze row (found by its source position) is enriched again and gated with
  the silver rules; a meta_id silver already holds is not appended twice (that quarantine row is
  resolved as a duplicate). Lateness is NOT re-applied: a late event is a valid event that arrived
  after its window closed, and reprocessing `late` is the decision to admit it. Gold is rewound to
  the first window an admitted row falls in, so the next run recounts those windows with it.
- gold: the metric row is decoded from the record and gated with the gold rules; rows that pass go
  to their gold table unless that window and subject are already there. Later windows' baselines
  are not recomputed (`replay gold --since` does that).
Rows still failing stay in quarantine untouched (with their original reasons).

Order, for crash safety and idempotence: the downstream rewind first, then the append, then the
quarantine delete. Rerunning after a crash finds appended rows already present and only finishes
the delete; a second complete run finds nothing left to admit and changes nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime

import attrs

from wikiguard.application.batches.frames import rows_of
from wikiguard.application.bronze import BronzeStage
from wikiguard.application.checkpoints import locate
from wikiguard.application.ports import Row, RowFilter, SourceChunk, SourceRecord, TableStore
from wikiguard.application.quality_gate import run_gate
from wikiguard.application.replay import (
    ReplayError,
    ReplayReport,
    Step,
    apply,
    count_matching,
    position_filters,
    rewind_gold,
    rewind_silver,
)
from wikiguard.application.silver import SilverSettings, parsed_bronze, silver_table
from wikiguard.application.tables import (
    BRONZE_EVENTS,
    BRONZE_QUARANTINE,
    GOLD_ENTITY_METRICS,
    GOLD_GLOBAL_METRICS,
    GOLD_QUARANTINE,
    GOLD_USER_METRICS,
    SILVER_EVENTS,
    SILVER_QUARANTINE,
    TableSpec,
)
from wikiguard.domain.quality import GateThresholds, RuleSet
from wikiguard.domain.rulesets import GOLD_RULES, SILVER_RULES
from wikiguard.domain.windows import window_of

LAYERS = ("bronze", "silver", "gold")
_QUARANTINE = {"bronze": BRONZE_QUARANTINE.name, "silver": SILVER_QUARANTINE.name, "gold": GOLD_QUARANTINE.name}
# Gold tables with the columns that identify one row: its window and its subject.
_GOLD_KEYS = (
    (GOLD_ENTITY_METRICS, ("window_start", "entity")),
    (GOLD_USER_METRICS, ("window_start", "user_name")),
    (GOLD_GLOBAL_METRICS, ("window_start",)),
)


@attrs.frozen
class CurrentRules:
    """What quarantined rows are judged by now: the stages' configuration of the next run."""

    bronze: BronzeStage  # allowlist + bronze rules
    silver: SilverSettings = SilverSettings()
    silver_rules: RuleSet = SILVER_RULES
    gold_rules: RuleSet = GOLD_RULES


@attrs.frozen
class ReprocessReport:
    """What reprocessing did (or on a dry run would do).

    `appended` rows went to the layer's table; `already_present` were accepted but the table already
    held them; `dropped` (bronze) are no longer watched or canaries. Those three left quarantine.
    `cascade`: the downstream rewind the admitted rows caused.
    """

    layer: str
    reason: str
    examined: int
    appended: int
    already_present: int
    dropped: int
    still_quarantined: int
    cascade: ReplayReport
    dry_run: bool = False
    reasons_in_quarantine: Mapping[str, int] = attrs.field(factory=dict)  # every reason there, with its rows

    @property
    def changed(self) -> bool:
        return bool(self.appended or self.already_present or self.dropped) or self.cascade.changed


@attrs.frozen
class _Plan:
    appends: Mapping[str, list[Row]]
    resolved: tuple[RowFilter, ...]  # the quarantine rows that leave
    cascade: list[Step]
    already_present: int = 0
    dropped: int = 0


def reprocess_quarantine(
    store: TableStore, layer: str, reason: str, rules: CurrentRules, *, now: datetime, dry_run: bool = False
) -> ReprocessReport:
    """Judge the `layer` quarantine rows that carry `reason` again; admit those that pass now."""
    if layer not in LAYERS:
        raise ReplayError(f"layer must be one of {', '.join(LAYERS)}, got {layer!r}")
    quarantine = _QUARANTINE[layer]
    rows: list[Row] = []
    present: Counter[str] = Counter()  # every reason in the quarantine, said when none is `reason`
    for row in store.scan(quarantine):
        reasons = row["reasons"] or ()
        present.update(reasons)
        if reason in reasons:
            rows.append(row)
    batch_id = f"reprocess-{now:%Y%m%dT%H%M%S}"
    planner = {"bronze": _bronze, "silver": _silver, "gold": _gold}[layer]
    plan = planner(store, rows, rules, now, batch_id) if rows else _Plan({}, (), [])
    appended = sum(len(r) for r in plan.appends.values())
    cascade = apply(store, plan.cascade, dry_run)
    if dry_run:
        resolved = count_matching(store, quarantine, plan.resolved)
    else:
        for table, new_rows in plan.appends.items():
            if new_rows:
                store.append(table, new_rows, {})
        resolved = store.delete(quarantine, plan.resolved, {}) if plan.resolved else 0
    return ReprocessReport(
        layer=layer,
        reason=reason,
        examined=len(rows),
        reasons_in_quarantine=dict(present.most_common()),
        appended=appended,
        already_present=plan.already_present,
        dropped=plan.dropped,
        still_quarantined=len(rows) - resolved,
        cascade=cascade,
        dry_run=dry_run,
    )


def _bronze(store: TableStore, rows: Sequence[Row], rules: CurrentRules, now: datetime, batch_id: str) -> _Plan:
    records = {
        locate(row): SourceRecord(
            payload=row["record"],
            position=row["source_offset"],
            received_at=row["quarantined_at"],
            topic=row["source_topic"],
            partition=row["source_partition"],
        )
        for row in rows
        if row["source_offset"] is not None
    }
    batch = rules.bronze.process(SourceChunk.of_records(list(records.values())), batch_id=batch_id, now=now)
    admitted: list[Row] = list(rows_of(batch.rows))
    resolved = set(records) - {locate(row) for row in batch.quarantined}
    since = min((locate(row)[2] for row in admitted), default=None)
    present = _positions(store, BRONZE_EVENTS.name, since) if since is not None else set()
    new = [row for row in admitted if locate(row) not in present]
    first: dict[str, int] = {}
    for row in new:
        topic, partition, offset = locate(row)
        key = f"{topic}:{partition}"
        first[key] = min(first.get(key, offset), offset)
    cascade = rewind_silver(store, {key: offset - 1 for key, offset in first.items()}, rules.silver)
    return _Plan(
        appends={BRONZE_EVENTS.name: new},
        resolved=position_filters(BRONZE_QUARANTINE.name, resolved),
        cascade=cascade,
        already_present=len(admitted) - len(new),
        dropped=len(resolved) - len(admitted),
    )


def _silver(store: TableStore, rows: Sequence[Row], rules: CurrentRules, now: datetime, batch_id: str) -> _Plan:
    wanted = {locate(row) for row in rows if row["source_offset"] is not None}
    since = min((p[2] for p in wanted), default=0)
    bronze = {locate(b): b for b in store.scan(BRONZE_EVENTS.name, at_least=("kafka_offset", since))}
    positions = [position for position in sorted(wanted) if position in bronze]  # else replayed: stays quarantined
    candidates: list[tuple[tuple[str, int, int], Row]] = []
    if positions:
        sources, changes = parsed_bronze([bronze[position] for position in positions])
        rows = rows_of(silver_table(sources, changes, batch_id, rules.silver.large_edit_bytes))
        candidates = list(zip(positions, rows, strict=True))
    earliest = min((row["event_timestamp"] for _, row in candidates), default=None)
    scanned = store.scan(SILVER_EVENTS.name, at_least=("event_timestamp", earliest)) if earliest else iter(())
    present = {row["meta_id"] for row in scanned}
    unique: dict[str, Row] = {}
    for _, row in candidates:
        if row["meta_id"] not in present:
            unique.setdefault(row["meta_id"], row)
    gate = run_gate(
        rules.silver_rules, list(unique.values()), batch_id=batch_id, reference=now, thresholds=rules.silver.thresholds
    )
    accepted = present | {row["meta_id"] for row in gate.passed}
    resolved = [position for position, row in candidates if row["meta_id"] in accepted]
    windows = [window_of(row["event_timestamp"], rules.silver.window).start for row in gate.passed]
    return _Plan(
        appends={SILVER_EVENTS.name: gate.passed},
        resolved=position_filters(SILVER_QUARANTINE.name, resolved),
        cascade=rewind_gold(store, min(windows)) if windows else [],
        already_present=len(resolved) - len(gate.passed),
    )


def _gold(store: TableStore, rows: Sequence[Row], rules: CurrentRules, now: datetime, batch_id: str) -> _Plan:
    decoded = [(row["record"], *_metric_row(row["record"])) for row in rows]
    appends: dict[str, list[Row]] = {}
    resolved: set[str] = set()
    present_count = 0
    for spec, key in _GOLD_KEYS:
        mine = [(record, row) for record, table, row in decoded if table is spec]
        if not mine:
            continue
        since = min(row["window_start"] for _, row in mine)
        present = {tuple(r[c] for c in key) for r in store.scan(spec.name, at_least=("window_start", since))}
        gate = run_gate(
            rules.gold_rules, [row for _, row in mine], batch_id=batch_id, reference=now,
            thresholds=GateThresholds(),  # the batch verdict is not recorded here; rows are judged alone
        )  # fmt: skip
        passed = {id(row) for row in gate.passed}
        for record, row in mine:
            if id(row) not in passed:
                continue
            resolved.add(record)
            identity = tuple(row[c] for c in key)
            if identity in present:
                present_count += 1
            else:
                present.add(identity)
                appends.setdefault(spec.name, []).append(row)
    where = (RowFilter({"record": resolved}),) if resolved else ()
    return _Plan(appends=appends, resolved=where, cascade=[], already_present=present_count)


def _metric_row(record: str) -> tuple[TableSpec | None, Row]:
    """The gold table a quarantined metric row belongs to, and the row with its column types back."""
    try:
        data = json.loads(record)
    except ValueError:
        return None, {}
    if not isinstance(data, dict) or "window_start" not in data:
        return None, {}
    spec = GOLD_ENTITY_METRICS if "entity" in data else GOLD_USER_METRICS if "user_name" in data else GOLD_GLOBAL_METRICS
    row = {}
    for column in spec.columns:
        value = data.get(column.name)
        if isinstance(value, str) and column.type == "timestamp":
            value = datetime.fromisoformat(value)
        elif isinstance(value, str) and column.type == "date":
            value = date.fromisoformat(value)
        row[column.name] = value
    return spec, row


def _positions(store: TableStore, table: str, since: int) -> set[tuple[str, int, int]]:
    offset_column = "kafka_offset" if table == BRONZE_EVENTS.name else "source_offset"
    return {locate(row) for row in store.scan(table, at_least=(offset_column, since))}
