"""The fast paths give the answers of the general definitions they stand in for."""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.strategies import damaged_events, json_values, raw_events, users
from wikiguard.domain.enrichment import (
    is_anonymous,
    is_ip_address,
    is_temporary_account,
    user_type,
)
from wikiguard.domain.events import (
    KNOWN_TYPES,
    _parse_time,
    parse_any,
    parse_change,
    parse_time,
    parse_well_formed,
)
from wikiguard.domain.quality import (
    BatchQuality,
    CheckResult,
    Outcome,
    Rule,
    RuleKind,
    RuleSet,
    Severity,
    duplicate_count,
    gate_outcome,
)
from wikiguard.domain.rulesets import BRONZE_RULES, GOLD_RULES, SILVER_RULES

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "wikimedia"
NOW = datetime(2026, 1, 29, 12, tzinfo=UTC)


# -- parsing ------------------------------------------------------------------------------


def _same_parse(raw: Any) -> None:
    fast = parse_well_formed(raw)
    general = parse_any(raw)
    assert fast is None or fast == general
    assert parse_change(raw) == general


@given(raw_events())
def test_fast_parse_agrees_and_takes_well_formed_events(event):
    _same_parse(event)
    assert (parse_well_formed(event) is not None) is (event["type"] in KNOWN_TYPES)


@given(damaged_events())
def test_fast_parse_agrees_on_damaged_events(event):
    _same_parse(event)


@given(json_values())
def test_fast_parse_agrees_on_any_json(value):
    _same_parse(value)


def test_fast_parse_agrees_on_every_recorded_event():
    taken = 0
    for path in sorted(DATA.glob("*.jsonl")) + sorted((DATA / "legacy").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                raw = json.loads(line)
                _same_parse(raw)
                taken += parse_well_formed(raw) is not None
    assert taken > 3000  # the current-format recordings go the fast way


times = st.one_of(
    st.integers(min_value=-(10**13), max_value=10**13),
    st.floats(allow_nan=True, allow_infinity=True),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7))])).map(
        lambda d: d.isoformat().replace("+00:00", "Z")
    ),
    st.text(max_size=30),
    st.booleans(),
    st.none(),
)


@given(times)
def test_cached_time_conversion_is_the_conversion(value):
    assert parse_time(value) == _parse_time(value)
    assert parse_time(value) == _parse_time(value)  # a second time, from the cache


# -- user classification ------------------------------------------------------------------


def _ip_by_definition(user: str) -> bool:
    try:
        ipaddress.ip_address(user)
    except ValueError:
        return False
    return True


ip_like = st.one_of(
    st.ip_addresses().map(str),
    st.ip_addresses(v=6).map(lambda a: f"{a}%eth0"),
    st.text(alphabet="0123456789abcdefABCDEF:.%xz ~-", max_size=45),
    st.text(max_size=20),
)


@given(ip_like)
def test_ip_pre_check_never_changes_the_answer(user):
    assert is_ip_address(user) is _ip_by_definition(user)


@given(st.one_of(users, ip_like), st.booleans())
def test_user_classes_follow_their_definitions(user, bot):
    temporary = is_temporary_account(user)
    ip = _ip_by_definition(user)
    assert is_anonymous(user) is (temporary or ip)
    expected = "Bot" if bot else "Temporary" if temporary else "Anonymous" if ip else "Registered"
    assert user_type(user, bot) == expected


# -- quality rules ------------------------------------------------------------------------

COLUMNS = ("a", "b")
# Small domains, so that values often sit exactly on a bound, a limit or each other.
scalars = st.one_of(
    st.none(),
    st.just(""),
    st.booleans(),
    st.integers(-2, 2),
    st.sampled_from([-1.5, -0.5, 0.0, 0.5, 1.0]),
    st.text(alphabet="ab1", max_size=3),
    st.builds(lambda s: NOW + timedelta(seconds=s), st.sampled_from([-700, -600, -1, 0, 1, 299, 300, 301])),
    st.lists(st.integers(0, 3), max_size=3),
)
bounds = st.sampled_from([None, -1, 0, 1, 2, 0.5, 300])


ANY_KIND = st.sampled_from(list(RuleKind))


