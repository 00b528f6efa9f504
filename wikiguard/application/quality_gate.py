"""The data-quality gate every layer passes its batch through.

Rows that break a blocking rule go to the layer's quarantine table with their own reasons; the batch
gets a verdict (SUCCESS / WARNING / CRITICAL) that is written to `quality_metrics` and drives alerts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import attrs
import pyarrow as pa
import pyarrow.compute as pc

from wikiguard.application.batches.frames import marked, rows_of
from wikiguard.application.batches.gate import evaluate_batch
from wikiguard.application.ports import Row
from wikiguard.domain.quality import BatchQuality, GateThresholds, RuleSet


@attrs.frozen
class GateResult:
    passed: list[Row]
    quarantined: list[Row]
    quality: BatchQuality


def run_gate(
    rules: RuleSet,
    rows: Sequence[Row],
    *,
    batch_id: str,
    reference: datetime,
    thresholds: GateThresholds,
    upstream_failures: Mapping[str, int] | None = None,
    upstream_passed: int = 0,
) -> GateResult:
    """Split `rows` into those that pass and quarantine rows for those that do not."""
    per_row, quality = rules.evaluate(
        rows,
        reference=reference,
        batch_id=batch_id,
        thresholds=thresholds,
        upstream_failures=upstream_failures,
        upstream_passed=upstream_passed,
    )
    passed: list[Row] = []
    quarantined: list[Row] = []
    for row, reasons in zip(rows, per_row, strict=True):
        if not reasons:
            passed.append(row)
            continue
        quarantined.append(_refused(rules.layer, row, reasons, to_json(row), batch_id=batch_id, at=reference))
    return GateResult(passed, quarantined, quality)


@attrs.frozen
class TableGateResult:
    passed: pa.Table
    quarantined: list[Row]
    quality: BatchQuality
    kept: pa.Array | None = None  # which input rows passed (None: all of them)


def run_table_gate(
    rules: RuleSet,
    table: pa.Table,
    *,
    batch_id: str,
    reference: datetime,
    thresholds: GateThresholds,
    upstream_failures: Mapping[str, int] | None = None,
    upstream_passed: int = 0,
    record_column: str | None = None,
) -> TableGateResult:
    """`run_gate` on a batch held as an Arrow table: the rows that pass stay columns; a refused row's
    record is its `record_column` (bronze: the raw event) or else the row as JSON."""
    failing, quality = evaluate_batch(
        rules,
        table,
        reference=reference,
        batch_id=batch_id,
        thresholds=thresholds,
        upstream_failures=upstream_failures,
        upstream_passed=upstream_passed,
    )
    if not failing:
        return TableGateResult(table, [], quality)
    indices = sorted(failing)
    quarantined = []
    for index, row in zip(indices, rows_of(table.take(pa.array(indices, pa.int64()))), strict=True):
        record = str(row[record_column]) if record_column else to_json(row)
        quarantined.append(_refused(rules.layer, row, failing[index], record, batch_id=batch_id, at=reference))
    kept = pc.invert(marked(table.num_rows, failing))
    return TableGateResult(table.filter(kept), quarantined, quality, kept)


def _refused(layer: str, row: Row, reasons: Sequence[str], record: str, *, batch_id: str, at: datetime) -> Row:
    return quarantine_row(
        layer=layer,
        batch_id=batch_id,
        record=record,
        reasons=reasons,
        quarantined_at=at,
        meta_id=row.get("meta_id"),
        source=(row.get("kafka_topic"), row.get("kafka_partition"), row.get("kafka_offset")),
        event_timestamp=row.get("event_timestamp") or row.get("window_start"),
    )


def quarantine_row(
    *,
    layer: str,
    batch_id: str,
    record: str,
    reasons: Sequence[str],
    quarantined_at: datetime,
    meta_id: str | None = None,
    source: tuple[str | None, int | None, int | None] = (None, None, None),
    event_timestamp: datetime | None = None,
) -> Row:
    topic, partition, offset = source
    return {
        "meta_id": meta_id,
        "record": record,
        "layer": layer,
        "batch_id": batch_id,
        "reasons": list(reasons),
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "quarantined_at": quarantined_at,
        "event_timestamp": event_timestamp,
        "event_date": (event_timestamp or quarantined_at).date(),
    }


def quality_metrics_row(
    quality: BatchQuality,
    *,
    engine: str,
    measured_at: datetime,
    freshness_p50_seconds: float | None = None,
    freshness_max_seconds: float | None = None,
) -> Row:
    return {
        "layer": quality.layer,
        "batch_id": quality.batch_id,
        "engine": engine,
        "measured_at": measured_at,
        "total_rows": quality.total,
        "passed_rows": quality.passed,
        "pass_rate": quality.pass_rate,
        "outcome": str(quality.outcome),
        "failed_checks": [f"{c.rule}={c.failed}" for c in quality.failed_checks],
        "reasons": [f"{name}={n}" for name, n in sorted(quality.reasons.items()) if n],
        "freshness_p50_seconds": freshness_p50_seconds,
        "freshness_max_seconds": freshness_max_seconds,
        "event_date": measured_at.date(),
    }


def to_json(row: Row) -> str:
    return json.dumps(row, default=_json_default, sort_keys=True, ensure_ascii=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
