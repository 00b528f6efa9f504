"""The run summary says why most of a run went to quarantine as late."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from wikiguard.application.pipeline import RunSummary
from wikiguard.entrypoints.commands import format_summary

CLOSED = datetime(2026, 1, 29, 12, 40, tzinfo=UTC)


def summary(late: int, bronze: int, closed: datetime | None) -> RunSummary:
    return RunSummary(read=bronze, bronze_rows=bronze, silver_rows=bronze - late, silver_quarantined=late,
                      quarantine_reasons=Counter({"late": late}), closed_until_at_start=closed)  # fmt: skip


def test_a_run_mostly_late_against_an_earlier_warehouse_says_why() -> None:
    text = format_summary(summary(late=49, bronze=49, closed=CLOSED))
    assert "49 late: this warehouse had closed every window before 2026-01-29 12:40 UTC" in text


def test_a_few_late_events_or_a_fresh_warehouse_need_no_explanation() -> None:
    assert "this warehouse had closed" not in format_summary(summary(late=3, bronze=100, closed=CLOSED))
    assert "this warehouse had closed" not in format_summary(summary(late=49, bronze=49, closed=None))
