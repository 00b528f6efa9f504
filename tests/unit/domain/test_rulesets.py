from datetime import timedelta

import attrs

from tests.unit.domain.gold_strategies import BASE_TIME, silver_event
from wikiguard.domain.rulesets import BRONZE_RULES, GOLD_RULES, SILVER_RULES

NOW = BASE_TIME + timedelta(minutes=1)


def silver(**overrides):
    return {**attrs.asdict(silver_event(**overrides)), "batch_id": "b"}


def test_a_late_event_is_measured_but_never_quarantined():
    backlog = silver(lag=3 * 3600.0)
    assert SILVER_RULES.reasons(backlog, NOW) == []
    _, quality = SILVER_RULES.evaluate([backlog, silver()], reference=NOW, batch_id="b")
    assert quality.passed == 2 and quality.reasons["processing_lag_freshness"] == 1


def test_silver_rules():
    assert SILVER_RULES.reasons(silver(kind="142"), NOW) == []
    assert SILVER_RULES.reasons(silver(kind="log", user=""), NOW) == []  # a suppressed performer
    assert SILVER_RULES.reasons(silver(user=""), NOW) == ["user_name_not_null"]
    assert SILVER_RULES.reasons({**silver(), "event_type": "bogus"}, NOW) == ["event_type_valid"]
    assert SILVER_RULES.reasons({**silver(), "canonical_entity": ""}, NOW) == ["canonical_entity_not_null"]
    assert SILVER_RULES.reasons({**silver(), "bytes_changed": 10**8}, NOW) == ["bytes_changed_range"]


def test_bronze_rules():
    row = {"meta_id": "x", "event_data": "{}", "event_timestamp": NOW, "wiki": "enwiki"}
    assert BRONZE_RULES.reasons(row, NOW) == []
    assert BRONZE_RULES.reasons({**row, "event_timestamp": NOW + timedelta(minutes=6)}, NOW) == [
        "event_timestamp_not_future"
    ]
    assert BRONZE_RULES.reasons({**row, "wiki": "en.wikipedia"}, NOW) == ["wiki_format"]
    assert BRONZE_RULES.reasons({**row, "meta_id": None, "event_data": "x" * 2_000_000}, NOW) == [
        "meta_id_not_null",
        "event_data_size",
    ]


def test_gold_rules():
    row = {"window_start": BASE_TIME, "window_end": BASE_TIME + timedelta(minutes=10), "total_events": 3,
           "revert_ratio": 0.5, "risk_score": 40, "user_risk_score": 0, "health_score": 100}  # fmt: skip
    assert GOLD_RULES.reasons(row, NOW) == []
    assert GOLD_RULES.reasons({**row, "window_end": BASE_TIME}, NOW) == ["window_end_after_start"]
    assert GOLD_RULES.reasons({**row, "total_events": 0}, NOW) == ["total_events_positive"]
    assert GOLD_RULES.reasons({**row, "revert_ratio": 1.5}, NOW) == ["revert_ratio_range"]
    assert GOLD_RULES.reasons({**row, "risk_score": 101}, NOW) == ["risk_score_range"]
