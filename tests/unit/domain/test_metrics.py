import json
import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.domain.gold_strategies import BASE_TIME, silver_event, silver_events
from wikiguard.domain.allowlist import canonical_entity
from wikiguard.domain.enrichment import enrich
from wikiguard.domain.events import Change, parse_change
from wikiguard.domain.metrics import (
    Editing,
    EntityWindowMetrics,
    GlobalWindowMetrics,
    OpenWindows,
    UserTally,
    UserWindowMetrics,
    WindowAccumulator,
    WindowRows,
    columns,
    tally,
)
from wikiguard.domain.metrics import ratio as ratio_of
from wikiguard.domain.windows import window_of

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "wikimedia"
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


def finalized(events, size=timedelta(minutes=10)) -> list[WindowRows]:
    windows = OpenWindows(size)
    for event in events:
        assert windows.add(event)
    rows = [acc.finalize() for acc in windows.close(FAR_FUTURE)]
    return [r for r in rows if r is not None]


@settings(max_examples=150, deadline=None)
@given(st.lists(silver_events(), min_size=1, max_size=80))
def test_every_event_lands_in_exactly_one_window_and_counts_add_up(events):
    windows = finalized(events)
    expected = Counter(window_of(e.event_timestamp).start for e in events)
    assert {w.window.start: w.platform.total_events for w in windows} == dict(expected)
    assert sum(w.platform.total_events for w in windows) == len(events)
    for w in windows:
        inside = [e for e in events if e.event_timestamp in w.window]
        assert sum(r.total_events for r in w.entities) == w.platform.total_events == len(inside)
        assert sum(r.total_events for r in w.users) == len(inside)
        assert w.platform.unique_entities == len({e.canonical_entity for e in inside}) == len(w.entities)
        assert w.platform.unique_users == len({e.user_name for e in inside}) == len(w.users)
        assert w.platform.total_reverts == sum(1 for e in inside if e.is_revert and e.event_type == "edit")
        editors = defaultdict(set)
        for e in inside:
            editors[e.canonical_entity].add(e.user_name)
        for row in w.entities:
            assert row.unique_editors == len(editors[row.entity])
            assert w.window.start <= row.first_event_timestamp <= row.last_event_timestamp < w.window.end
            assert row.min_bytes_changed <= row.avg_bytes_changed <= row.max_bytes_changed
            for ratio in (row.revert_ratio, row.anonymous_ratio, row.bot_ratio, row.quality_ratio):
                assert 0.0 <= ratio <= 1.0
        assert [r.entity for r in w.entities] == sorted(r.entity for r in w.entities)
        assert 0.0 <= w.platform.revert_ratio <= 1.0


@settings(max_examples=60, deadline=None)
@given(st.lists(silver_events(), min_size=1, max_size=60), st.randoms(use_true_random=False))
def test_rows_do_not_depend_on_event_order(events, rnd):
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert finalized(shuffled) == finalized(events)


def test_counts_of_one_window():
    t = BASE_TIME
    events = [
        silver_event(user="Alice", at=t + timedelta(minutes=1), old=100, new=6000),
        silver_event(
            user="Bob", at=t + timedelta(minutes=2), comment="Reverted edits by Alice (talk) to last version"
        ),
        silver_event(user="192.0.2.7", at=t + timedelta(minutes=3), old=500, new=400, lag=7.5),
        silver_event(user="CatBot", at=t + timedelta(minutes=4), kind="categorize", bot=True, comment=""),
        silver_event(title="Moon", user="Alice", at=t + timedelta(minutes=9, seconds=59)),
    ]
    [w] = finalized(events)
    earth, moon = w.entities
    assert (earth.entity, moon.entity) == ("enwiki:Earth", "enwiki:Moon")
    assert (earth.total_events, earth.edit_count, earth.categorize_count, earth.revert_count) == (4, 3, 1, 1)
    assert (earth.anonymous_edit_count, earth.bot_edit_count, earth.large_edit_count) == (1, 1, 1)
    assert earth.revert_ratio == 1 / 3 and earth.anonymous_ratio == 0.25 and earth.bot_ratio == 0.25
    assert (earth.min_bytes_changed, earth.max_bytes_changed, earth.max_abs_bytes_changed) == (
        -100,
        5900,
        5900,
    )
    assert earth.unique_editors == 4 and earth.unique_anonymous_editors == 1
    assert earth.max_processing_lag_seconds == 7.5 and earth.avg_processing_lag_seconds == (2.5 * 3 + 7.5) / 4
    assert earth.first_event_timestamp == t + timedelta(minutes=1)  # a timestamp, not epoch seconds
    assert earth.edits_with_comment == 3
    assert (w.platform.unique_users, w.platform.unique_entities, w.platform.events_per_user) == (4, 2, 5 / 4)
    alice = next(u for u in w.users if u.user_name == "Alice")
    assert (alice.total_events, alice.entities_edited, alice.wikis_touched) == (2, 2, 1)
    bot = next(u for u in w.users if u.user_name == "CatBot")
    assert (bot.user_type, bot.is_bot, bot.log_count, bot.categorize_count) == ("Bot", True, 0, 1)


