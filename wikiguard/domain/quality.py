"""Declarative data-quality rules, their per-row evaluation and the batch gate.

Rules are data (a kind, a column, parameters, a severity) so that the same rule set runs here in pure
Python and compiles to Spark SQL expressions and Deequ checks in the distributed engine.
"""

from __future__ import annotations

import enum
import functools
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs


class Severity(enum.StrEnum):
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


class Outcome(enum.StrEnum):
    SUCCESS = "SUCCESS"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


class RuleKind(enum.StrEnum):
    NOT_NULL = "not_null"  # column is present and not null / not empty string
    RANGE = "range"  # min <= column <= max (either bound optional)
    IN_SET = "in_set"  # column in values
    MATCHES = "matches"  # column matches a regular expression (full match)
    TEMPORAL = "temporal"  # column (a datetime) is not after the reference time + max_future
    FRESHNESS = "freshness"  # reference - column <= max_lag (measured, see the gate's freshness)
    SIZE = "size"  # len(column) <= max
    CONSISTENT = "consistent"  # column == other_column when both are set
    UNIQUE = "unique"  # batch-level: the column has no duplicate values within the batch
    NOT_NULL_UNLESS = "not_null_unless"  # NOT_NULL, except on rows whose other_column is in values
    GREATER_THAN = "greater_than"  # column > other_column when both are set


@attrs.frozen
class Rule:
    """One named check on one column, evaluated per row (UNIQUE per batch)."""

    name: str
    kind: RuleKind
    column: str
    severity: Severity = Severity.WARNING
    min: float | None = None
    max: float | None = None
    values: tuple[Any, ...] = ()
    pattern: str | None = None
    other_column: str | None = None
    max_lag_seconds: float | None = None
    blocking: bool = True  # False: measured and reported, but never quarantines a row

    def failed_by(self, row: Mapping[str, Any], reference: datetime) -> bool:
        """True when `row` breaks this rule. UNIQUE is a batch rule and never fails a single row."""
        value = row.get(self.column)
        kind = self.kind
        if kind is RuleKind.NOT_NULL:
            return value is None or value == ""
        if kind is RuleKind.NOT_NULL_UNLESS:
            return (value is None or value == "") and row.get(self.other_column or "") not in self.values
        if kind is RuleKind.UNIQUE:
            return False
        if value is None:
            return False  # absence is NOT_NULL's business
        if kind is RuleKind.RANGE:
            return bool((self.min is not None and value < self.min) or (self.max is not None and value > self.max))
        if kind is RuleKind.IN_SET:
            return value not in self.values
        if kind is RuleKind.MATCHES:
            return _compiled(self.pattern or "").fullmatch(str(value)) is None
        if kind is RuleKind.TEMPORAL:
            return bool(value > reference + timedelta(seconds=self.max or 0))
        if kind is RuleKind.FRESHNESS:
            return bool((reference - value).total_seconds() > (self.max_lag_seconds or 0))
        if kind is RuleKind.SIZE:
            return len(value) > (self.max or 0)
        if kind is RuleKind.CONSISTENT:
            other = row.get(self.other_column or "")
            return other is not None and other != value
        if kind is RuleKind.GREATER_THAN:
            other = row.get(self.other_column or "")
            return other is not None and not bool(value > other)
        raise AssertionError(kind)


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@attrs.frozen
class GateThresholds:
    critical_below: float = 0.80
    warning_below: float = 0.95


@attrs.frozen
class CheckResult:
    rule: str
    severity: Severity
    failed: int


@attrs.frozen
class BatchQuality:
    """How one batch of one layer fared."""

    layer: str
    batch_id: str
    total: int
    passed: int
    checks: tuple[CheckResult, ...]
    outcome: Outcome
    reasons: Mapping[str, int] = attrs.field(factory=dict)

    @property
    def pass_rate(self) -> float:
        return 1.0 if self.total == 0 else self.passed / self.total

    @property
    def failed_checks(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.failed)


@attrs.frozen
class RuleSet:
    """The rules of one layer."""

    layer: str
    rules: tuple[Rule, ...]

    def reasons(self, row: Mapping[str, Any], reference: datetime) -> list[str]:
        """The names of the blocking rules this row breaks; empty when it passes."""
        return [r.name for r in self.rules if r.blocking and r.failed_by(row, reference)]

    def evaluate(
        self,
        rows: Sequence[Mapping[str, Any]],
        *,
        reference: datetime,
        batch_id: str,
        thresholds: GateThresholds = GateThresholds(),
        upstream_failures: Mapping[str, int] | None = None,
    ) -> tuple[list[list[str]], BatchQuality]:
        """Per-row reasons (aligned with `rows`) and the batch verdict.

        `upstream_failures` are rows already rejected before these rules ran (for example unparseable
        lines in bronze); they count against the pass rate with their own reasons.
        """
        per_row = [self.reasons(row, reference) for row in rows]
        failed_counts: Counter[str] = Counter()
        for row_reasons in per_row:
            failed_counts.update(row_reasons)
        for rule in self.rules:
            if rule.kind is RuleKind.UNIQUE:
                failed_counts[rule.name] = duplicate_count(row.get(rule.column) for row in rows)
            elif not rule.blocking:
                failed_counts[rule.name] = sum(1 for row in rows if rule.failed_by(row, reference))
        upstream = Counter(upstream_failures or {})
        total = len(rows) + sum(upstream.values())
        passed = sum(1 for row_reasons in per_row if not row_reasons)
        checks = tuple(CheckResult(r.name, r.severity, failed_counts.get(r.name, 0)) for r in self.rules)
        checks += tuple(CheckResult(name, Severity.WARNING, n) for name, n in sorted(upstream.items()))
        reasons = dict(failed_counts + upstream)
        quality = BatchQuality(self.layer, batch_id, total, passed, checks, Outcome.SUCCESS, reasons)
        return per_row, attrs.evolve(quality, outcome=gate_outcome(quality, thresholds))


def duplicate_count(values: Iterable[Any]) -> int:
    seen: set[Any] = set()
    dupes = 0
    for value in values:
        if value in seen:
            dupes += 1
        else:
            seen.add(value)
    return dupes


def gate_outcome(quality: BatchQuality, thresholds: GateThresholds = GateThresholds()) -> Outcome:
    """CRITICAL below the critical rate or when a blocking critical rule fails; WARNING below the warning rate."""
    rate = quality.pass_rate
    if rate < thresholds.critical_below:
        return Outcome.CRITICAL
    if any(c.failed and c.severity is Severity.CRITICAL for c in quality.checks):
        return Outcome.CRITICAL
    if rate < thresholds.warning_below:
        return Outcome.WARNING
    return Outcome.SUCCESS
