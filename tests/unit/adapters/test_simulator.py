import collections
import itertools
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from wikiguard.adapters.simulator import KINDS, Scenario, SimulatedChangeSource, TrafficMix, recorded_repeat
from wikiguard.application.ports import ChangeSource
from wikiguard.domain.enrichment import is_anonymous, is_ip_address, is_revert, is_temporary_account
from wikiguard.domain.events import Change, parse_change

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "wikimedia"
RAW = DATA / "yearfunla_wikiMedia_stream_monitor__recentchange_raw.jsonl"
START = datetime(2026, 1, 29, tzinfo=UTC)
WATCHED = [("enwiki", "Donald Trump"), ("enwiki", "India"), ("wikidatawiki", "Q30")]


def decoded(source: SimulatedChangeSource) -> tuple[list[dict], int]:
    events, broken = [], 0
    for payload, _ in source.payloads():
        try:
            raw = orjson.loads(payload)
        except orjson.JSONDecodeError:
            broken += 1
            continue
        change = parse_change(raw)
        if isinstance(change, Change):
            events.append(raw)
        else:
            broken += 1
    return events, broken


@pytest.fixture(scope="module")
def traffic():
    source = SimulatedChangeSource(11, max_events=40_000, entities=WATCHED)
    events, broken = decoded(source)
    return source, events, broken


def test_same_seed_same_payloads_other_seed_other_payloads():
    def first(seed):
        return [p for p, _ in itertools.islice(SimulatedChangeSource(seed).payloads(), 3000)]

    assert first(5) == first(5)
    assert first(5) != first(6)


def test_every_payload_except_the_deliberately_broken_ones_parses(traffic):
    source, events, broken = traffic
    assert source.stats.events == 40_000
    assert broken == source.stats.malformed
    assert 10 <= broken <= 100  # about 0.1 %


def test_payloads_have_the_shape_of_the_live_events(traffic):
    _, events, _ = traffic
    recorded = [orjson.loads(line) for line in RAW.read_text(encoding="utf-8").splitlines()]

    def shape(event):
        return list(event), list(event["meta"])

    def first_recorded(pred):
        return next(e for e in recorded if pred(e))

    edit = first_recorded(
        lambda e: e["type"] == "edit" and "patrolled" in e and e["meta"]["domain"] != "canary"
    )
    assert shape(next(e for e in events if e["type"] == "edit")) == shape(edit)
    new = next(e for e in events if e["type"] == "new")
    assert shape(new) == shape(first_recorded(lambda e: e["type"] == "new" and "patrolled" in e))
    assert set(new["length"]) == {"new"} and set(new["revision"]) == {"new"}
    categorize = next(e for e in events if e["type"] == "categorize")
    assert shape(categorize) == shape(first_recorded(lambda e: e["type"] == "categorize"))
    log = next(e for e in events if e["type"] == "log")
    assert (
        "length" not in log and "revision" not in log and {"log_type", "log_action", "log_params"} <= set(log)
    )
    assert all(e["$schema"] == "/mediawiki/recentchange/1.0.0" for e in events)
    meta_id = events[0]["meta"]["id"]
    assert meta_id[14] == "4" and meta_id[19] in "89ab" and len(meta_id) == 36


def test_feature_rates_are_near_the_live_feed(traffic):
    _, events, _ = traffic
    n = len(events)
    users = [e["user"] for e in events]
    types = collections.Counter(e["type"] for e in events)
    assert 0.25 < sum(e["bot"] for e in events) / n < 0.35
    assert 0.015 < sum(is_ip_address(u) for u in users) / n < 0.05
    assert any(":" in u for u in users if is_ip_address(u)) and any(
        "." in u for u in users if is_ip_address(u)
    )
    assert 0.025 < sum(is_temporary_account(u) for u in users) / n < 0.06
    assert 0.45 < types["edit"] / n < 0.6 and 0.33 < types["categorize"] / n < 0.47
    assert types["new"] > 0 and types["log"] > 0
    assert len({e["wiki"] for e in events}) >= 30
    commons = sum(e["wiki"] == "commonswiki" for e in events) / n
    assert 0.3 < commons < 0.5


def test_duplicates_canaries_and_late_events_are_there(traffic):
    source, events, _ = traffic
    ids = collections.Counter(e["meta"]["id"] for e in events)
    resent = sum(count - 1 for count in ids.values())
    canaries = sum(e["meta"]["domain"] == "canary" for e in events)
    assert resent >= source.stats.duplicates * 0.9 > 40  # a duplicate may itself be a canary
    assert canaries >= source.stats.canaries > 5
    stamps = [e["timestamp"] for e in events]
    backward = sum(b < a for a, b in itertools.pairwise(stamps))
    assert backward / len(stamps) > 0.1
    assert max(a - b for a, b in itertools.pairwise(stamps)) > 30