def test_quality_failures_count_on_their_entity_user_and_window():
    windows = OpenWindows()
    windows.add(silver_event(user="Alice"))
    windows.add(silver_event(user="Bob"))
    assert windows.add_quality_failure(BASE_TIME + timedelta(minutes=1), "enwiki:Earth", "Alice")
    assert windows.add_quality_failure(BASE_TIME + timedelta(minutes=2), "enwiki:Nowhere", "Carol")
    assert windows.add_quality_failure(BASE_TIME + timedelta(minutes=12), "enwiki:Earth", None)  # next window
    first, second = windows.close(FAR_FUTURE)
    rows = first.finalize()
    assert rows is not None
    [earth] = rows.entities
    assert (earth.quality_passed_count, earth.quality_failed_count, earth.quality_ratio) == (2, 1, 2 / 3)
    assert {u.user_name: u.quality_failed_count for u in rows.users} == {"Alice": 1, "Bob": 0}
    assert rows.platform.total_quality_failed == 2  # also the page that has no passed row
    assert second.finalize() is None  # failures alone make no row


def test_a_closed_window_takes_no_more_events():
    windows = OpenWindows()
    assert windows.add(silver_event(at=BASE_TIME))
    [closed] = windows.close(BASE_TIME + timedelta(minutes=10))
    assert closed.window.start == BASE_TIME
    assert not windows.add(silver_event(at=BASE_TIME + timedelta(minutes=9)))
    assert not windows.add_quality_failure(BASE_TIME, "enwiki:Earth", "Alice")
    assert windows.add(silver_event(at=BASE_TIME + timedelta(minutes=10)))
    assert len(windows) == 1


def test_recorded_stream_counts_add_up():
    events = []
    seen = set()
    for line in (
        (DATA / "yearfunla_wikiMedia_stream_monitor__recentchange_raw.jsonl").read_text().splitlines()
    ):
        change = parse_change(json.loads(line))
        if not isinstance(change, Change) or change.meta_id in seen:
            continue
        seen.add(change.meta_id)
        events.append(
            enrich(
                change,
                canonical_entity=canonical_entity(change.wiki, change.title),
                ingested_at=change.event_timestamp + timedelta(seconds=1),
                kafka_topic="t",
                kafka_partition=0,
                kafka_offset=len(events),
            )
        )
    windows = finalized(events)
    assert sum(w.platform.total_events for w in windows) == len(events) > 2000
    assert sum(w.platform.unique_wikis for w in windows) >= 53
    assert sum(w.platform.total_bot for w in windows) == sum(e.is_bot for e in events)
    # Real revert summaries ("Reverted edits by ...", "Undo revision ...") are counted, on edits only.
    assert sum(w.platform.total_reverts for w in windows) == sum(
        e.is_revert and e.event_type == "edit" for e in events
    )
    assert sum(w.platform.total_reverts for w in windows) > 0
    assert all(attrs.asdict(r)["event_date"] == r.window_start.date() for w in windows for r in w.entities)


