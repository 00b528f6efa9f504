"""The `wikiguard` command."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from wikiguard.domain.errors import WikiguardError
from wikiguard.entrypoints.arguments import add_warehouse, positive_float, positive_int

logger = logging.getLogger("wikiguard")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wikiguard",
        description="Watch Wikipedia pages in real time: a medallion lakehouse over the recentchange stream.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="run the whole pipeline in one process (embedded engine)",
        description=(
            "Run source -> bronze -> silver -> gold with quality gates and alerts in one process on a "
            "local Iceberg warehouse. A bounded run closes its open windows at the end and prints a summary."
        ),
    )
    run.add_argument(
        "--source",
        default="live",
        help="live (Wikimedia EventStreams), an http(s) SSE URL, a recorded .jsonl/.sse FILE, "
        "simulate (synthetic traffic with attacks), or kafka (the ingest topic) [default: live]",
    )
    run.add_argument("--allowlist", type=Path, default=None, help="allowlist YAML (default: the packaged one)")
    add_warehouse(run)
    bound = run.add_mutually_exclusive_group()
    bound.add_argument("--duration", type=positive_float, default=None, metavar="S", help="stop after S seconds")
    bound.add_argument("--max-events", type=positive_int, default=None, metavar="N", help="stop after N records")
    run.add_argument("--seed", type=int, default=7, help="simulator seed [default: 7]")
    run.add_argument("--batch-rows", type=positive_int, default=None, help="records per Iceberg commit at most")
    run.add_argument("--batch-seconds", type=positive_float, default=None, help="seconds between Iceberg commits at most")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")

    query = sub.add_parser("query", help="run SQL over the warehouse tables (DuckDB)")
    add_warehouse(query)
    query.add_argument("sql", help='for example: "SELECT count(*) FROM silver_events"')
    query.add_argument("--format", choices=("table", "csv", "json"), default="table")

    maintain = sub.add_parser("maintain", help="expire old snapshots and compact small files")
    add_warehouse(maintain)
    maintain.add_argument("--older-than-hours", type=positive_float, default=6.0, help="snapshot retention [default: 6]")

    ingest = sub.add_parser(
        "ingest",
        help="the ingest service: SSE -> allowlist -> Kafka (the Fargate task)",
        description="Configuration comes from the environment (WIKIGUARD_*); see docs/configuration.md.",
    )
    ingest.add_argument("--max-events", type=positive_int, default=None, help="stop after N records (tests)")
    ingest.add_argument("--duration", type=positive_float, default=None, help="stop after S seconds")

    health = sub.add_parser("health", help="exit 0 when the ingest service's heartbeat is fresh")
    health.add_argument("--max-age", type=positive_float, default=120.0, help="seconds [default: 120]")

    # Command groups that live in their own modules register themselves and set `handler`.
    for module in _COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


_COMMAND_MODULES: tuple[str, ...] = ("wikiguard.entrypoints.jobs", "wikiguard.entrypoints.operations")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return _dispatch(args)
    except WikiguardError as error:
        print(f"wikiguard: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if getattr(args, "handler", None) is not None:
        return int(args.handler(args))
    from wikiguard.entrypoints import commands

    handler = {
        "run": commands.run,
        "query": commands.query,
        "maintain": commands.maintain,
        "ingest": commands.ingest,
        "health": commands.health,
    }[args.command]
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