def test_watched_pages_get_background_traffic(traffic):
    _, events, _ = traffic
    hits = collections.Counter((e["wiki"], e["title"]) for e in events if (e["wiki"], e["title"]) in WATCHED)
    # 0.0001 of events per watched page by default: about a dozen an hour each
    assert 3 <= sum(hits.values()) <= 30
    busy, _ = decoded(
        SimulatedChangeSource(4, max_events=20_000, entities=WATCHED, mix=TrafficMix(watched=0.002))
    )
    hits = collections.Counter((e["wiki"], e["title"]) for e in busy if (e["wiki"], e["title"]) in WATCHED)
    assert set(hits) == set(WATCHED)
    # 3 x 0.002 of events, less the ~40 % that are categorize events (titled by the category)
    assert 0.0025 < sum(hits.values()) / len(busy) < 0.0055


def test_event_time_runs_at_about_thirty_per_second_whatever_the_wall_clock():
    source = SimulatedChangeSource(3, max_events=30_000)
    arrivals = [a for _, a in source.payloads()]
    span = arrivals[-1] - arrivals[0]
    assert 900 < span < 1100  # 30,000 events / 30 per second
    assert arrivals == sorted(arrivals)
    assert arrivals[0] >= START.timestamp()


def scenario_events(kind, **kwargs):
    at = START + timedelta(minutes=1)
    scenario = Scenario(kind, at, **{"duration": timedelta(minutes=3), **kwargs})
    source = SimulatedChangeSource(21, max_events=8_000, entities=WATCHED, scenarios=[scenario])
    events, _ = decoded(source)
    window = [
        e for e in events if at.timestamp() <= e["timestamp"] < (at + scenario.duration).timestamp() + 5
    ]
    return source, events, window


def test_revert_wave_puts_many_reverts_by_several_users_on_the_page():
    source, _, window = scenario_events("revert_wave", title="Donald Trump", events=60)
    page = [e for e in window if e["title"] == "Donald Trump" and e["wiki"] == "enwiki"]
    reverts = [e for e in page if is_revert(e["comment"])]
    assert source.stats.scenario_events == {"revert_wave": 60}
    assert len(reverts) >= 35
    assert len({e["user"] for e in reverts}) >= 3
    assert any(e["comment"].startswith("Undid revision") for e in reverts)
    assert any(e["comment"].startswith("Reverted edits by") for e in reverts)


def test_without_a_scenario_the_same_window_is_quiet():
    at = START + timedelta(minutes=1)
    events, _ = decoded(SimulatedChangeSource(21, max_events=8_000, entities=WATCHED))
    page = [
        e
        for e in events
        if e["title"] == "Donald Trump" and at.timestamp() <= e["timestamp"] < at.timestamp() + 180
    ]
    assert sum(is_revert(e["comment"]) for e in page) == 0
    assert len(page) < 6


def test_burst_and_anonymous_surge_hit_the_page():
    _, _, window = scenario_events("burst", title="India", events=80)
    assert sum(e["title"] == "India" for e in window) >= 80
    _, _, window = scenario_events("anonymous_surge", title="India", events=50)
    anon = [e for e in window if e["title"] == "India" and is_anonymous(e["user"])]
    assert len(anon) >= 50
    assert any(is_temporary_account(e["user"]) for e in anon)


def test_user_scenarios_follow_one_user():
    _, _, window = scenario_events(
        "user_blitz", user="Fresh account", events=40, duration=timedelta(minutes=3)
    )
    mine = [e for e in window if e["user"] == "Fresh account"]
    assert mine[0]["log_type"] == "newusers"
    assert len({e["title"] for e in mine if e["type"] == "edit"}) >= 20
    _, _, window = scenario_events("cross_wiki", user="Traveller", events=40)
    assert len({e["wiki"] for e in window if e["user"] == "Traveller"}) >= 10
    _, _, window = scenario_events("mass_revert", user="Reverter", events=40)
    mine = [e for e in window if e["user"] == "Reverter"]
    assert len(mine) == 40 and all(is_revert(e["comment"]) for e in mine)
    assert len({e["title"] for e in mine}) >= 20


def test_unknown_scenario_kind_is_refused():
    assert "revert_wave" in KINDS
    with pytest.raises(ValueError):
        Scenario("earthquake", START)


def test_records_number_positions_and_resume_after_a_checkpoint():
    source = SimulatedChangeSource(9, max_events=50)
    assert isinstance(source, ChangeSource)
    records = list(source.records())
    resumed = list(source.records({"eqiad.mediawiki.recentchange:0": 45}))
    assert len(list(source.records({"other:0": 45}))) == 50
    assert [r.position for r in records] == list(range(1, 51))
    assert [r.payload for r in resumed] == [r.payload for r in records[45:]]
    assert records[0].received_at >= START


