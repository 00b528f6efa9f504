"""Rules compiled for Spark (per-row reasons) and for Deequ (batch constraints) against the domain's
pure-Python evaluation of the same rules: same reasons per row, same counts, same verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import orjson
import pytest

from tests.integration.test_spark_support import DATA
from wikiguard.adapters.deequ.verification import verify_batch
from wikiguard.adapters.spark.catalog import spark_schema
from wikiguard.adapters.spark.rule_compiler import reasons_expression
from wikiguard.application.tables import SILVER_EVENTS, Column, TableSpec
from wikiguard.domain.enrichment import enrich
from wikiguard.domain.events import Change, parse_change
from wikiguard.domain.quality import GateThresholds, Outcome, Rule, RuleKind, RuleSet, Severity
from wikiguard.domain.rulesets import SILVER_RULES

pytestmark = pytest.mark.integration

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
SPEC = TableSpec(
    "probe",
    (
        Column("id", "string"), Column("name", "string"), Column("n", "long"), Column("x", "double"),
        Column("ts", "timestamp"), Column("kind", "string"), Column("other", "string"),
        Column("tags", "list<string>"), Column("event_date", "date"),
    ),
)  # fmt: skip
TYPES = {c.name: c.type for c in SPEC.columns}
EVERY_KIND = RuleSet(
    "probe",
    (
        Rule("name_present", RuleKind.NOT_NULL, "name", Severity.CRITICAL),
        Rule("n_range", RuleKind.RANGE, "n", min=0, max=10),
        Rule("kind_known", RuleKind.IN_SET, "kind", values=("a", "b")),
        Rule("name_word", RuleKind.MATCHES, "name", pattern=r"\w+"),
        Rule("ts_not_future", RuleKind.TEMPORAL, "ts", max=300),
        Rule("ts_fresh", RuleKind.FRESHNESS, "ts", max_lag_seconds=3600, blocking=False),
        Rule("name_short", RuleKind.SIZE, "name", max=6),
        Rule("tags_few", RuleKind.SIZE, "tags", max=2),
        Rule("other_is_name", RuleKind.CONSISTENT, "other", other_column="name"),
        Rule("id_unique", RuleKind.UNIQUE, "id"),
        Rule("other_unless_b", RuleKind.NOT_NULL_UNLESS, "other", other_column="kind", values=("b",)),
        Rule("x_above_n", RuleKind.GREATER_THAN, "x", other_column="n"),
    ),
)


def probe_rows() -> list[dict[str, Any]]:
    ok = {
        "id": "1", "name": "Zürich", "n": 3, "x": 4.5, "ts": NOW - timedelta(minutes=1), "kind": "a",
        "other": "Zürich", "tags": ["t"], "event_date": NOW.date(),
    }  # fmt: skip
    edits: list[dict[str, Any]] = [
        {},
        {"id": "2", "name": None, "other": None, "kind": "b"},  # NOT_NULL; NOT_NULL_UNLESS excused by kind b
        {"id": "3", "name": "", "other": ""},  # empty counts as missing
        {"id": "4", "n": -1, "x": -0.5},  # below range; x > n holds
        {"id": "5", "n": 11, "x": 11.0},  # above range; x not > n
        {"id": "6", "kind": "c", "n": None},  # not in set; GREATER_THAN passes without n
        {"id": "7", "name": "a b", "other": "a b"},  # no full match (space)
        {"id": "8", "name": "abc\n", "other": "abc\n"},  # a trailing newline is no full match either
        {"id": "9", "ts": NOW + timedelta(seconds=301)},  # future beyond the skew
        {"id": "10", "ts": NOW + timedelta(seconds=300)},  # exactly at the limit: passes
        {"id": "11", "ts": NOW - timedelta(hours=2)},  # stale: non-blocking, measured only
        {"id": "12", "name": "Toolongname", "other": "Toolongname"},
        {"id": "13", "tags": ["a", "b", "c"]},
        {"id": "14", "other": "someone else"},
        {"id": "1"},  # duplicate id
        {
            "id": "16",
            "kind": None,
            "other": None,
        },  # IN_SET passes NULL kind; NOT_NULL_UNLESS does not excuse it
        {"id": "17", "name": "١٢٣", "other": "١٢٣"},  # Arabic-Indic digits are \w in Python: passes
    ]
    return [ok | edit for edit in edits]


def test_compiled_reasons_equal_python_reasons_row_by_row(spark) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    rows = probe_rows()
    df = spark.createDataFrame([tuple(r[c] for c in SPEC.column_names) for r in rows], spark_schema(SPEC))
    got = df.select("id", F.expr(reasons_expression(EVERY_KIND, NOW, TYPES)).alias("reasons")).collect()
    spark_reasons = [(r["id"], list(r["reasons"])) for r in got]
    python_reasons = [(r["id"], EVERY_KIND.reasons(r, NOW)) for r in rows]
    assert sorted(spark_reasons) == sorted(python_reasons)
    assert sum(1 for _, reasons in python_reasons if reasons) == 12  # the probe really probes


def test_deequ_counts_and_verdict_equal_the_python_gate(spark) -> None:  # type: ignore[no-untyped-def]
    rows = probe_rows()
    df = spark.createDataFrame([tuple(r[c] for c in SPEC.column_names) for r in rows], spark_schema(SPEC))
    _, expected = EVERY_KIND.evaluate(
        rows, reference=NOW, batch_id="b1", upstream_failures={"invalid_json": 2}
    )
    passed = sum(1 for r in rows if not EVERY_KIND.reasons(r, NOW))
    verdict = verify_batch(
        spark, df, EVERY_KIND, rows=len(rows), passed=passed, reference=NOW, batch_id="b1",
        upstream_failures={"invalid_json": 2}, types=TYPES,
    )  # fmt: skip
    assert verdict.quality == expected
    failing = {c.rule for c in expected.checks if c.failed and c.rule != "invalid_json"}
    assert {name for name, status in verdict.constraints.items() if status == "Failure"} == failing
    assert "id_unique" in failing and "ts_fresh" in failing
    assert verdict.quality.outcome is Outcome.CRITICAL  # a CRITICAL rule (name_present) failed
    assert verdict.deequ_status == "Error"


def silver_rows(count: int) -> list[dict[str, Any]]:
    rows = []
    path = DATA / "yearfunla_wikiMedia_stream_monitor__recentchange_raw.jsonl"
    for offset, line in enumerate(path.read_text(encoding="utf-8").splitlines()[:count]):
        change = parse_change(orjson.loads(line))
        assert isinstance(change, Change)
        event = enrich(
            change, canonical_entity=f"{change.wiki}:{change.title}", ingested_at=change.event_timestamp + timedelta(seconds=2),
            kafka_topic="t", kafka_partition=0, kafka_offset=offset,
        )  # fmt: skip
        rows.append(attrs.asdict(event, recurse=False) | {"batch_id": "b"})
    return rows


@pytest.mark.parametrize(
    ("injected", "outcome"),
    [
        ({}, Outcome.SUCCESS),
        ({"event_type": "weird"}, Outcome.WARNING),  # a WARNING rule fails 10 rows of 100: rate 0.90
        ({"canonical_entity": None}, Outcome.CRITICAL),  # a CRITICAL rule fails
    ],
)
def test_a_silver_batch_with_injected_bad_rows(spark, injected: dict[str, Any], outcome: Outcome) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    rows = silver_rows(100)
    for row in rows[::10]:
        row.update(injected)
    schema = spark_schema(
        attrs.evolve(
            SILVER_EVENTS, columns=tuple(attrs.evolve(c, required=False) for c in SILVER_EVENTS.columns)
        )
    )
    types = {c.name: c.type for c in SILVER_EVENTS.columns}
    df = spark.createDataFrame([tuple(r[c] for c in SILVER_EVENTS.column_names) for r in rows], schema)
    df = df.withColumn("reasons", F.expr(reasons_expression(SILVER_RULES, NOW, types)))
    passed = df.where("size(reasons) = 0").count()
    verdict = verify_batch(
        spark, df, SILVER_RULES, rows=100, passed=passed, reference=NOW, batch_id="b", types=types
    )
    _, expected = SILVER_RULES.evaluate(rows, reference=NOW, batch_id="b", thresholds=GateThresholds())
    assert verdict.quality == expected
    assert verdict.quality.outcome is outcome
    failed = {name for name, status in verdict.constraints.items() if status == "Failure"}
    assert failed == {c.rule for c in expected.checks if c.failed}
    if injected:
        assert (
            next(c.failed for c in verdict.quality.checks if c.rule in failed - {"processing_lag_freshness"})
            == 10
        )
