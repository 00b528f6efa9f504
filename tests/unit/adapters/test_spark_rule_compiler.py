"""The rule compiler's text (no JVM): literals, escaping and which rules become reasons.

What the expressions mean is tested against Spark itself in tests/integration/test_spark_quality.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from wikiguard.adapters.spark.rule_compiler import (
    RuleCompileError,
    failed_expression,
    reasons_expression,
    sql_literal,
    sql_string,
    timestamp_literal,
)
from wikiguard.domain.quality import Rule, RuleKind, RuleSet
from wikiguard.domain.rulesets import BRONZE_RULES, GOLD_RULES, SILVER_RULES

NOW = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)


def test_string_literals_escape_quotes_and_backslashes() -> None:
    assert sql_string("it's") == "'it\\'s'"
    assert sql_string(r"\d+") == "'\\\\d+'"


def test_literals_by_type() -> None:
    assert sql_literal(True) == "TRUE"
    assert sql_literal(3) == "3L"
    assert sql_literal("log") == "'log'"
    assert sql_literal(None) == "NULL"
    assert sql_literal(0.1) == "CAST('0.1' AS DOUBLE)"
    with pytest.raises(RuleCompileError):
        sql_literal(object())


def test_timestamp_literal_is_exact_microseconds_since_the_epoch() -> None:
    micros = (NOW - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert timestamp_literal(NOW) == f"timestamp_micros({micros}L)"
    east = NOW.astimezone(timezone(timedelta(hours=5)))
    assert timestamp_literal(east) == timestamp_literal(NOW)
    with pytest.raises(RuleCompileError):
        timestamp_literal(NOW.replace(tzinfo=None))


def test_not_null_treats_empty_strings_as_missing_only_for_strings() -> None:
    rule = Rule("x", RuleKind.NOT_NULL, "c")
    assert "= ''" in failed_expression(rule, NOW, {"c": "string"})
    assert "= ''" not in failed_expression(rule, NOW, {"c": "long"})


def test_matches_is_a_full_unicode_match() -> None:
    expression = failed_expression(Rule("x", RuleKind.MATCHES, "c", pattern=r"\d+"), NOW)
    assert "RLIKE '(?U)^(?:\\\\d+)\\\\z'" in expression


def test_size_uses_size_for_lists_and_length_for_strings() -> None:
    rule = Rule("x", RuleKind.SIZE, "c", max=3)
    assert "size(`c`)" in failed_expression(rule, NOW, {"c": "list<string>"})
    assert "length(`c`)" in failed_expression(rule, NOW, {"c": "string"})


@pytest.mark.parametrize(
    "rule",
    [
        Rule("x", RuleKind.MATCHES, "c"),
        Rule("x", RuleKind.CONSISTENT, "c"),
        Rule("x", RuleKind.GREATER_THAN, "c"),
        Rule("x", RuleKind.NOT_NULL_UNLESS, "c"),
    ],
)
def test_a_rule_missing_its_parameter_is_refused(rule: Rule) -> None:
    with pytest.raises(RuleCompileError, match="needs"):
        failed_expression(rule, NOW)


def test_reasons_hold_the_blocking_row_rules_only() -> None:
    rules = RuleSet(
        "t",
        (
            Rule("kept", RuleKind.NOT_NULL, "a"),
            Rule("measured", RuleKind.RANGE, "b", max=1, blocking=False),
            Rule("batch", RuleKind.UNIQUE, "c"),
        ),
    )
    expression = reasons_expression(rules, NOW)
    assert "'kept'" in expression
    assert "'measured'" not in expression and "'batch'" not in expression
    assert reasons_expression(RuleSet("t", ()), NOW) == "CAST(array() AS ARRAY<STRING>)"


@pytest.mark.parametrize("rules", [BRONZE_RULES, SILVER_RULES, GOLD_RULES], ids=lambda r: r.layer)
def test_every_shipped_rule_compiles(rules: RuleSet) -> None:
    for rule in rules.rules:
        expression = failed_expression(rule, NOW)
        assert expression.count("(") == expression.count(")")
