"""Command-line options and argument types shared by the `wikiguard` command modules."""

from __future__ import annotations

import argparse
from pathlib import Path

import attrs

from wikiguard.entrypoints.settings import Settings


def settings_for(args: argparse.Namespace) -> Settings:
    """The environment's settings, with the command's `--warehouse` and `--allowlist` when given."""
    settings = Settings.from_env()
    if getattr(args, "warehouse", None) is not None:
        settings = attrs.evolve(settings, warehouse=args.warehouse)
    if getattr(args, "allowlist", None) is not None:
        settings = attrs.evolve(settings, allowlist=args.allowlist)
    return settings


def add_warehouse(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--warehouse",
        type=Path,
        default=None,
        help="local Iceberg warehouse folder (default: $WIKIGUARD_WAREHOUSE or ./warehouse)",
    )


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a number of seconds (or hours) above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0 (got {text})")
    return value
