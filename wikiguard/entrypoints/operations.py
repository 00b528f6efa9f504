"""`wikiguard replay ...` and `wikiguard reprocess`: replay and recovery as commands (docs/operations.md).

Each command moves tables back (or admits quarantined rows) on the configured warehouse and says
what it did; the next `wikiguard run` recomputes what was moved back. `--dry-run` says what would
change and changes nothing. Stop any pipeline running on the same warehouse first.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from wikiguard.application.replay import ReplayReport, replay_bronze, replay_gold, replay_silver
from wikiguard.application.reprocess import LAYERS, CurrentRules, ReprocessReport, reprocess_quarantine
from wikiguard.application.tables import ALL_TABLES
from wikiguard.entrypoints.arguments import add_warehouse, settings_for
from wikiguard.entrypoints.containers import EmbeddedContainer


def register(subparsers: Any) -> None:
    """Add `replay {bronze,silver,gold,snapshots}` and `reprocess` to the `wikiguard` command."""
    replay = subparsers.add_parser(
        "replay",
        help="move a layer back so that the next run recomputes it",
        description="Delete a layer's rows from a point on and move its checkpoints (and those of the "
        "layers below it) back; the next `wikiguard run` recomputes them. See docs/operations.md.",
    )
    layers = replay.add_subparsers(dest="layer", required=True)

    bronze = layers.add_parser("bronze", help="re-read the source from offsets (silver and gold follow)")
    start = bronze.add_mutually_exclusive_group(required=True)
    start.add_argument(
        "--from-offsets",
        type=offsets,
        metavar="TOPIC:P=OFFSET,...",
        help="the first offset to read again per partition, e.g. 'cleaned_events:0=123,cleaned_events:1=456' "
        "(a recording is 'embedded:0=LINE')",
    )
    start.add_argument("--earliest", action="store_true", help="re-read every partition from its start")
    _common(bronze)
    bronze.set_defaults(handler=_replay_bronze)

    silver = layers.add_parser("silver", help="recompute silver (and gold) from bronze")
    point = silver.add_mutually_exclusive_group(required=True)
    point.add_argument("--since", type=moment, metavar="DATE", help="events from this date (or ISO time, UTC) on")
    point.add_argument("--snapshot", type=int, metavar="ID", help="back to this silver_events snapshot")
    _common(silver)
    silver.set_defaults(handler=_replay_silver)

    gold = layers.add_parser("gold", help="recompute gold's windows from silver")
    gold.add_argument("--since", type=moment, required=True, metavar="DATE", help="windows from this date on")
    _common(gold)
    gold.set_defaults(handler=_replay_gold)

    snapshots = layers.add_parser("snapshots", help="list a table's retained snapshots and their checkpoints")
    snapshots.add_argument("--table", default="silver_events", choices=[t.name for t in ALL_TABLES])
    add_warehouse(snapshots)
    snapshots.set_defaults(handler=_snapshots)

    reprocess = subparsers.add_parser(
        "reprocess",
        help="judge quarantined rows again by the current rules; admit those that pass",
        description="Rows of a layer's quarantine carrying REASON are re-run through the layer's current "
        "rules; those that pass go to the layer's table and leave quarantine. See docs/operations.md.",
    )
    reprocess.add_argument("--layer", choices=LAYERS, required=True)
    reprocess.add_argument("--reason", required=True, help="a quarantine reason, e.g. late, invalid_json")
    reprocess.add_argument("--allowlist", type=Path, default=None, help="allowlist YAML (bronze; default: packaged)")
    _common(reprocess)
    reprocess.set_defaults(handler=_reprocess)


def _common(parser: argparse.ArgumentParser) -> None:
    add_warehouse(parser)
    parser.add_argument("--dry-run", action="store_true", help="say what would change; change nothing")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def offsets(text: str) -> dict[str, int]:
    """`'topic:0=123,topic:1=456'` -> {"topic:0": 123, "topic:1": 456}."""
    out: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.rpartition("=")
        topic, colon, partition = key.rpartition(":")
        if not (sep and colon and topic and partition.isdigit() and value.isdigit()):
            raise argparse.ArgumentTypeError(f"expected TOPIC:PARTITION=OFFSET, got {item!r}")
        out[f"{topic}:{int(partition)}"] = int(value)
    if not out:
        raise argparse.ArgumentTypeError("no offsets given")
    return out


def moment(text: str) -> datetime:
    """A date (its midnight UTC) or an ISO date-time (UTC unless it says otherwise)."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date (2026-01-29) or an ISO time, got {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _container(args: argparse.Namespace) -> EmbeddedContainer:
    container = EmbeddedContainer(settings=settings_for(args))
    container.store().ensure_tables()
    return container