@st.composite
def rules(draw: st.DrawFn, kinds: st.SearchStrategy[RuleKind] = ANY_KIND) -> Rule:
    return Rule(
        name=draw(st.sampled_from(["r1", "r2", "r3"])),
        kind=draw(kinds),
        column=draw(st.sampled_from(COLUMNS)),
        severity=draw(st.sampled_from(list(Severity))),
        min=draw(bounds),
        max=draw(bounds),
        values=tuple(
            draw(st.lists(st.one_of(st.none(), st.integers(-2, 2), st.sampled_from(["a", ""])), max_size=3))
        ),
        pattern=draw(st.sampled_from([None, "a+", r"\d", "[ab1 ]*"])),
        other_column=draw(st.sampled_from([None, *COLUMNS, "missing"])),
        max_lag_seconds=draw(st.sampled_from([None, 0, 1, 600, 600.5])),
        blocking=draw(st.booleans()),
    )


rows = st.dictionaries(st.sampled_from(COLUMNS), scalars, max_size=2)
full_rows = st.fixed_dictionaries({"a": scalars}, optional={"b": scalars})


def _outcome(check: Any, row: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "value", check(row, NOW)
    except Exception as err:  # noqa: BLE001 - both must fail alike on values a rule cannot compare
        return "error", type(err)


@pytest.mark.parametrize("kind", list(RuleKind))
@settings(max_examples=300)
@given(data=st.data())
def test_a_compiled_rule_answers_as_failed_by(kind, data):
    rule = attrs.evolve(data.draw(rules(st.just(kind))), column="a")
    row = data.draw(full_rows)
    assert _outcome(rule.compiled(), row) == _outcome(rule.failed_by, row)


def _evaluate_by_definition(
    rule_set: RuleSet, batch: list[dict[str, Any]], upstream: dict[str, int]
) -> tuple[list[list[str]], BatchQuality]:
    """`RuleSet.evaluate` as first written: row by row with `failed_by`."""
    per_row = [[r.name for r in rule_set.rules if r.blocking and r.failed_by(row, NOW)] for row in batch]
    failed: Counter[str] = Counter()
    for reasons in per_row:
        failed.update(reasons)
    for rule in rule_set.rules:
        if rule.kind is RuleKind.UNIQUE:
            failed[rule.name] = duplicate_count(row.get(rule.column) for row in batch)
        elif not rule.blocking:
            failed[rule.name] = sum(1 for row in batch if rule.failed_by(row, NOW))
    up = Counter(upstream)
    checks = tuple(CheckResult(r.name, r.severity, failed.get(r.name, 0)) for r in rule_set.rules)
    checks += tuple(CheckResult(name, Severity.WARNING, n) for name, n in sorted(up.items()))
    quality = BatchQuality(
        rule_set.layer, "b", len(batch) + sum(up.values()), sum(1 for r in per_row if not r), checks,
        Outcome.SUCCESS, dict(failed + up),
    )  # fmt: skip
    return per_row, attrs.evolve(quality, outcome=gate_outcome(quality))


def _comparable_rules(rule_list: list[Rule]) -> list[Rule]:
    # Only rules whose checks cannot raise on the generated values, so that batches compare.
    safe = {RuleKind.NOT_NULL, RuleKind.NOT_NULL_UNLESS, RuleKind.UNIQUE, RuleKind.IN_SET, RuleKind.MATCHES}
    return [r for r in rule_list if r.kind in safe and all(isinstance(v, str | int) for v in r.values if v)]


@settings(max_examples=300)
@given(
    st.lists(rules(), max_size=5),
    st.lists(rows, max_size=12),
    st.dictionaries(st.sampled_from(["invalid_json", "late"]), st.integers(0, 3), max_size=2),
)
def test_batch_evaluation_matches_row_by_row_evaluation(rule_list, batch, upstream):
    rule_set = RuleSet("silver", tuple(_comparable_rules(rule_list)))
    hashable = [{k: tuple(v) if isinstance(v, list) else v for k, v in row.items()} for row in batch]
    got = rule_set.evaluate(hashable, reference=NOW, batch_id="b", upstream_failures=upstream)
    assert got == _evaluate_by_definition(rule_set, hashable, upstream)


def test_the_default_rule_sets_evaluate_as_defined():
    silver = {
        "meta_id": "m", "canonical_entity": "enwiki:X", "event_type": "edit", "bytes_changed": 10,
        "event_timestamp": NOW, "user_name": "Alice", "processing_lag_seconds": 5.0,
    }  # fmt: skip
    batch = [
        silver,
        {**silver, "event_type": "bogus", "user_name": ""},
        {**silver, "meta_id": None, "processing_lag_seconds": 900.0},
        {**silver, "event_timestamp": NOW + timedelta(hours=1), "bytes_changed": 10**9},
    ]
    for rule_set in (BRONZE_RULES, SILVER_RULES, GOLD_RULES):
        got = rule_set.evaluate(batch, reference=NOW, batch_id="b", upstream_failures={"late": 1})
        assert got == _evaluate_by_definition(rule_set, batch, {"late": 1})
