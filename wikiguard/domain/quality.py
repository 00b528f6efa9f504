"""Declarative data-quality rules, their per-row evaluation and the batch gate.

Rules are data (a kind, a column, parameters, a severity) so that the same rule set runs here in pure
Python and compiles to Spark SQL expressions and Deequ checks in the distributed engine.
"""

from __future__ import annotations

import enum
import functools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from itertools import compress, repeat
from operator import contains, gt, itemgetter
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

    def compiled(self) -> Check:
        """`failed_by` specialised to this rule's kind and parameters: the same answers (a property
        test says so), without the kind dispatch and parameter look-ups on every row."""
        return _BUILDERS[self.kind](self)


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


Check = Callable[[Mapping[str, Any], datetime], bool]  # (row, reference) -> the row breaks the rule


def _on_value(rule: Rule, fails: Callable[[Any, datetime], bool]) -> Check:
    """A check of every kind but NOT_NULL* and UNIQUE: a row without the value passes (absence is
    NOT_NULL's business); `fails(value, reference)` judges the others."""
    column = rule.column

    def check(row: Mapping[str, Any], reference: datetime) -> bool:
        value = row.get(column)
        return value is not None and fails(value, reference)

    return check


def _against_other(rule: Rule, fails: Callable[[Any, Any], bool]) -> Check:
    """CONSISTENT and GREATER_THAN: judged only when both columns are set."""
    column, other_column = rule.column, rule.other_column or ""

    def check(row: Mapping[str, Any], reference: datetime) -> bool:
        value = row.get(column)
        if value is None:
            return False
        other = row.get(other_column)
        return other is not None and fails(value, other)

    return check


def _not_null(rule: Rule) -> Check:
    column = rule.column

    def check(row: Mapping[str, Any], reference: datetime) -> bool:
        value = row.get(column)
        return value is None or value == ""

    return check


def _not_null_unless(rule: Rule) -> Check:
    column, other, exempt = rule.column, rule.other_column or "", rule.values

    def check(row: Mapping[str, Any], reference: datetime) -> bool:
        value = row.get(column)
        return (value is None or value == "") and row.get(other) not in exempt

    return check


def _range(rule: Rule) -> Check:
    low, high = rule.min, rule.max
    return _on_value(rule, lambda v, _: bool((low is not None and v < low) or (high is not None and v > high)))


def _matches(rule: Rule) -> Check:
    fullmatch = _compiled(rule.pattern or "").fullmatch
    return _on_value(rule, lambda v, _: fullmatch(str(v)) is None)


def _temporal(rule: Rule) -> Check:
    skew = timedelta(seconds=rule.max or 0)
    return _on_value(rule, lambda v, reference: bool(v > reference + skew))


def _freshness(rule: Rule) -> Check:
    max_lag = rule.max_lag_seconds or 0
    return _on_value(rule, lambda v, reference: bool((reference - v).total_seconds() > max_lag))


def _size(rule: Rule) -> Check:
    limit = rule.max or 0
    return _on_value(rule, lambda v, _: len(v) > limit)


