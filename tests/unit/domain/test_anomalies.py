import math
from collections import deque
from datetime import timedelta

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.domain.gold_strategies import BASE_TIME, silver_event
from wikiguard.domain.anomalies import (
    DEFAULT_RULES,
    FLAGS,
    NORMAL,
    RISK_COLUMN,
    AnomalyConfig,
    AnomalyRule,
    Condition,
    Scope,
    anomaly_of,
    judge,
    platform_health,
    severity_of,
)
from wikiguard.domain.baselines import (
    BaselineBook,
    BaselineOrderError,
    JudgedWindow,
    _blend,
    _History,
    _mean_std,
    judge_window,
)
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


# -- the fast paths hold to the definitions they replaced -----------------------------------------


def reference_judge(row, scope, *, cold, horizon, config):
    """`judge` as first written: every rule of the configuration, one by one."""
    for flag in FLAGS[scope]:
        row[flag] = False
    types, explanations, total = [], [], 0.0
    for rule in config.rules:
        if rule.scope is scope and rule.fires(row, cold):
            row[rule.flag] = True
            types.append(rule.name)
            explanations.append(rule.explain(row, horizon))
            total += rule.score(row)
    risk = min(100, round(total))
    row["anomaly_types"] = ", ".join(types) if types else None
    row["is_anomaly"] = bool(types)
    row[RISK_COLUMN[scope]] = risk
    row["severity"] = str(severity_of(risk, config.severity_cuts)) if types else NORMAL
    row["anomaly_explanation"] = " | ".join(explanations) if types else "Normal activity"


def _trim(entries, oldest):
    while entries and entries[0][0] < oldest:
        entries.popleft()
    return not entries


class ReferenceBook(BaselineBook):
    """The book as first written: a baseline summed from the entries in range each time it is asked
    for, and every key of the horizon visited each window to forget what leaves it."""

    def _count(self, history, idx, prior):
        cfg = self.config
        n_max = cfg.history_windows
        entries = [e for e in history.entries if idx - n_max <= e[0] < idx] if history else []
        windows = min(n_max, idx - history.first_seen) if history and entries else 0
        events = sum(e[1] for e in entries)
        squares = sum(e[1] * e[1] for e in entries)
        edits = sum(e[2] for e in entries)
        reverts = sum(e[3] for e in entries)
        anonymous = sum(e[4] for e in entries)
        mean, std = _mean_std(windows, events, squares) if windows else (0.0, 0.0)
        weight = 1.0 if windows >= cfg.min_history else windows / cfg.min_history
        avg = _blend(mean, prior[0], weight)
        k = cfg.ratio_prior_weight
        return (
            windows,
            avg,
            max(cfg.min_stddev, math.sqrt(avg), _blend(std, prior[1], weight)),
            (reverts + k * cfg.prior_revert_ratio) / (edits + k),
            (anonymous + k * cfg.prior_anonymous_ratio) / (events + k),
        )

    def observe(self, window, entities, users, platform):
        idx = self.index(window.start)
        if self.last_index is not None and idx <= self.last_index:
            raise BaselineOrderError(window)
        self.last_index = idx
        for row in entities:
            values = (
                row["total_events"],
                row["edit_count"],
                row["revert_count"],
                row["anonymous_edit_count"],
            )
            self._keep(self._entities, row["entity"], idx, row["baseline_windows"], values)
        if platform is not None:
            values = (platform["total_events"], platform["total_edits"], platform["total_reverts"],
                      platform["total_anonymous"])  # fmt: skip
            self._keep(self._platform, "global", idx, platform["baseline_windows"], values)
        per_class = {}
        for row in users:
            sums = per_class.setdefault(row["user_type"], [0] * 6)
            edits, pages = row["edit_count"], row["entities_edited"]
            for i, value in enumerate((1, edits, edits * edits, pages, pages * pages, row["revert_count"])):
                sums[i] += value
            self._users_seen[row["user_name"]] = idx
        for user_type, sums in sorted(per_class.items()):
            self._classes.setdefault(user_type, deque()).append((idx, *sums))
        oldest = idx + 1 - self.config.history_windows
        for store in (self._entities, self._platform):
            for key in [k for k, h in store.items() if _trim(h.entries, oldest)]:
                del store[key]
        for entries in self._classes.values():
            _trim(entries, oldest)
        for user in [u for u, last in self._users_seen.items() if last < oldest]:
            del self._users_seen[user]

    def _keep(self, store, key, idx, baseline_windows, values):
        history = store.get(key)
        if (
            history is None
            or not history.entries
            or history.entries[-1][0] < idx - self.config.history_windows
        ):
            history = store[key] = _History(idx - baseline_windows)
        history.entries.append((idx, *values))  # the entries alone: `_count` above sums them