def test_lag_sums_are_exact_whatever_the_order():
    rnd = random.Random(7)
    lags = [rnd.uniform(0, 100) for _ in range(50)]
    events = [
        silver_event(lag=round(lag, 6), at=BASE_TIME + timedelta(seconds=i)) for i, lag in enumerate(lags)
    ]
    [a] = finalized(events)
    [b] = finalized(list(reversed(events)))
    assert a.platform.avg_processing_lag == b.platform.avg_processing_lag


# -- finalize holds to the definition it replaced ---------------------------------------------------


def reference_rows(acc: WindowAccumulator) -> WindowRows | None:
    """`finalize` as first written: every metrics object built with keywords, the platform with sum()s."""
    if not acc.entities:
        return None
    w = acc.window
    day = w.start.date()
    entities = []
    for key, a in sorted(acc.entities.items()):
        failed = acc.entity_failures.get(key, 0)
        entities.append(EntityWindowMetrics(
            entity=key, wiki=a.wiki, total_events=a.total, edit_count=a.edits, new_page_count=a.new_pages,
            categorize_count=a.categorize, log_count=a.logs, revert_count=a.reverts,
            anonymous_edit_count=a.anonymous, bot_edit_count=a.bots, total_bytes_changed=a.bytes_sum,
            avg_bytes_changed=a.bytes_sum / a.total, min_bytes_changed=a.bytes_min,
            max_bytes_changed=a.bytes_max, max_abs_bytes_changed=max(abs(a.bytes_min), abs(a.bytes_max)),
            large_edit_count=a.large, quality_passed_count=a.total, quality_failed_count=failed,
            unique_editors=len(a.editors), unique_anonymous_editors=len(a.anonymous_editors),
            avg_processing_lag_seconds=a.lag_us / a.total / 1_000_000, max_processing_lag_seconds=a.lag_max,
            edits_with_comment=a.commented, first_event_timestamp=a.first, last_event_timestamp=a.last,
            window_start=w.start, window_end=w.end,
            revert_ratio=ratio_of(a.reverts, a.edits), anonymous_ratio=ratio_of(a.anonymous, a.total),
            bot_ratio=ratio_of(a.bots, a.total), quality_ratio=ratio_of(a.total, a.total + failed),
            event_date=day,
        ))  # fmt: skip
    users = [
        UserWindowMetrics(
            user_name=key, user_type=a.user_type, is_bot=a.is_bot, is_anonymous=a.is_anonymous,
            is_temporary_account=a.is_temporary, total_events=a.total, edit_count=a.edits,
            new_page_count=a.new_pages, categorize_count=a.categorize, log_count=a.logs,
            revert_count=a.reverts, total_bytes_changed=a.bytes_sum, avg_bytes_changed=a.bytes_sum / a.total,
            large_edit_count=a.large, entities_edited=len(a.entities), wikis_touched=len(a.wikis),
            quality_failed_count=acc.user_failures.get(key, 0), edits_with_comment=a.commented,
            first_event_timestamp=a.first, last_event_timestamp=a.last, window_start=w.start,
            window_end=w.end, revert_ratio=ratio_of(a.reverts, a.edits), event_date=day,
        )
        for key, a in sorted(acc.users.items())
    ]  # fmt: skip
    accs = list(acc.entities.values())
    total, edits = sum(a.total for a in accs), sum(a.edits for a in accs)
    reverts, anonymous = sum(a.reverts for a in accs), sum(a.anonymous for a in accs)
    bots, bytes_sum = sum(a.bots for a in accs), sum(a.bytes_sum for a in accs)
    platform = GlobalWindowMetrics(
        total_events=total, total_edits=edits, total_new_pages=sum(a.new_pages for a in accs),
        total_categorize=sum(a.categorize for a in accs), total_log=sum(a.logs for a in accs),
        total_reverts=reverts, total_anonymous=anonymous, total_bot=bots,
        total_large_edits=sum(a.large for a in accs), total_bytes_changed=bytes_sum,
        avg_bytes_changed=ratio_of(bytes_sum, total), total_quality_failed=acc.failed,
        unique_users=len(acc.users), unique_entities=len(accs), unique_wikis=len({a.wiki for a in accs}),
        avg_processing_lag=sum(a.lag_us for a in accs) / total / 1_000_000,
        max_processing_lag=max(a.lag_max for a in accs), window_start=w.start, window_end=w.end,
        revert_ratio=ratio_of(reverts, edits), anonymous_ratio=ratio_of(anonymous, total),
        bot_ratio=ratio_of(bots, total), events_per_user=ratio_of(total, len(acc.users)),
        events_per_entity=ratio_of(total, len(accs)), event_date=day,
    )  # fmt: skip
    return WindowRows(w, tuple(entities), tuple(users), platform)