def test_rate_paces_the_wall_clock():
    started = time.monotonic()
    assert sum(1 for _ in SimulatedChangeSource(1, rate_per_s=2000, max_events=400).payloads()) == 400
    assert time.monotonic() - started >= 0.15


def test_mix_can_turn_features_off():
    quiet = TrafficMix(duplicate=0, canary=0, malformed=0, late=0)
    events, broken = decoded(SimulatedChangeSource(2, max_events=5000, mix=quiet))
    assert broken == 0
    assert len({e["meta"]["id"] for e in events}) == 5000
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps)


def test_recorded_repeat_gives_fresh_ids_and_later_times():
    source = recorded_repeat(RAW, 3, seed=1)
    records = list(source.records())
    events = [orjson.loads(r.payload) for r in records]
    assert len(records) == 3 * 2387
    assert [r.position for r in records] == list(range(1, 3 * 2387 + 1))
    assert len({e["meta"]["id"] for e in events}) == 3 * 2387
    assert all(isinstance(parse_change(e), Change) for e in events)
    first, third = events[5], events[5 + 2 * 2387]
    assert first["title"] == third["title"]
    assert third["timestamp"] - first["timestamp"] == 2 * (
        events[2386]["timestamp"] - events[0]["timestamp"]
    ) or (third["timestamp"] > first["timestamp"] + 200)
    assert parse_change(third).meta_dt > parse_change(first).meta_dt
    assert third["meta"]["offset"] == first["meta"]["offset"] + 2 * 2387


def _replayed_one_by_one(path: Path, times: int, seed: int) -> list[tuple[str, int, datetime | None]]:
    """What a replay gives, line by line through `_rewrite`'s replace chain (the definition the
    columnar rounds follow): (payload, position, receive time; None for lines that are no event)."""
    import random

    from wikiguard.adapters.simulator.replay import _facts, _rewrite, _uuid4

    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    facts = [_facts(line) for line in lines]
    stamps = [f[2] for f in facts if f is not None]
    offsets = [f[3] for f in facts if f is not None and f[3] is not None]
    span = max(stamps) - min(stamps) + 1
    offset_span = (max(offsets) - min(offsets) + 1) if offsets else len(lines)
    rng, out = random.Random(seed), []
    for round_ in range(times):
        stem = _uuid4(rng)[:24]
        for number, (line, fact) in enumerate(zip(lines, facts, strict=True)):
            position = round_ * len(lines) + number + 1
            if fact is None:
                out.append((line, position, None))
                continue
            stamp = fact[2] + round_ * span
            new = {
                "id": f"{stem}{number:012x}",
                "dt": f'"dt":"{time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))}"',
                "ts": f'"timestamp":{stamp}',
                "offset": f'"offset":{fact[3] + round_ * offset_span}' if fact[3] is not None else "",
            }
            out.append((_rewrite(line, fact, new), position, datetime.fromtimestamp(stamp, UTC)))
    return out


def test_recorded_repeat_rounds_are_the_lines_rewritten_one_by_one(tmp_path: Path) -> None:
    odd = tmp_path / "odd.jsonl"
    odd.write_text("\n".join([
        "not json", "[1, 2]", "   ",
        '{"meta":{"id":"abc","dt":"2024-01-01T00:00:00Z","offset":5},"timestamp":1704067200,"x":1}',
        '{"meta":{"dt":"2024-01-01T00:00:03Z","id":"Z"}}',  # the id's first match is inside meta.dt: chained
        '{"meta":{"id":"q","dt":"2024-01-01T00:00:09Z"},"timestamp":99}',  # a timestamp that disagrees
        '{"meta":{"id":"","dt":"2024-01-01T00:00:09Z"}}', '{"meta":{"id":"zz","dt":"bad"}}',
        '{"meta":{"id":"zz2","dt":"2024-01-01T00:00:10Z","offset":7},"timestamp":1704067210}',
    ]) + "\n", encoding="utf-8")  # fmt: skip
    for path in (odd, RAW):
        expected = _replayed_one_by_one(path, 3, seed=5)
        records = list(recorded_repeat(path, 3, seed=5).records())

        assert [(r.payload, r.position) for r in records] == [(p, n) for p, n, _ in expected]
        assert all(at is None or r.received_at == at for r, (_, _, at) in zip(records, expected, strict=True))
        resumed = list(recorded_repeat(path, 3, seed=5).records({"embedded:0": len(expected) // 2}))
        assert [(r.payload, r.position) for r in resumed] == [(p, n) for p, n, _ in expected[len(expected) // 2 :]]
