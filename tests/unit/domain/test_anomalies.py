from datetime import timedelta

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.domain.gold_strategies import BASE_TIME, silver_event
from wikiguard.domain.anomalies import DEFAULT_RULES, AnomalyConfig, Scope, anomaly_of, judge
from wikiguard.domain.baselines import BaselineBook, BaselineOrderError, JudgedWindow, judge_window
from wikiguard.domain.metrics import WindowAccumulator
from wikiguard.domain.windows import window_of

SIZE = timedelta(minutes=10)
REVERTS = [
    "Reverted edits by 203.0.113.9 (talk) to last version by ClueBot NG",
    "Undid revision 1234567 by Vandal99 (talk)",
    "/* History */ Reverted 2 edits by Example (talk): unsourced",
    "Reverted good faith edits by Newbie (talk): not an improvement",
]


def at(window: int, second: int = 0):
    return BASE_TIME + window * SIZE + timedelta(seconds=second % 600)


def run(events_by_window, book=None) -> dict[int, JudgedWindow]:
    """Judge windows in order and learn from every row, as the gold stage does with a passing gate."""
    book = book or BaselineBook()
    judged = {}
    for index in sorted(events_by_window):
        acc = WindowAccumulator(window_of(at(index)))
        for event in events_by_window[index]:
            acc.add(event)
        rows = acc.finalize()
        if rows is None:
            continue
        judged[index] = j = judge_window(rows, book)
        book.observe(rows.window, j.entities, j.users, j.platform)
    return judged


def edits(window, n, *, title="Earth", user=None, comments=("copyedit",), **kw):
    return [
        silver_event(
            title=title,
            user=user or f"Editor{i}",
            at=at(window, i),
            comment=comments[i % len(comments)],
            **kw,
        )
        for i in range(n)
    ]


def entity_row(j: JudgedWindow, entity="enwiki:Earth"):
    return next(r for r in j.entities if r["entity"] == entity)


def test_steady_entity_then_burst_is_a_burst():
    history = {i: edits(i, 3) for i in range(36)}
    judged = run({**history, 36: edits(36, 30)})
    row = entity_row(judged[36])
    assert row["baseline_events_avg"] == 3.0 and row["baseline_windows"] == 36
    assert row["events_zscore"] > 3.0
    assert row["is_burst_activity"] and row["anomaly_types"] == "BURST" and row["is_anomaly"]
    assert row["anomaly_explanation"].startswith("Events: 30 (15.6σ above a 6-h baseline of 3.0)")
    assert row["severity"] in ("MEDIUM", "HIGH")
    quiet = entity_row(judged[35])
    assert quiet["anomaly_types"] is None and quiet["severity"] == "NORMAL" and quiet["risk_score"] == 0


def test_same_burst_after_a_noisy_history_is_not_a_burst():
    history = {i: edits(i, 30) for i in range(0, 36, 2)}  # 30, 0, 30, 0, ...: zero-filled windows count
    row = entity_row(run({**history, 36: edits(36, 30)})[36])
    assert row["baseline_events_avg"] == 15.0 and row["baseline_events_stddev"] == 15.0
    assert row["events_zscore"] == pytest.approx(1.0)
    assert not row["is_burst_activity"] and row["anomaly_types"] is None


def test_a_quiet_entity_has_a_low_mean():
    row = entity_row(run({0: edits(0, 6), 3: edits(3, 1)})[3])
    assert row["baseline_windows"] == 3 and row["baseline_events_avg"] == pytest.approx(0.5 * 2 + 0.5 * 2.0)


def test_cold_start_needs_a_higher_count_until_history_builds_up():
    cfg = AnomalyConfig()
    new_page = entity_row(run({0: edits(0, 15)})[0])
    assert new_page["baseline_windows"] == 0 and new_page["baseline_events_avg"] == cfg.prior_entity_events[0]
    assert new_page["events_zscore"] > 3.0 and not new_page["is_burst_activity"]  # 15 < 20 while cold
    assert entity_row(run({0: edits(0, 25)})[0])["is_burst_activity"]
    warm = entity_row(run({**{i: edits(i, 2) for i in range(6)}, 6: edits(6, 15)})[6])
    assert warm["baseline_windows"] == 6 and warm["is_burst_activity"]  # the same 15 once warm


def test_cold_start_blends_toward_the_prior():
    cfg = AnomalyConfig()
    one = entity_row(run({0: edits(0, 8), 1: edits(1, 8)})[1])
    assert one["baseline_windows"] == 1
    prior = cfg.prior_entity_events[0]
    assert one["baseline_events_avg"] == pytest.approx((1 / 6) * 8 + (5 / 6) * prior)


