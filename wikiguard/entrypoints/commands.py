"""What each `wikiguard` subcommand does: build the container, run the use case, print the result."""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from wikiguard.application.pipeline import PipelineSettings, RunSummary
from wikiguard.entrypoints.arguments import settings_for
from wikiguard.entrypoints.containers import EmbeddedContainer, is_sse_source, make_catalog

logger = logging.getLogger("wikiguard.run")


def run(args: argparse.Namespace) -> int:
    settings = settings_for(args)
    run_settings = PipelineSettings(
        batch_rows=args.batch_rows or settings.batch_rows,
        batch_seconds=args.batch_seconds if args.batch_seconds is not None else settings.batch_seconds,
        max_events=args.max_events,
        duration_seconds=args.duration,
        freshness_objective_seconds=settings.freshness_objective.total_seconds(),
    )
    container = EmbeddedContainer(settings=settings)
    container.source_kind.override(args.source)
    container.seed.override(args.seed)
    container.follow.override(args.duration is not None)
    container.run_settings.override(run_settings)
    container.init_resources()
    try:
        pipeline = container.pipeline(on_progress=_progress)
        logger.info(
            "running the embedded pipeline: source=%s warehouse=%s allowlist=%d entities",
            args.source,
            settings.warehouse if settings.catalog == "local" else settings.s3_warehouse,
            len(container.allowlist()),
        )
        with _graceful_stop(pipeline.stop):
            summary = pipeline.run()
    finally:
        container.shutdown_resources()
    if args.json:
        print(json.dumps(summary_dict(summary), indent=2, default=str))
    else:
        print(format_summary(summary))
    if summary.read == 0 and is_sse_source(args.source):
        # The live feed carries 15-35 events a second: a whole run without one means it was unreachable.
        logger.error("nothing was read from %s in the whole run: the stream is unreachable (see the log)", args.source)
        return 1
    return 0 if summary.balanced else 1


@contextlib.contextmanager
def _graceful_stop(stop: Callable[[], None]) -> Iterator[None]:
    """First Ctrl-C or SIGTERM: finish the batch, close windows, print the summary. Second: abort."""
    calls = []

    def handler(signum: int, frame: object) -> None:
        calls.append(signum)
        if len(calls) > 1:
            raise KeyboardInterrupt
        logger.info("stopping after the current batch (again to abort)")
        stop()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _progress(summary: RunSummary) -> None:
    logger.info(
        "read %d | bronze %d | silver %d | gold windows: entity %d user %d | quarantined %d | alerts %d",
        summary.read,
        summary.bronze_rows,
        summary.silver_rows,
        summary.gold_entity_rows,
        summary.gold_user_rows,
        summary.bronze_quarantined + summary.silver_quarantined,
        summary.alerts_sent,
    )


def summary_dict(s: RunSummary) -> dict[str, Any]:
    return {
        "read": s.read,
        "filtered_out": s.filtered_out,
        "canaries": s.canaries,
        "bronze_rows": s.bronze_rows,
        "bronze_quarantined": s.bronze_quarantined,
        "balanced": s.balanced,
        "silver_rows": s.silver_rows,
        "duplicates": s.duplicates,
        "silver_quarantined": s.silver_quarantined,
        "gold_entity_rows": s.gold_entity_rows,
        "gold_user_rows": s.gold_user_rows,
        "gold_global_rows": s.gold_global_rows,
        "gold_quarantined": s.gold_quarantined,
        "quarantine_reasons": dict(s.quarantine_reasons.most_common()),
        "quality_outcomes": dict(sorted(s.outcomes.items())),
        "alerts_sent": s.alerts_sent,
        "alerts_suppressed": s.alerts_suppressed,
        "top_anomalies": [{"risk_score": r, "anomaly": text} for r, text in s.anomalies[:10]],
        "batches": s.batches,
        "stage_seconds": {k: round(v, 3) for k, v in sorted(s.stage_seconds.items())},
        "closed_until_at_start": s.closed_until_at_start,
    }


