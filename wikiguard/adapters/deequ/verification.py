"""A layer's `RuleSet` compiled into Deequ checks and verified on a Spark DataFrame.

Each rule becomes one constraint (CRITICAL rules in a `CheckLevel.Error` check, WARNING rules in a
`CheckLevel.Warning` check):
- a row rule -> `satisfies("NOT <failed>", <rule name>)`, where `<failed>` is the rule compiled by
  `wikiguard.adapters.spark.rule_compiler` (null-safe, so Deequ's Compliance counts exactly the rows
  `Rule.failed_by` fails). The assertion is Deequ's default "compliance == 1".
- UNIQUE -> `hasDistinctness([column], == 1)`.

Deequ's metrics give each rule's failed count (`round((1 - compliance) * rows)`); the verdict is then
the domain's `gate_outcome` on those counts, so both engines grade a batch by the same rule. Deequ's
own constraint statuses are kept in `DeequVerdict.constraints` for inspection and tests.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from wikiguard.adapters.spark.rule_compiler import failed_expression
from wikiguard.domain.quality import (
    BatchQuality,
    CheckResult,
    GateThresholds,
    Outcome,
    RuleKind,
    RuleSet,
    Severity,
    gate_outcome,
)

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

DEFAULT_THRESHOLDS = GateThresholds()

# pydeequ refuses to import without it; our jars are Deequ's Spark 3.5 build.
os.environ.setdefault("SPARK_VERSION", "3.5")


@attrs.frozen
class DeequVerdict:
    """The batch's `BatchQuality` and what Deequ said about each constraint (name -> Success/Failure)."""

    quality: BatchQuality
    constraints: Mapping[str, str]
    deequ_status: str  # Success / Warning / Error: the suite's overall status


def compile_checks(
    spark: SparkSession, rules: RuleSet, reference: datetime, types: Mapping[str, str] | None = None
) -> list[Any]:
    """One Deequ `Check` per severity present in `rules`, one constraint per rule."""
    from pydeequ.checks import Check, CheckLevel

    checks = []
    for severity, level in ((Severity.CRITICAL, CheckLevel.Error), (Severity.WARNING, CheckLevel.Warning)):
        chosen = [r for r in rules.rules if r.severity is severity]
        if not chosen:
            continue
        check = Check(spark, level, f"{rules.layer}:{severity}")
        for rule in chosen:
            if rule.kind is RuleKind.UNIQUE:
                check = check.hasDistinctness([rule.column], lambda d: d >= 1.0, rule.name)
            else:
                check = check.satisfies(f"NOT ({failed_expression(rule, reference, types)})", rule.name)
        checks.append(check)
    return checks


def verify_batch(
    spark: SparkSession,
    df: DataFrame,
    rules: RuleSet,
    *,
    rows: int,
    passed: int,
    reference: datetime,
    batch_id: str,
    thresholds: GateThresholds = DEFAULT_THRESHOLDS,
    upstream_failures: Mapping[str, int] | None = None,
    types: Mapping[str, str] | None = None,
) -> DeequVerdict:
    """Run the rule set's checks on `df` (`rows` rows, `passed` of them with no blocking reason).

    `upstream_failures` are records refused before these rules ran (unparseable, late); they count
    against the pass rate with their own reasons, as in `RuleSet.evaluate`.
    """
    failed: dict[str, int] = {}
    constraints: dict[str, str] = {}
    status = "Success"
    if rows:
        from pydeequ.verification import VerificationResult, VerificationSuite

        suite = VerificationSuite(spark).onData(df)
        for check in compile_checks(spark, rules, reference, types):
            suite = suite.addCheck(check)
        result = suite.run()
        status = str(result.status)
        metrics = {
            (m["instance"], m["name"]): m["value"]
            for m in VerificationResult.successMetricsAsDataFrame(spark, result).collect()
        }
        for rule in rules.rules:
            if rule.kind is RuleKind.UNIQUE:
                distinctness = metrics.get((rule.column, "Distinctness"), 1.0)
                failed[rule.name] = rows - round(distinctness * rows)
            else:
                compliance = metrics.get((rule.name, "Compliance"), 1.0)
                failed[rule.name] = round((1.0 - compliance) * rows)
        for row in VerificationResult.checkResultsAsDataFrame(spark, result).collect():
            constraints[_constraint_name(row["constraint"], rules)] = row["constraint_status"]
    upstream = Counter(upstream_failures or {})
    checks = tuple(CheckResult(r.name, r.severity, failed.get(r.name, 0)) for r in rules.rules)
    checks += tuple(CheckResult(name, Severity.WARNING, n) for name, n in sorted(upstream.items()))
    reasons = dict(Counter({k: v for k, v in failed.items() if v}) + upstream)
    quality = BatchQuality(
        rules.layer, batch_id, rows + sum(upstream.values()), passed, checks, Outcome.SUCCESS, reasons
    )
    quality = attrs.evolve(quality, outcome=gate_outcome(quality, thresholds))
    return DeequVerdict(quality, constraints, status)


def _constraint_name(description: str, rules: RuleSet) -> str:
    """Deequ describes a constraint as e.g. `ComplianceConstraint(Compliance(<name>,...))`."""
    for rule in rules.rules:
        if rule.kind is RuleKind.UNIQUE and f"Distinctness(List({rule.column})" in description:
            return rule.name
        if f"Compliance({rule.name}," in description:
            return rule.name
    return description
