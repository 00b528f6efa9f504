"""Anomaly rules as data, and how a window's rows are judged against their learned baselines.

A rule names the flag column it sets, the evidence column its score grows with (and the threshold
that evidence must reach) and further conditions on the row's columns. Rules only read columns, so
the same rule set compiles to Spark SQL. Baselines come from `baselines.BaselineBook`, which also
fills a window's rows with their baseline columns and calls `judge`.

Scoring: a rule that fires scores `base + points_per_unit * (evidence - threshold)` capped at its
`max_score`, plus a boost when a boost column is true (a new user); a row's risk is the sum of its
rules' scores capped at 100, so it only grows with the evidence. Severity bands cut the risk score; a row with no anomaly has
risk 0, severity NORMAL and `anomaly_types` None.

Cold start: while a key has fewer than `min_history` windows of history (user classes: fewer than
`min_user_samples` user-windows) its baseline is blended toward the configured prior (see
`BaselineBook`) and conditions with a `cold_start_minimum` require that higher absolute count.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from typing import Any

import attrs

from wikiguard.domain.windows import Window

NORMAL = "NORMAL"


class Scope(enum.StrEnum):
    ENTITY = "entity"
    USER = "user"
    GLOBAL = "global"


class AnomalySeverity(enum.StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


@attrs.frozen
class Condition:
    """`minimum <= row[column] <= maximum`; while the baseline is cold `cold_start_minimum` replaces minimum."""

    column: str
    minimum: float | None = None
    maximum: float | None = None
    cold_start_minimum: float | None = None

    def holds(self, row: Mapping[str, Any], cold: bool) -> bool:
        value = row.get(self.column)
        if value is None:
            return False
        low = self.cold_start_minimum if cold and self.cold_start_minimum is not None else self.minimum
        return (low is None or value >= low) and (self.maximum is None or value <= self.maximum)


@attrs.frozen
class AnomalyRule:
    """One named detector over the rows of one scope."""

    name: str
    scope: Scope
    flag: str  # the boolean column it sets
    evidence: str  # the column its score grows with
    threshold: float  # evidence must be at least this
    conditions: tuple[Condition, ...] = ()
    base_score: float = 20.0
    points_per_unit: float = 10.0  # per unit of evidence above the threshold
    max_score: float = 60.0
    explanation: str = ""  # str.format template over the row's columns and `horizon`
    boost_column: str | None = None  # a boolean column that adds `boost_points` when true
    boost_points: float = 0.0
    boost_note: str = ""

    def fires(self, row: Mapping[str, Any], cold: bool) -> bool:
        value = row.get(self.evidence)
        return (
            value is not None and value >= self.threshold and all(c.holds(row, cold) for c in self.conditions)
        )

    def score(self, row: Mapping[str, Any]) -> float:
        excess = max(0.0, float(row[self.evidence]) - self.threshold)
        boost = self.boost_points if self.boost_column and row.get(self.boost_column) else 0.0
        return min(self.max_score, self.base_score + self.points_per_unit * excess) + boost

    def explain(self, row: Mapping[str, Any], horizon: str) -> str:
        text = self.explanation.format_map({**row, "horizon": horizon})
        if self.boost_column and row.get(self.boost_column) and self.boost_note:
            text += f" [{self.boost_note.format(horizon=horizon)}]"
        return text


_C = Condition
DEFAULT_RULES: tuple[AnomalyRule, ...] = (
    AnomalyRule(
        "BURST", Scope.ENTITY, "is_burst_activity", "events_zscore", 3.0,
        (_C("total_events", 10, cold_start_minimum=20),), 25, 5, 60,
        "Events: {total_events} ({events_zscore:.1f}σ above a {horizon} baseline of {baseline_events_avg:.1f})",
    ),
    AnomalyRule(
        "REVERT_WAVE", Scope.ENTITY, "is_high_revert_rate", "revert_deviation", 0.2,
        (_C("revert_count", 3, cold_start_minimum=5), _C("revert_ratio", 0.3)), 30, 100, 70,
        "Reverts: {revert_count} of {edit_count} edits ({revert_ratio:.0%}, baseline {baseline_revert_ratio:.0%})",
    ),
    AnomalyRule(
        "ANONYMOUS_SURGE", Scope.ENTITY, "is_anonymous_surge", "anonymous_deviation", 0.25,
        (_C("anonymous_edit_count", 5, cold_start_minimum=8),), 25, 100, 60,
        "Anonymous: {anonymous_edit_count} of {total_events} events ({anonymous_ratio:.0%}, "
        "baseline {baseline_anonymous_ratio:.0%})",
    ),
    AnomalyRule(
        "LARGE_CHANGE", Scope.ENTITY, "is_large_content_change", "max_abs_bytes_changed", 10_000,
        (), 15, 0.001, 50, "Largest change: {max_abs_bytes_changed:,} bytes (net {total_bytes_changed:+,})",
    ),
    AnomalyRule(
        "USER_BLITZ", Scope.USER, "is_user_blitz", "edits_zscore", 3.0,
        (_C("entities_zscore", 2.0), _C("edit_count", 5, cold_start_minimum=10), _C("is_bot", maximum=0)),
        25, 5, 60,
        "Edits: {edit_count} on {entities_edited} pages ({edits_zscore:.1f}σ above {user_type} users' "
        "{horizon} baseline of {baseline_edits_avg:.1f})",
        boost_column="is_new_user", boost_points=15, boost_note="first activity in a {horizon} span",
    ),
    AnomalyRule(
        "CROSS_WIKI", Scope.USER, "is_cross_wiki_active", "wikis_touched", 3,
        (_C("is_bot", maximum=0),), 20, 10, 50, "Wikis: {wikis_touched} touched in one window",
    ),
    AnomalyRule(
        "MASS_REVERT", Scope.USER, "is_mass_reverter", "revert_count", 5,
        (_C("is_bot", maximum=0),), 30, 5, 70, "Reverts: {revert_count} in one window ({revert_ratio:.0%} of edits)",
    ),
    AnomalyRule(
        "BURST", Scope.GLOBAL, "is_burst_activity", "events_zscore", 3.0,
        (_C("total_events", 30, cold_start_minimum=60),), 25, 5, 60,
        "Events: {total_events} ({events_zscore:.1f}σ above a {horizon} baseline of {baseline_events_avg:.1f})",
    ),
    AnomalyRule(
        "REVERT_WAVE", Scope.GLOBAL, "is_high_revert_rate", "revert_deviation", 0.15,
        (_C("total_reverts", 10, cold_start_minimum=20), _C("revert_ratio", 0.25)), 30, 100, 70,
        "Reverts: {total_reverts} of {total_edits} edits ({revert_ratio:.0%}, baseline {baseline_revert_ratio:.0%})",
    ),
    AnomalyRule(
        "ANONYMOUS_SURGE", Scope.GLOBAL, "is_anonymous_surge", "anonymous_deviation", 0.2,
        (_C("total_anonymous", 10, cold_start_minimum=20),), 25, 100, 60,
        "Anonymous: {total_anonymous} of {total_events} events ({anonymous_ratio:.0%}, "
        "baseline {baseline_anonymous_ratio:.0%})",
    ),
)  # fmt: skip

# Every flag column of a scope, so a row has them all whichever rules are configured.
FLAGS: Mapping[Scope, tuple[str, ...]] = {
    Scope.ENTITY: (
        "is_burst_activity",
        "is_high_revert_rate",
        "is_anonymous_surge",
        "is_large_content_change",
    ),
    Scope.USER: ("is_user_blitz", "is_cross_wiki_active", "is_mass_reverter"),
    Scope.GLOBAL: ("is_burst_activity", "is_high_revert_rate", "is_anonymous_surge"),
}
RISK_COLUMN: Mapping[Scope, str] = {
    Scope.ENTITY: "risk_score",
    Scope.USER: "user_risk_score",
    Scope.GLOBAL: "risk_score",
}


@attrs.frozen
class AnomalyConfig:
    """Thresholds and priors; the defaults are the production settings."""

    history_windows: int = 36  # rolling baseline over the previous N windows (36 x 10 min = 6 h)
    min_history: int = 6  # fewer windows of history than this: cold start
    min_user_samples: int = 20  # fewer user-windows of a user class than this: cold start
    min_stddev: float = 1.0  # stddev floor (also sqrt(mean) for counts: Poisson noise) against z ~ x/0
    prior_entity_events: tuple[float, float] = (2.0, 3.0)  # mean, stddev per window
    prior_global_events: tuple[float, float] = (150.0, 50.0)
    prior_user_edits: tuple[float, float] = (1.5, 1.5)
    prior_user_entities: tuple[float, float] = (1.0, 0.5)
    prior_revert_ratio: float = 0.08
    prior_anonymous_ratio: float = 0.15
    ratio_prior_weight: float = 10.0  # a baseline ratio is (hits + w * prior) / (trials + w)
    # Risk score cuts: LOW < c0 <= MEDIUM < c1 <= HIGH < c2 <= CRITICAL.
    severity_cuts: tuple[float, float, float] = (30, 55, 80)
    high_revert_user: tuple[int, float] = (2, 0.5)  # informational flag: >= reverts and >= ratio
    # Health score bands: HEALTHY >= b0 > ELEVATED >= b1 > WARNING >= b2 > CRITICAL.
    health_bands: tuple[int, int, int] = (85, 70, 50)
    rules: tuple[AnomalyRule, ...] = DEFAULT_RULES


def severity_of(score: float, cuts: tuple[float, float, float]) -> AnomalySeverity:
    if score >= cuts[2]:
        return AnomalySeverity.CRITICAL
    if score >= cuts[1]:
        return AnomalySeverity.HIGH
    if score >= cuts[0]:
        return AnomalySeverity.MEDIUM
    return AnomalySeverity.LOW


def judge(row: dict[str, Any], scope: Scope, *, cold: bool, horizon: str, config: AnomalyConfig) -> None:
    """Run the scope's rules on `row` and write the flag, type, risk, severity and explanation columns.

    `judge_of(config, scope).judge(row, cold, horizon)` does the same with the rule look-ups done once.
    """
    judge_of(config, scope).judge(row, cold, horizon)


# A condition as (column, minimum, minimum while cold, maximum).
_Bounds = tuple[str, float | None, float | None, float | None]


class ScopeJudge:
    """`judge` for one scope and rule set, with the rule look-ups done once: a gold close judges every
    row of every window. Most rows fire no rule: they cost the flag columns, one evidence look-up per
    rule of the scope and the verdict columns. A rule that fires is scored and explained by itself."""

    __slots__ = ("_flags", "_risk_column", "_cuts", "_rules")

    def __init__(self, config: AnomalyConfig, scope: Scope) -> None:
        self._flags = FLAGS[scope]
        self._risk_column = RISK_COLUMN[scope]
        self._cuts = config.severity_cuts
        self._rules: tuple[tuple[AnomalyRule, str, float, tuple[_Bounds, ...]], ...] = tuple(
            (rule, rule.evidence, rule.threshold, tuple(_bounds(c) for c in rule.conditions))
            for rule in config.rules
            if rule.scope is scope
        )

    def judge(self, row: dict[str, Any], cold: bool, horizon: str) -> None:
        for flag in self._flags:
            row[flag] = False
        fired: list[AnomalyRule] = []
        explanations: list[str] = []
        total = 0.0
        for rule, evidence, threshold, conditions in self._rules:
            value = row.get(evidence)
            if value is None or not value >= threshold:
                continue
            for column, warm_minimum, cold_minimum, maximum in conditions:
                value = row.get(column)
                low = cold_minimum if cold else warm_minimum
                if value is None or not (
                    (low is None or value >= low) and (maximum is None or value <= maximum)
                ):
                    break
            else:
                # In rule order, and before the next rule runs: a later rule, an explanation or a
                # score may read the flags set so far, as in the rule-by-rule definition.
                row[rule.flag] = True
                fired.append(rule)
                explanations.append(rule.explain(row, horizon))
                total += rule.score(row)
        if not fired:
            row["anomaly_types"] = None
            row["is_anomaly"] = False
            row[self._risk_column] = 0  # min(100, round(0.0))
            row["severity"] = NORMAL
            row["anomaly_explanation"] = "Normal activity"
            return
        risk = min(100, round(total))
        row["anomaly_types"] = ", ".join(rule.name for rule in fired)
        row["is_anomaly"] = True
        row[self._risk_column] = risk
        row["severity"] = str(severity_of(risk, self._cuts))
        row["anomaly_explanation"] = " | ".join(explanations)


def _bounds(condition: Condition) -> _Bounds:
    cold = condition.cold_start_minimum
    return condition.column, condition.minimum, condition.minimum if cold is None else cold, condition.maximum


def judge_of(config: AnomalyConfig, scope: Scope) -> ScopeJudge:
    """The `ScopeJudge` of a configuration and scope, built once per configuration."""
    try:
        return _judge_of(config, scope)
    except TypeError:  # an unhashable configuration (say, rules in a list): built every time
        return ScopeJudge(config, scope)


_judge_of = functools.lru_cache(maxsize=64)(ScopeJudge)


@attrs.frozen
class Anomaly:
    """An anomalous window of an entity, a user or the whole platform."""

    scope: Scope
    subject: str  # the canonical entity, the user name or "global"
    window: Window
    types: tuple[str, ...]
    risk_score: int
    severity: AnomalySeverity
    explanation: str
    wiki: str | None = None


def anomaly_of(scope: Scope, row: Mapping[str, Any]) -> Anomaly | None:
    """The anomaly a judged gold row reports, or None."""
    if not row.get("is_anomaly"):
        return None
    subject = (
        row["entity"] if scope is Scope.ENTITY else row["user_name"] if scope is Scope.USER else "global"
    )
    return Anomaly(
        scope=scope,
        subject=subject,
        window=Window(row["window_start"], row["window_end"]),
        types=tuple(row["anomaly_types"].split(", ")),
        risk_score=int(row[RISK_COLUMN[scope]]),
        severity=AnomalySeverity(row["severity"]),
        explanation=row["anomaly_explanation"],
        wiki=row.get("wiki"),
    )


def platform_health(row: Mapping[str, Any], horizon: str, config: AnomalyConfig) -> tuple[int, str, str]:
    """(health_score 0-100, platform_health, health_explanation) of a judged global row.

    Penalties: reverts above baseline, volume far from baseline (either way), an anonymous share
    above baseline and rows silver quarantined.
    """
    penalty = 0.0
    notes: list[str] = []
    revert_dev = row["revert_deviation"]
    if revert_dev > 0.05:
        penalty += min(40.0, revert_dev * 100)
        notes.append(f"Revert ratio: {row['revert_ratio']:.1%} (baseline {row['baseline_revert_ratio']:.1%})")
    z = row["events_zscore"]
    if abs(z) > 2:
        penalty += min(30.0, (abs(z) - 2) * 10)
        notes.append(f"Volume: {row['total_events']} events, {z:+.1f}σ from the {horizon} baseline")
    anon_dev = row["anonymous_deviation"]
    if anon_dev > 0.1:
        penalty += min(20.0, anon_dev * 50)
        notes.append(
            f"Anonymous share: {row['anonymous_ratio']:.1%} (baseline {row['baseline_anonymous_ratio']:.1%})"
        )
    failed = row["total_quality_failed"]
    share = failed / (failed + row["total_events"]) if failed else 0.0
    if share > 0.01:
        penalty += min(20.0, share * 100)
        notes.append(f"Quality: {failed} rows quarantined in silver ({share:.1%})")
    score = max(0, min(100, round(100 - penalty)))
    healthy, elevated, warning = config.health_bands
    label = (
        "HEALTHY"
        if score >= healthy
        else "ELEVATED"
        if score >= elevated
        else "WARNING"
        if score >= warning
        else "CRITICAL"
    )
    return score, label, " | ".join(notes) if notes else "All metrics within normal range"