def test_revert_wave_from_real_revert_comments():
    history = {i: edits(i, 4) for i in range(12)}
    wave = edits(12, 10, comments=[*REVERTS, "copyedit", "typo", "ref", "cite", "links", "infobox"])
    row = entity_row(run({**history, 12: wave})[12])
    assert (row["revert_count"], row["edit_count"]) == (4, 10)
    assert row["is_high_revert_rate"] and "REVERT_WAVE" in row["anomaly_types"]
    assert "Reverts: 4 of 10 edits (40%, baseline" in row["anomaly_explanation"]


def test_summaries_that_merely_mention_reverts_are_not_a_wave():
    history = {i: edits(i, 4) for i in range(12)}
    talk = ["please do not revert without discussion", "Revision history cleanup", "see the undo button"]
    row = entity_row(run({**history, 12: edits(12, 10, comments=talk)})[12])
    assert row["revert_count"] == 0 and not row["is_high_revert_rate"]


def test_anonymous_surge_and_large_change():
    history = {i: edits(i, 4) for i in range(12)}
    surge = [silver_event(user=f"198.51.100.{i}", at=at(12, i)) for i in range(8)]
    blanking = [silver_event(user="Mallory", at=at(12, 30), old=48_000, new=100)]
    row = entity_row(run({**history, 12: surge + blanking})[12])
    assert row["is_anonymous_surge"] and row["is_large_content_change"]
    assert row["anomaly_types"] == "ANONYMOUS_SURGE, LARGE_CHANGE"
    assert "Largest change: 47,900 bytes" in row["anomaly_explanation"]


def user_row(j: JudgedWindow, name):
    return next(r for r in j.users if r["user_name"] == name)


def busy_history(windows=12):
    """Many registered users making one or two edits each, on one page per window."""
    return {i: edits(i, 30, title=f"Page {i % 3}") for i in range(windows)}


def test_user_blitz_against_the_user_class():
    pages = [silver_event(title=f"Page {k}", user="Blitzer", at=at(12, k)) for k in range(12)]
    judged = run({**busy_history(), 12: pages})[12]
    row = user_row(judged, "Blitzer")
    assert row["baseline_samples"] >= 20 and row["baseline_edits_avg"] == pytest.approx(1.0)
    assert row["edits_zscore"] > 3 and row["entities_zscore"] >= 2
    assert row["is_user_blitz"] and row["is_new_user"] and row["is_new_user_blitz"]
    assert (
        row["anomaly_types"] == "USER_BLITZ"
        and "[first activity in a 6-h span]" in row["anomaly_explanation"]
    )


def test_a_known_user_blitz_scores_lower_than_a_new_one():
    known = {**busy_history(), 11: edits(11, 30, title="Page 2") + [silver_event(user="Blitzer", at=at(11))]}
    pages = [silver_event(title=f"Page {k}", user="Blitzer", at=at(12, k)) for k in range(12)]
    old = user_row(run({**known, 12: pages})[12], "Blitzer")
    new = user_row(run({**busy_history(), 12: pages})[12], "Blitzer")
    assert old["is_user_blitz"] and not old["is_new_user"] and not old["is_new_user_blitz"]
    assert old["user_risk_score"] < new["user_risk_score"]


def test_cross_wiki_and_mass_revert_users_but_not_bots():
    window = [
        silver_event(wiki=w, title="Earth", user="Hopper", at=at(0, k))
        for k, w in enumerate(["enwiki", "dewiki", "frwiki"])
    ]
    window += [
        silver_event(title=f"P{k}", user="Undoer", at=at(0, 10 + k), comment=REVERTS[k % 4]) for k in range(6)
    ]
    window += [
        silver_event(title=f"P{k}", user="ClueBot NG", bot=True, at=at(0, 20 + k), comment=REVERTS[0])
        for k in range(9)
    ]
    judged = run({0: window})[0]
    assert user_row(judged, "Hopper")["anomaly_types"] == "CROSS_WIKI"
    undoer = user_row(judged, "Undoer")
    assert undoer["is_mass_reverter"] and undoer["is_high_revert_user"]
    assert undoer["anomaly_explanation"] == "Reverts: 6 in one window (100% of edits)"
    bot = user_row(judged, "ClueBot NG")
    assert bot["user_type"] == "Bot" and bot["anomaly_types"] is None and bot["is_high_revert_user"]


