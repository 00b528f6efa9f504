from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from wikiguard.domain.quality import (
    BatchQuality,
    CheckResult,
    GateThresholds,
    Outcome,
    Rule,
    RuleKind,
    RuleSet,
    Severity,
    gate_outcome,
)

NOW = datetime(2026, 1, 29, 12, tzinfo=UTC)
RULES = RuleSet(
    "silver",
    (
        Rule("meta_id_present", RuleKind.NOT_NULL, "meta_id", Severity.CRITICAL),
        Rule("bytes_in_range", RuleKind.RANGE, "bytes_changed", min=-1e6, max=1e6),
        Rule("type_known", RuleKind.IN_SET, "event_type", values=("edit", "new")),
        Rule("wiki_name", RuleKind.MATCHES, "wiki", pattern=r"[a-z0-9_]+"),
        Rule("not_in_future", RuleKind.TEMPORAL, "event_timestamp", max=300),
        Rule("fresh", RuleKind.FRESHNESS, "event_timestamp", max_lag_seconds=600, blocking=False),
        Rule("short_title", RuleKind.SIZE, "title", max=10),
        Rule("ids_unique", RuleKind.UNIQUE, "meta_id"),
    ),
)


def row(**kw):
    base = {"meta_id": "a", "bytes_changed": 10, "event_type": "edit", "wiki": "enwiki",
            "event_timestamp": NOW, "title": "Earth"}
    return base | kw


def test_each_failing_row_gets_its_own_reasons():
    rows = [
        row(),
        row(meta_id="b", bytes_changed=10**7, wiki="EN WIKI"),
        row(meta_id=None, event_type="log"),
        row(meta_id="c", event_timestamp=NOW + timedelta(hours=1), title="x" * 20),
        row(meta_id="d", event_timestamp=NOW - timedelta(days=3)),  # stale: measured, not quarantined
    ]
    per_row, quality = RULES.evaluate(rows, reference=NOW, batch_id="b1")
    assert per_row == [
        [],
        ["bytes_in_range", "wiki_name"],
        ["meta_id_present", "type_known"],
        ["not_in_future", "short_title"],
        [],
    ]
    assert quality.total == 5 and quality.passed == 2
    failed = {c.rule: c.failed for c in quality.failed_checks}
    assert failed == {"meta_id_present": 1, "bytes_in_range": 1, "type_known": 1, "wiki_name": 1,
                      "not_in_future": 1, "short_title": 1, "fresh": 1}
    assert quality.outcome is Outcome.CRITICAL  # 40 % pass, and a critical rule failed


def test_uniqueness_is_a_batch_check():
    _, quality = RULES.evaluate([row(), row()], reference=NOW, batch_id="b")
    assert {c.rule: c.failed for c in quality.failed_checks} == {"ids_unique": 1}
    assert quality.outcome is Outcome.SUCCESS


def test_upstream_failures_count_against_the_rate():
    _, quality = RULES.evaluate([row()] * 9, reference=NOW, batch_id="b", upstream_failures={"invalid_json": 1})
    assert quality.total == 10 and quality.pass_rate == 0.9
    assert quality.outcome is Outcome.WARNING
    assert quality.reasons["invalid_json"] == 1


def quality_of(rate_num: int, critical_failed: bool) -> BatchQuality:
    checks = (CheckResult("c", Severity.CRITICAL, 1 if critical_failed else 0),)
    return BatchQuality("x", "b", 100, rate_num, checks, Outcome.SUCCESS)


RANK = {Outcome.SUCCESS: 0, Outcome.WARNING: 1, Outcome.CRITICAL: 2}


@given(st.integers(0, 100), st.integers(0, 100), st.booleans(),
       st.floats(0.5, 0.9), st.floats(0.9, 1.0))
def test_outcome_is_monotone_in_the_pass_rate(a, b, critical, crit_below, warn_below):
    lo, hi = sorted((a, b))
    thresholds = GateThresholds(crit_below, warn_below)
    worse = gate_outcome(quality_of(lo, critical), thresholds)
    better = gate_outcome(quality_of(hi, critical), thresholds)
    assert RANK[worse] >= RANK[better]


def test_thresholds():
    t = GateThresholds()
    assert gate_outcome(quality_of(79, False), t) is Outcome.CRITICAL
    assert gate_outcome(quality_of(80, False), t) is Outcome.WARNING
    assert gate_outcome(quality_of(94, False), t) is Outcome.WARNING
    assert gate_outcome(quality_of(95, False), t) is Outcome.SUCCESS
    assert gate_outcome(quality_of(99, True), t) is Outcome.CRITICAL


def test_records_that_left_valid_before_the_rules_count_as_passed():
    _, quality = RULES.evaluate([row()], reference=NOW, batch_id="b", upstream_failures={"invalid_json": 2},
                                upstream_passed=97)
    assert quality.total == 100 and quality.passed == 98
    assert quality.outcome is Outcome.SUCCESS