def exactly(row):
    """A row with its column order, value types and float bits (repr round-trips a float)."""
    return [(key, type(value).__name__, repr(value)) for key, value in row.items()]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(silver_events(), min_size=1, max_size=80),
    st.lists(st.tuples(st.integers(0, 79), st.booleans(), st.booleans()), max_size=12),
)
def test_finalize_gives_what_the_first_definition_gave(events, failures):
    windows = OpenWindows()
    for event in events:
        windows.add(event)
    for index, on_entity, on_user in failures:  # silver-quarantined rows of the same windows
        e = events[index % len(events)]
        windows.add_quality_failure(
            e.event_timestamp,
            e.canonical_entity if on_entity else None,
            e.user_name if on_user else "Someone",
        )
    for acc in windows.close(FAR_FUTURE):
        got, want = acc.finalize(), reference_rows(acc)
        assert got == want
        if got is None or want is None:
            continue
        made_all, built_all = (
            (*got.entities, *got.users, got.platform),
            (*want.entities, *want.users, want.platform),
        )
        for made, built in zip(made_all, built_all,
                               strict=True):  # fmt: skip
            assert type(made) is type(built) and attrs.evolve(made) == made
            # `columns` is asdict, and the values are the same objects' bits in the same order
            assert exactly(columns(made)) == exactly(attrs.asdict(built, recurse=False))


def tallied(batches, size=timedelta(minutes=10)) -> list[WindowRows]:
    """Rows from adding each batch's tallies per window (what the batch engine does)."""
    windows = OpenWindows(size)
    for batch in batches:
        by_window = defaultdict(list)
        for event in batch:
            by_window[window_of(event.event_timestamp, size).start].append(event)
        for start, inside in by_window.items():
            by_entity, by_user = defaultdict(list), defaultdict(list)
            for event in inside:
                by_entity[event.canonical_entity].append(event)
                by_user[event.user_name].append(event)
            entities = [(key, group[0].wiki, tally(group)) for key, group in by_entity.items()]
            users = [
                UserTally(key, "Bot" if any(e.is_bot for e in group) else group[0].user_type,
                          any(e.is_bot for e in group), group[0].is_anonymous, group[0].is_temporary_account,
                          tally(group))
                for key, group in by_user.items()
            ]  # fmt: skip
            editing = {Editing(e.canonical_entity, e.user_name, e.wiki, e.is_anonymous) for e in inside}
            assert windows.add_tallies(start, entities, users, editing)
    rows = [acc.finalize() for acc in windows.close(FAR_FUTURE)]
    return [r for r in rows if r is not None]


@settings(max_examples=150, deadline=None)
@given(st.lists(silver_events(), min_size=1, max_size=80), st.randoms(use_true_random=False))
def test_tallies_of_batches_give_the_rows_their_events_give(events, rnd):
    cuts = sorted(rnd.sample(range(len(events) + 1), k=min(len(events) + 1, rnd.randint(0, 4))))
    batches = [events[a:b] for a, b in zip([0, *cuts], [*cuts, len(events)], strict=True)]

    assert tallied(batches) == finalized(events)


def test_tallies_skip_a_closed_window():
    windows = OpenWindows(timedelta(minutes=10))
    windows.close(BASE_TIME + timedelta(minutes=10))
    event = silver_event(at=BASE_TIME)

    assert not windows.add_tallies(BASE_TIME, [("enwiki:Earth", "enwiki", tally([event]))], [], [])
    assert len(windows) == 0