def test_global_health():
    judged = run({i: edits(i, 20) for i in range(8)})
    calm = judged[7].platform
    assert (calm["health_score"], calm["platform_health"]) == (100, "HEALTHY")
    assert calm["health_explanation"] == "All metrics within normal range" and calm["anomaly_types"] is None
    stormy = run({**{i: edits(i, 20) for i in range(8)}, 8: edits(8, 40, comments=REVERTS)})[8].platform
    assert stormy["is_high_revert_rate"] and stormy["health_score"] < 70
    assert (
        stormy["platform_health"] in ("WARNING", "CRITICAL")
        and "Revert ratio: 100.0%" in stormy["health_explanation"]
    )


def test_anomalies_are_reported_from_rows():
    judged = run({**{i: edits(i, 3) for i in range(36)}, 36: edits(36, 30)})[36]
    anomaly = anomaly_of(Scope.ENTITY, entity_row(judged))
    assert anomaly is not None and anomaly.types == ("BURST",) and anomaly.subject == "enwiki:Earth"
    assert anomaly.window == judged.window and anomaly.wiki == "enwiki"
    assert anomaly_of(Scope.GLOBAL, run({0: edits(0, 2)})[0].platform) is None


def test_a_key_quiet_for_the_whole_horizon_starts_over():
    judged = run({0: edits(0, 5), 40: edits(40, 5)})
    assert entity_row(judged[40])["baseline_windows"] == 0


def test_book_refuses_windows_out_of_order():
    book = BaselineBook()
    run({3: edits(3, 2)}, book)
    with pytest.raises(BaselineOrderError):
        run({2: edits(2, 2)}, book)


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(
        st.integers(0, 30), st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4)), max_size=12)
    ),
    st.integers(1, 30),
)
def test_a_book_rebuilt_from_the_last_n_windows_answers_like_the_full_one(activity, cut):
    """What lets a restarted process (or Spark) rebuild baselines from the gold tables alone."""
    cfg = AnomalyConfig(history_windows=6, min_history=3, min_user_samples=4)
    by_window = {
        w: [silver_event(title=f"P{p}", user=f"U{u}", at=at(w, k), comment=REVERTS[0] if u == 0 else "x")
            for k, (p, u) in enumerate(pairs)]
        for w, pairs in activity.items()
    }  # fmt: skip
    full = run(by_window, BaselineBook(cfg, SIZE))
    rebuilt = BaselineBook(cfg, SIZE)
    for w in sorted(full):
        if cut - cfg.history_windows <= w < cut:
            j = full[w]
            rebuilt.observe(j.window, j.entities, j.users, j.platform)
    later = run({w: e for w, e in by_window.items() if w >= cut}, rebuilt)
    assert {w: attrs.asdict(j) for w, j in later.items()} == {w: attrs.asdict(full[w]) for w in later}


ENTITY_COLUMNS = ("events_zscore", "total_events", "revert_deviation", "revert_count", "revert_ratio",
                  "anonymous_deviation", "anonymous_edit_count", "max_abs_bytes_changed")  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries({c: st.floats(0, 50) for c in ENTITY_COLUMNS}),
    st.sampled_from(ENTITY_COLUMNS),
    st.floats(0, 100_000),
    st.booleans(),
)
def test_risk_score_never_falls_when_evidence_grows(values, column, more, cold):
    def risk(row):
        row = dict(row, baseline_events_avg=1.0, baseline_revert_ratio=0.1, baseline_anonymous_ratio=0.1,
                   edit_count=10, total_bytes_changed=0, anonymous_ratio=0.5)  # fmt: skip
        judge(row, Scope.ENTITY, cold=cold, horizon="6-h", config=AnomalyConfig())
        assert 0 <= row["risk_score"] <= 100
        return row["risk_score"]

    assert risk({**values, column: values[column] + more}) >= risk(values)


def test_rules_are_named_data():
    names = {(r.scope, r.name) for r in DEFAULT_RULES}
    assert len(names) == len(DEFAULT_RULES)
    assert {n for _, n in names} == {
        "BURST", "REVERT_WAVE", "ANONYMOUS_SURGE", "LARGE_CHANGE", "USER_BLITZ", "CROSS_WIKI", "MASS_REVERT"
    }  # fmt: skip
    stricter = AnomalyConfig(rules=tuple(attrs.evolve(r, threshold=r.threshold * 10) for r in DEFAULT_RULES))
    row = entity_row(
        run({**{i: edits(i, 3) for i in range(36)}, 36: edits(36, 30)}, BaselineBook(stricter))[36]
    )
    assert row["anomaly_types"] is None and row["is_burst_activity"] is False