def reference_judge_window(rows, book):
    """`judge_window` as first written, on the reference book."""
    cfg = book.config
    window, horizon = rows.window, book.horizon

    def count_columns(b, events, revert_ratio, anonymous_ratio):
        return {
            "baseline_windows": b.windows, "baseline_events_avg": b.events_avg,
            "baseline_events_stddev": b.events_stddev, "baseline_revert_ratio": b.revert_ratio,
            "baseline_anonymous_ratio": b.anonymous_ratio, "events_zscore": b.zscore(events),
            "revert_deviation": revert_ratio - b.revert_ratio,
            "anonymous_deviation": anonymous_ratio - b.anonymous_ratio,
        }  # fmt: skip

    plat = book.platform(window)
    g = attrs.asdict(rows.platform, recurse=False)
    g.update(count_columns(plat, g["total_events"], g["revert_ratio"], g["anonymous_ratio"]))
    reference_judge(g, Scope.GLOBAL, cold=plat.windows < cfg.min_history, horizon=horizon, config=cfg)
    g["health_score"], g["platform_health"], g["health_explanation"] = platform_health(g, horizon, cfg)
    entities = []
    for m in rows.entities:
        b = book.entity(m.entity, window)
        row = attrs.asdict(m, recurse=False)
        row.update(count_columns(b, m.total_events, m.revert_ratio, m.anonymous_ratio))
        reference_judge(row, Scope.ENTITY, cold=b.windows < cfg.min_history, horizon=horizon, config=cfg)
        entities.append(row)
    warm = plat.windows >= cfg.min_history
    min_reverts, min_ratio = cfg.high_revert_user
    users = []
    for u in rows.users:
        c = book.user_class(u.user_type, window)
        new = warm and book.is_new_user(u.user_name, window)
        row = attrs.asdict(u, recurse=False)
        row.update(
            baseline_samples=c.samples, baseline_edits_avg=c.edits_avg, baseline_edits_stddev=c.edits_stddev,
            baseline_entities_avg=c.entities_avg, baseline_entities_stddev=c.entities_stddev,
            baseline_revert_ratio=c.revert_ratio, edits_zscore=(u.edit_count - c.edits_avg) / c.edits_stddev,
            entities_zscore=(u.entities_edited - c.entities_avg) / c.entities_stddev, is_new_user=new,
            is_high_revert_user=u.revert_count >= min_reverts and u.revert_ratio >= min_ratio,
        )  # fmt: skip
        reference_judge(row, Scope.USER, cold=c.samples < cfg.min_user_samples, horizon=horizon, config=cfg)
        row["is_new_user_blitz"] = row["is_user_blitz"] and new
        users.append(row)
    return JudgedWindow(window, entities, users, g)


def exactly(row):
    """A row with its column order, value types and float bits (repr round-trips a float)."""
    return [(key, type(value).__name__, repr(value)) for key, value in row.items()]


def exactly_judged(j: JudgedWindow):
    return j.window, [exactly(r) for r in j.entities], [exactly(r) for r in j.users], exactly(j.platform)


USERS = ["Alice", "Bob", "Carol", "198.51.100.7", "2001:db8::1", "~2026-12-3", "ClueBot NG"]