def _replay_bronze(args: argparse.Namespace) -> int:
    c = _container(args)
    report = replay_bronze(
        c.store(), c.silver_settings(), from_offsets=args.from_offsets, earliest=args.earliest, dry_run=args.dry_run
    )
    start = "the earliest offsets" if args.earliest else _offsets_text(args.from_offsets)
    return _print_replay(args, f"replay bronze from {start}", report)


def _replay_silver(args: argparse.Namespace) -> int:
    c = _container(args)
    report = replay_silver(
        c.store(), c.silver_settings(), since=args.since, snapshot_id=args.snapshot, dry_run=args.dry_run
    )
    point = f"snapshot {args.snapshot}" if args.snapshot is not None else f"events since {args.since.isoformat()}"
    return _print_replay(args, f"replay silver to {point}", report)


def _replay_gold(args: argparse.Namespace) -> int:
    c = _container(args)
    report = replay_gold(c.store(), args.since, window=c.silver_settings().window, dry_run=args.dry_run)
    return _print_replay(args, f"replay gold since {args.since.isoformat()}", report)


def _snapshots(args: argparse.Namespace) -> int:
    for snapshot in _container(args).store().snapshots(args.table):
        print(snapshot.snapshot_id, snapshot.committed_at.isoformat(), json.dumps(dict(snapshot.checkpoints)))
    return 0


def _reprocess(args: argparse.Namespace) -> int:
    c = _container(args)
    rules = CurrentRules(bronze=c.bronze(), silver=c.silver_settings())
    report = reprocess_quarantine(
        c.store(), args.layer, args.reason, rules, now=c.clock().now(), dry_run=args.dry_run
    )
    if args.json:
        print(json.dumps(reprocess_dict(report), indent=2))
        return 0
    dry = " (dry run: nothing changed)" if report.dry_run else ""
    print(f"reprocess {report.layer} quarantine, reason {report.reason!r}{dry}:")
    print(f"  examined {report.examined}: appended {report.appended}, already present {report.already_present},"
          f" dropped {report.dropped}, still quarantined {report.still_quarantined}")  # fmt: skip
    if not report.examined:
        there = ", ".join(f"{name} {n}" for name, n in report.reasons_in_quarantine.items())
        print(f"  no row there has that reason; the reasons there: {there}" if there else "  the quarantine is empty")
    if report.cascade.changed:
        print(_replay_text("  downstream rewind", report.cascade))
        print("  next: `wikiguard run` recomputes what was moved back")
    return 0


def _print_replay(args: argparse.Namespace, title: str, report: ReplayReport) -> int:
    if args.json:
        print(json.dumps({"what": title, **replay_dict(report)}, indent=2))
    else:
        print(_replay_text(title, report))
        if report.changed and not report.dry_run:
            print("next: `wikiguard run` (same source) recomputes what was deleted")
    return 0


def _replay_text(title: str, report: ReplayReport) -> str:
    if not report.changed:
        return f"{title}: nothing to do (already there)"
    lines = [f"{title}{' (dry run: nothing changed)' if report.dry_run else ''}:"]
    for table, keys in report.checkpoints.items():
        moved = ", ".join(f"{k}={v}" for k, v in keys.items())
        lines.append(f"  {table}: {'would delete' if report.dry_run else 'deleted'} "
                     f"{report.deleted.get(table, 0)} rows; checkpoint {moved}")  # fmt: skip
    return "\n".join(lines)


def replay_dict(report: ReplayReport) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run,
        "changed": report.changed,
        "deleted": dict(report.deleted),
        "checkpoints": {table: dict(keys) for table, keys in report.checkpoints.items()},
    }


def reprocess_dict(report: ReprocessReport) -> dict[str, Any]:
    fields = ("layer", "reason", "examined", "appended", "already_present", "dropped", "still_quarantined", "dry_run")
    return {
        **{f: getattr(report, f) for f in fields},
        "changed": report.changed,
        "cascade": replay_dict(report.cascade),
        "reasons_in_quarantine": dict(report.reasons_in_quarantine),
    }


def _offsets_text(positions: dict[str, int]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(positions.items()))
