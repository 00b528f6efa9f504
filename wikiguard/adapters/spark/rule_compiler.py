"""Quality rules (`wikiguard.domain.quality.Rule`) compiled to Spark SQL text.

Pure string building, no JVM: the same `RuleSet` that the embedded engine evaluates row by row in
Python becomes, here, one boolean "failed" expression per rule and one `array<string>` expression of
the blocking rules a row breaks (the quarantine reasons). Every expression is null-safe (never NULL),
so it means exactly what `Rule.failed_by` means, and Deequ's Compliance over `NOT failed` counts the
same rows the Python gate counts.

Semantics kept from `Rule.failed_by`:
- NOT_NULL fails on NULL or the empty string; NOT_NULL_UNLESS the same, unless `other_column` is in
  `values`; UNIQUE never fails a row (it is a batch constraint, see the Deequ adapter).
- Every other kind passes a NULL value (absence is NOT_NULL's business).
- MATCHES is a full match with Python's Unicode classes: `(?U)` makes Java's \\d and \\w Unicode.
- TEMPORAL and FRESHNESS compare with `reference`, the batch's reference time, as a literal.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from wikiguard.domain.quality import Rule, RuleKind, RuleSet
from wikiguard.domain.windows import EPOCH


class RuleCompileError(ValueError):
    """A rule that cannot be expressed in Spark SQL (unknown kind, missing parameter)."""


def sql_string(text: str) -> str:
    """A Spark SQL string literal (default parser: backslash escapes are processed)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def sql_identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def sql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return f"{value}L"
    if isinstance(value, float):
        return f"CAST({sql_string(repr(value))} AS DOUBLE)"
    if isinstance(value, str):
        return sql_string(value)
    raise RuleCompileError(f"no SQL literal for {type(value).__name__} {value!r}")


def timestamp_literal(moment: datetime) -> str:
    """An exact TIMESTAMP literal (microseconds since the epoch; no time-zone parsing involved)."""
    if moment.tzinfo is None:
        raise RuleCompileError("reference time must be timezone-aware")
    micros = (moment.astimezone(UTC) - EPOCH) // _MICROSECOND
    return f"timestamp_micros({micros}L)"


_MICROSECOND = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - EPOCH


def _blank(column_sql: str, logical_type: str) -> str:
    if logical_type == "string":
        return f"({column_sql} IS NULL OR {column_sql} = '')"
    return f"({column_sql} IS NULL)"


def failed_expression(rule: Rule, reference: datetime, types: Mapping[str, str] | None = None) -> str:
    """A boolean Spark SQL expression, never NULL: TRUE when a row breaks `rule`.

    `types` maps column names to the logical types of `wikiguard.application.tables` (string by
    default); it decides how NOT_NULL treats "" and whether SIZE is `length` or `size`.
    """
    types = types or {}
    c = sql_identifier(rule.column)
    o = sql_identifier(rule.other_column) if rule.other_column else None
    kind = rule.kind
    if kind is RuleKind.NOT_NULL:
        return _blank(c, types.get(rule.column, "string"))
    if kind is RuleKind.NOT_NULL_UNLESS:
        if o is None:
            raise RuleCompileError(f"{rule.name}: NOT_NULL_UNLESS needs other_column")
        listed = ", ".join(sql_literal(v) for v in rule.values) or "NULL"
        blank = _blank(c, types.get(rule.column, "string"))
        return f"({blank} AND NOT coalesce({o} IN ({listed}), FALSE))"
    if kind is RuleKind.UNIQUE:
        return "FALSE"
    body = _value_check(rule, c, o, reference, types)
    return f"coalesce({c} IS NOT NULL AND ({body}), FALSE)"


def _value_check(rule: Rule, c: str, o: str | None, reference: datetime, types: Mapping[str, str]) -> str:
    kind = rule.kind
    if kind is RuleKind.RANGE:
        parts = []
        if rule.min is not None:
            parts.append(f"{c} < {sql_literal(float(rule.min))}")
        if rule.max is not None:
            parts.append(f"{c} > {sql_literal(float(rule.max))}")
        return " OR ".join(parts) or "FALSE"
    if kind is RuleKind.IN_SET:
        listed = ", ".join(sql_literal(v) for v in rule.values)
        return f"NOT coalesce({c} IN ({listed}), FALSE)" if listed else "TRUE"
    if kind is RuleKind.MATCHES:
        if rule.pattern is None:
            raise RuleCompileError(f"{rule.name}: MATCHES needs a pattern")
        # ^(?:p)\z is Python's fullmatch: \z, not $, so a trailing newline is not forgiven.
        regex = "(?U)^(?:" + rule.pattern + ")\\z"
        return f"NOT (CAST({c} AS STRING) RLIKE {sql_string(regex)})"
    if kind is RuleKind.TEMPORAL:
        limit_micros = round((rule.max or 0) * 1_000_000)
        return f"unix_micros({c}) > unix_micros({timestamp_literal(reference)}) + {limit_micros}L"
    if kind is RuleKind.FRESHNESS:
        lag = f"(unix_micros({timestamp_literal(reference)}) - unix_micros({c})) / 1000000.0D"
        return f"{lag} > {sql_literal(float(rule.max_lag_seconds or 0))}"
    if kind is RuleKind.SIZE:
        measure = "size" if types.get(rule.column, "string").startswith("list") else "length"
        return f"{measure}({c}) > {sql_literal(float(rule.max or 0))}"
    if kind is RuleKind.CONSISTENT:
        if o is None:
            raise RuleCompileError(f"{rule.name}: CONSISTENT needs other_column")
        return f"{o} IS NOT NULL AND {o} != {c}"
    if kind is RuleKind.GREATER_THAN:
        if o is None:
            raise RuleCompileError(f"{rule.name}: GREATER_THAN needs other_column")
        return f"{o} IS NOT NULL AND NOT coalesce({c} > {o}, FALSE)"
    raise RuleCompileError(f"{rule.name}: unknown rule kind {kind!r}")


def reasons_expression(rules: RuleSet, reference: datetime, types: Mapping[str, str] | None = None) -> str:
    """`array<string>` of the names of the blocking rules a row breaks, in rule order; empty if none."""
    cases = [
        f"CASE WHEN {failed_expression(rule, reference, types)} THEN {sql_string(rule.name)} END"
        for rule in rules.rules
        if rule.blocking and rule.kind is not RuleKind.UNIQUE
    ]
    if not cases:
        return "CAST(array() AS ARRAY<STRING>)"
    return f"filter(array({', '.join(cases)}), x -> x IS NOT NULL)"