@settings(max_examples=80, deadline=None)
@given(
    st.dictionaries(
        st.integers(0, 16),
        st.lists(st.tuples(st.integers(0, 5), st.integers(0, 6), st.integers(0, 5)), min_size=1, max_size=25),
        max_size=12,
    ),
    st.sets(st.integers(0, 5)),
    st.booleans(),
    st.integers(2, 6),
)
def test_judging_and_learning_give_what_the_first_definitions_gave(activity, refused, float_counts, horizon):
    """Running sums, forgetting window by window and the judge's shortcuts change no bit of a row:
    windows with gaps (histories restart), rows the gate refuses (never learned), and counts read
    back as floats (the sums are not used then)."""
    cfg = AnomalyConfig(history_windows=horizon, min_history=2, min_user_samples=3)
    fast, slow = BaselineBook(cfg, SIZE), ReferenceBook(cfg, SIZE)
    for w in sorted(activity):
        acc = WindowAccumulator(window_of(at(w)))
        for k, (page, user, comment) in enumerate(activity[w]):
            acc.add(silver_event(
                title=f"P{page}", user=USERS[user], bot=USERS[user] == "ClueBot NG", at=at(w, k),
                comment=REVERTS[comment] if comment < len(REVERTS) else "copyedit",
                old=1000, new=1000 + 7 * k,
            ))  # fmt: skip
        rows = acc.finalize()
        assert rows is not None
        got, want = judge_window(rows, fast), reference_judge_window(rows, slow)
        assert exactly_judged(got) == exactly_judged(want)

        def taught(judged):  # what the gate lets through, as the tables would give it back
            entities = [dict(r) for r in judged.entities if int(r["entity"].rsplit("P", 1)[1]) not in refused]
            if float_counts:
                entities = [{**r, "total_events": float(r["total_events"])} for r in entities]
            return entities, [dict(r) for r in judged.users], dict(judged.platform)

        fast.observe(rows.window, *taught(got))
        slow.observe(rows.window, *taught(want))
        # and it forgets what the first definition forgot (what no later window can look back to)
        assert {k: list(h.entries) for k, h in fast._entities.items()} == {
            k: list(h.entries) for k, h in slow._entities.items()
        }
        assert fast._users_seen == slow._users_seen


judged_columns = {
    **{c: st.one_of(st.none(), st.floats(-5, 60), st.integers(-5, 60)) for c in (
        "events_zscore", "total_events", "revert_deviation", "revert_count", "revert_ratio",
        "anonymous_deviation",
        "anonymous_edit_count", "max_abs_bytes_changed", "edits_zscore", "entities_zscore", "edit_count",
        "wikis_touched", "total_reverts", "total_anonymous", "is_bot",
    )},
    **{c: st.floats(0, 1_000) for c in (
        "baseline_events_avg", "baseline_revert_ratio", "baseline_anonymous_ratio", "baseline_edits_avg",
        "anonymous_ratio", "total_bytes_changed", "entities_edited", "total_edits",
    )},
    "user_type": st.sampled_from(["Registered", "Anonymous"]),
    "is_new_user": st.booleans(),
}  # fmt: skip
# A rule that reads the flag of a rule before it: judging must set flags in rule order.
AFTER_BURST = AnomalyRule(
    "AFTER_BURST", Scope.ENTITY, "is_after_burst", "total_events", 0,
    (Condition("is_burst_activity", minimum=1),), explanation="after a burst ({is_burst_activity})",
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(judged_columns),
    st.sampled_from(list(Scope)),
    st.booleans(),
    st.lists(st.floats(0.1, 3), min_size=len(DEFAULT_RULES), max_size=len(DEFAULT_RULES)),
    st.booleans(),
)
def test_judge_gives_what_the_rule_by_rule_definition_gives(row, scope, cold, scales, chained):
    rules = tuple(
        attrs.evolve(r, threshold=r.threshold * s) for r, s in zip(DEFAULT_RULES, scales, strict=True)
    )
    config = AnomalyConfig(rules=(*rules, AFTER_BURST) if chained else rules)

    def outcome(judging):
        judged = dict(row)
        try:
            judging(judged, scope, cold=cold, horizon="6-h", config=config)
        except (TypeError, ValueError) as err:  # a None in an explanation's formatted column
            return type(err), str(err), exactly(judged)
        return None, "", exactly(judged)

    assert outcome(judge) == outcome(reference_judge)