_BUILDERS: dict[RuleKind, Callable[[Rule], Check]] = {
    RuleKind.NOT_NULL: _not_null,
    RuleKind.NOT_NULL_UNLESS: _not_null_unless,
    RuleKind.UNIQUE: lambda rule: lambda row, reference: False,  # a batch rule, see `RuleSet.evaluate`
    RuleKind.RANGE: _range,
    RuleKind.IN_SET: lambda rule: _on_value(rule, lambda v, _: v not in rule.values),
    RuleKind.MATCHES: _matches,
    RuleKind.TEMPORAL: _temporal,
    RuleKind.FRESHNESS: _freshness,
    RuleKind.SIZE: _size,
    RuleKind.CONSISTENT: lambda rule: _against_other(rule, lambda v, other: other != v),
    RuleKind.GREATER_THAN: lambda rule: _against_other(rule, lambda v, other: not bool(v > other)),
}


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
    # Each rule's compiled check, built once: the gate runs them for every row of every batch.
    _checks: tuple[Check, ...] = attrs.field(init=False, repr=False, eq=False)
    _blocking: tuple[tuple[str, Check], ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        checks = tuple(rule.compiled() for rule in self.rules)
        object.__setattr__(self, "_checks", checks)
        blocking = tuple((r.name, check) for r, check in zip(self.rules, checks, strict=True) if r.blocking)
        object.__setattr__(self, "_blocking", blocking)

    # Pickled as data (closures do not pickle); the checks are rebuilt on the other side.
    def __getstate__(self) -> tuple[str, tuple[Rule, ...]]:
        return self.layer, self.rules

    def __setstate__(self, state: tuple[str, tuple[Rule, ...]]) -> None:
        object.__setattr__(self, "layer", state[0])
        object.__setattr__(self, "rules", state[1])
        self.__attrs_post_init__()

    def reasons(self, row: Mapping[str, Any], reference: datetime) -> list[str]:
        """The names of the blocking rules this row breaks; empty when it passes."""
        return [name for name, check in self._blocking if check(row, reference)]

    def proves_clean(self, rows: Sequence[Mapping[str, Any]]) -> bool:
        """True when no row breaks any rule of this set (blocking or not), shown a column at a time in C
        (min, max, all, `in`) instead of one rule call per row; False when some row might, or when a rule
        is not of a kind this knows (UNIQUE among them: it judges the whole batch, not rows).

        `rows` share their columns (gold: one scope of one window). What is proven per kind:
        NOT_NULL: no value is None or "". RANGE: no value below `min` or above `max`, from the column's
        min and max (a None or a value that does not compare with the bounds raises: not proven).
        GREATER_THAN: every `column > other_column` is true.
        """
        if not rows:
            return True
        first = rows[0]
        try:
            for rule in self.rules:
                kind = rule.kind
                if rule.column not in first:
                    if kind is not RuleKind.RANGE or any(map(contains, rows, repeat(rule.column))):
                        return False
                    continue  # absent everywhere: a RANGE rule passes a row without its column
                values = list(map(itemgetter(rule.column), rows))
                if kind is RuleKind.RANGE:
                    # min() keeps a NaN it starts with and skips every later one (no comparison with a
                    # NaN is true), so "not >=" (and "not <=") also refuses a column that starts with one.
                    if rule.min is not None and not min(values) >= rule.min:
                        return False
                    if rule.max is not None and not max(values) <= rule.max:
                        return False
                elif kind is RuleKind.NOT_NULL:
                    if None in values or "" in values:
                        return False
                elif kind is RuleKind.GREATER_THAN and rule.other_column in first:
                    if not all(map(gt, values, map(itemgetter(rule.other_column), rows))):
                        return False
                else:
                    return False
        except (KeyError, TypeError):  # a row without the column, a None or a value that does not compare
            return False
        return True

    def evaluate(
        self,
        rows: Sequence[Mapping[str, Any]],
        *,
        reference: datetime,
        batch_id: str,
        thresholds: GateThresholds = GateThresholds(),
        upstream_failures: Mapping[str, int] | None = None,
        upstream_passed: int = 0,
    ) -> tuple[list[list[str]], BatchQuality]:
        """Per-row reasons (aligned with `rows`) and the batch verdict.

        `upstream_failures` are rows already rejected before these rules ran (for example unparseable
        lines in bronze); they count against the pass rate with their own reasons. `upstream_passed`
        are records that were valid but left before these rules (bronze: valid events of unwatched
        pages), so the rate describes the whole input, not only the watched share of it.
        """
        # One pass over the batch per rule (most rows pass every rule, so only the failing row
        # numbers are kept); a row's reasons come out in rule order, as `reasons` gives them.
        per_row: list[list[str]] = [[] for _ in rows]
        failed_counts: Counter[str] = Counter()  # blocking rules: how many rows they quarantine
        measured: dict[str, int] = {}  # UNIQUE and non-blocking rules: measured only
        for rule, check in zip(self.rules, self._checks, strict=True):
            if rule.kind is RuleKind.UNIQUE:
                measured[rule.name] = duplicate_count(row.get(rule.column) for row in rows)
                continue
            failing = list(compress(range(len(rows)), map(check, rows, repeat(reference))))
            if not rule.blocking:
                measured[rule.name] = len(failing)
                continue
            failed_counts[rule.name] += len(failing)
            for index in failing:
                per_row[index].append(rule.name)
        for name, count in measured.items():
            failed_counts[name] = count
        upstream = Counter(upstream_failures or {})
        total = len(rows) + sum(upstream.values()) + upstream_passed
        passed = sum(1 for row_reasons in per_row if not row_reasons) + upstream_passed
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