def format_summary(s: RunSummary) -> str:
    check = "=" if s.balanced else "!="
    lines = [
        "",
        "WikiGuard run summary",
        f"  lines read {s.read} {check} filtered out {s.filtered_out} + canaries {s.canaries}"
        f" + bronze rows {s.bronze_rows} + bronze quarantine {s.bronze_quarantined}",
        f"  silver: {s.silver_rows} rows, {s.duplicates} duplicates dropped, {s.silver_quarantined} quarantined",
        f"  gold: {s.gold_entity_rows} entity, {s.gold_user_rows} user, {s.gold_global_rows} global window rows,"
        f" {s.gold_quarantined} quarantined",
    ]
    if s.quarantine_reasons:
        reasons = ", ".join(f"{reason} {n}" for reason, n in s.quarantine_reasons.most_common())
        lines.append(f"  quarantine by reason: {reasons}")
    if s.outcomes:
        lines.append("  quality outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(s.outcomes.items())))
    if s.read == 0:
        lines.append("  nothing was read: the source was empty, already consumed, or unreachable (see the log)")
    late = s.quarantine_reasons.get("late", 0)
    if late and 2 * late >= s.bronze_rows and s.closed_until_at_start is not None:  # most of it: say why
        lines.append(
            f"  {late} late: this warehouse had closed every window before {s.closed_until_at_start:%Y-%m-%d %H:%M} UTC"
            " when the run began; older events are late here (another --warehouse starts afresh;"
            " `wikiguard reprocess --layer silver --reason late` admits them)"
        )
    lines.append(f"  alerts: {s.alerts_sent} sent, {s.alerts_suppressed} suppressed")
    if s.anomalies:
        lines.append("  top anomalies:")
        lines.extend(f"    [{score:3d}] {text}" for score, text in s.anomalies[:10])
    else:
        lines.append("  top anomalies: none")
    return "\n".join(lines)


def query(args: argparse.Namespace) -> int:
    from wikiguard.adapters.duckdb.query import DuckDbLakehouseQuery

    settings = settings_for(args)
    columns, rows = DuckDbLakehouseQuery(make_catalog(settings, create=False)).run(args.sql)
    if args.format == "json":
        print(json.dumps([dict(zip(columns, row, strict=True)) for row in rows], default=str, indent=2))
    elif args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        print(_table(columns, rows))
    return 0


def _table(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    text = [[str(c) for c in columns]] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [min(60, max(len(r[i]) for r in text)) for i in range(len(columns))]
    out = []
    for n, r in enumerate(text):
        out.append(" | ".join(v[:60].ljust(w) for v, w in zip(r, widths, strict=True)))
        if n == 0:
            out.append("-+-".join("-" * w for w in widths))
    out.append(f"({len(rows)} rows)")
    return "\n".join(out)


def maintain(args: argparse.Namespace) -> int:
    from wikiguard.adapters.iceberg.table_store import IcebergTableStore
    from wikiguard.application.tables import ALL_TABLES

    settings = settings_for(args)
    store = IcebergTableStore(make_catalog(settings, create=False), ALL_TABLES)
    store.ensure_tables()
    done = store.maintain(datetime.now(UTC) - timedelta(hours=args.older_than_hours))
    print(json.dumps(dict(done), indent=2))
    return 0


def ingest(args: argparse.Namespace) -> int:
    from wikiguard.entrypoints import ingest as ingest_service

    argv: list[str] = []
    if args.max_events is not None:
        argv += ["--max-events", str(args.max_events)]
    if args.duration is not None:
        argv += ["--duration", str(args.duration)]
    return ingest_service.main(argv)


def health(args: argparse.Namespace) -> int:
    from wikiguard.entrypoints import ingest as ingest_service

    return ingest_service.health(args.max_age)
