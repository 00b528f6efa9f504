"""The gold use case against the in-memory table store."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.unit.domain.gold_strategies import BASE_TIME, silver_event, silver_events
from wikiguard.adapters.memory.table_store import InMemoryTableStore
from wikiguard.application.gold import (
    _TABLES,
    CHECKPOINT_KEY,
    GoldResult,
    GoldSettings,
    GoldStage,
    commit_windows,
    write_closed,
)
from wikiguard.application.quality_gate import quality_metrics_row, quarantine_row, run_gate, to_json
from wikiguard.application.tables import (
    ALL_TABLES,
    GOLD_ENTITY_METRICS,
    GOLD_GLOBAL_METRICS,
    GOLD_QUARANTINE,
    GOLD_USER_METRICS,
    QUALITY_METRICS,
    SILVER_EVENTS,
    SILVER_QUARANTINE,
)
from wikiguard.domain.anomalies import AnomalyConfig, Scope, anomaly_of
from wikiguard.domain.baselines import BaselineBook, judge_window
from wikiguard.domain.metrics import OpenWindows
from wikiguard.domain.quality import Rule, RuleKind, RuleSet, Severity
from wikiguard.domain.rulesets import GOLD_RULES

SIZE = timedelta(minutes=10)
GOLD = (GOLD_ENTITY_METRICS.name, GOLD_USER_METRICS.name, GOLD_GLOBAL_METRICS.name)
# A short history so that a few windows reach past the horizon.
SETTINGS = GoldSettings(anomalies=AnomalyConfig(history_windows=4, min_history=2, min_user_samples=3))
REVERT = "Reverted edits by 203.0.113.9 (talk) to last version by Alice"


def new_store() -> InMemoryTableStore:
    store = InMemoryTableStore(ALL_TABLES)
    store.ensure_tables()
    return store


def at(window: int, second: int = 0):
    return BASE_TIME + window * SIZE + timedelta(seconds=second)


def traffic(windows: int = 10) -> dict[int, list]:
    """Events per window: a steady page, a page with a revert wave in window 6, a blitzing user in window 8."""
    out = {}
    for w in range(windows):
        events = [silver_event(title="Earth", user=f"E{k % 3}", at=at(w, k)) for k in range(3)]
        events += [silver_event(title="Moon", user=f"M{k}", at=at(w, 100 + k), comment=REVERT if w == 6 else "x")
                   for k in range(5 if w == 6 else 1)]  # fmt: skip
        if w == 8:
            events += [silver_event(title=f"Page {k}", user="Blitzer", at=at(w, 200 + k)) for k in range(10)]
        out[w] = events
    return out


def silver_rows(events):
    return [{**attrs.asdict(e), "batch_id": "silver-1"} for e in events]


def feed(stage: GoldStage, store, events):
    """What the silver stage does: write silver, then hand the events to gold."""
    store.append(SILVER_EVENTS.name, silver_rows(events), {"silver": "x"})
    stage.add(events)


def close(stage: GoldStage, window_end: int):
    until = at(window_end)
    return stage.close(until, batch_id=f"gold-{window_end}", now=until + timedelta(minutes=6))


def gold_rows(store, table):
    return sorted(
        store.scan(table), key=lambda r: (r["window_start"], r.get("entity") or r.get("user_name") or "")
    )


def run_uninterrupted(by_window, settings=SETTINGS):
    store = new_store()
    stage = GoldStage(store, settings)
    stage.restore(None)
    for w in sorted(by_window):
        feed(stage, store, by_window[w])
        close(stage, w)  # the watermark trails one window behind: closes w - 1
    close(stage, max(by_window) + 1)
    return store


def test_close_writes_the_three_tables_quality_and_checkpoints():
    by_window = traffic(3)
    store = new_store()
    stage = GoldStage(store, SETTINGS)
    for w in range(3):
        feed(stage, store, by_window[w])
    result = close(stage, 3)
    assert [w.start for w in result.windows] == [at(0), at(1), at(2)]
    assert len(result.global_rows) == 3 and store.count(GOLD_GLOBAL_METRICS.name) == 3
    assert store.count(GOLD_ENTITY_METRICS.name) == 6 and len(result.entity_rows) == 6
    assert sum(r["total_events"] for r in result.global_rows) == sum(len(v) for v in by_window.values())
    assert (
        result.quality.total == 6 + len(result.user_rows) + 3
        and result.quality.passed == result.quality.total
    )
    [quality] = store.scan(QUALITY_METRICS.name)
    assert (quality["layer"], quality["batch_id"], quality["outcome"]) == ("gold", "gold-3", "SUCCESS")
    for table in (*GOLD, GOLD_QUARANTINE.name, QUALITY_METRICS.name):
        assert store.checkpoint(table, CHECKPOINT_KEY) == at(3).isoformat()
    assert stage.checkpoint() == at(3)
    row = result.entity_rows[0]
    assert row["event_date"] == row["window_start"].date() and row["batch_id"] == "gold-3"
    assert row["anomaly_types"] is None and row["severity"] == "NORMAL"
    assert result.quarantined == 0 and store.count(GOLD_QUARANTINE.name) == 0


def test_closing_twice_writes_nothing_twice():
    by_window = traffic(4)
    store = new_store()
    stage = GoldStage(store, SETTINGS)
    for w in range(4):
        feed(stage, store, by_window[w])
    close(stage, 4)
    counts = {t: store.count(t) for t in (*GOLD, QUALITY_METRICS.name)}
    again = close(stage, 4)
    assert again.entity_rows == [] and {t: store.count(t) for t in counts} == counts
    restarted = GoldStage(store, SETTINGS)  # a new process re-running the same close
    restarted.restore(at(4))
    close(restarted, 4)
    assert {t: store.count(t) for t in counts} == counts


def test_restore_gives_the_same_rows_as_an_uninterrupted_run():
    by_window = traffic(10)
    expected = run_uninterrupted(by_window)
    store = new_store()
    stage = GoldStage(store, SETTINGS)
    stage.restore(None)
    for w in range(10):
        feed(stage, store, by_window[w])
        close(stage, w)
        if w in (3, 5, 6, 8):  # crash: the open window lives only in silver now
            stage = GoldStage(store, SETTINGS)
            stage.restore(at(w))
    close(stage, 10)
    for table in GOLD:
        assert gold_rows(store, table) == gold_rows(expected, table), table
    anomalies = [r for r in gold_rows(store, GOLD_ENTITY_METRICS.name) if r["is_anomaly"]]
    assert [(r["entity"], r["window_start"], r["anomaly_types"]) for r in anomalies] == [
        ("enwiki:Moon", at(6), "REVERT_WAVE")
    ]
    blitz = [r for r in gold_rows(store, GOLD_USER_METRICS.name) if r["is_anomaly"]]
    assert [(r["user_name"], r["anomaly_types"]) for r in blitz] == [("Blitzer", "USER_BLITZ")]


class CrashingStore(InMemoryTableStore):
    """Once armed, fails on the next append to one table: a crash between two tables' commits."""

    fail_on = ""

    def append(self, table, rows, checkpoint):
        if table == self.fail_on:
            self.fail_on = ""
            raise RuntimeError("crash")
        super().append(table, rows, checkpoint)


@pytest.mark.parametrize("fail_on", [GOLD_USER_METRICS.name, GOLD_GLOBAL_METRICS.name, QUALITY_METRICS.name])
def test_a_crash_between_tables_neither_loses_nor_duplicates(fail_on):
    by_window = traffic(6)
    expected = run_uninterrupted(by_window)
    store = CrashingStore(ALL_TABLES)
    store.ensure_tables()
    stage = GoldStage(store, SETTINGS)
    for w in range(3):
        feed(stage, store, by_window[w])
        close(stage, w)
    feed(stage, store, by_window[3])
    store.fail_on = fail_on
    with pytest.raises(RuntimeError):
        close(stage, 3)  # closes window 2: the entity table commits, then the crash
    assert store.checkpoint(GOLD_ENTITY_METRICS.name, CHECKPOINT_KEY) == at(3).isoformat()
    stage = GoldStage(store, SETTINGS)
    stage.restore(at(3))
    assert stage.checkpoint() == at(2)  # not every table has window 2 yet
    close(stage, 3)
    for w in range(4, 6):
        feed(stage, store, by_window[w])
        close(stage, w)
    close(stage, 6)
    for table in GOLD:
        assert gold_rows(store, table) == gold_rows(expected, table), table
    assert store.count(QUALITY_METRICS.name) == expected.count(QUALITY_METRICS.name)


def quarantined(event, reasons):
    return quarantine_row(
        layer="silver", batch_id="silver-1", record=to_json(silver_rows([event])[0]), reasons=reasons,
        quarantined_at=event.ingestion_timestamp, meta_id=event.meta_id, event_timestamp=event.event_timestamp,
    )  # fmt: skip


def test_silver_quarantine_counts_as_quality_failures_but_late_rows_do_not():
    store = new_store()
    stage = GoldStage(store, SETTINGS)
    feed(stage, store, [silver_event(title="Earth", user="Alice", at=at(0, k)) for k in range(3)])
    bad = [
        quarantined(silver_event(title="Earth", user="Alice", at=at(0, 10)), ["bytes_changed_range"]),
        quarantined(silver_event(title="Earth", user="Bob", at=at(0, 11)), ["late"]),
        quarantined(silver_event(title="Sun", user="Carol", at=at(0, 12)), ["event_type_valid"]),
    ]
    store.append(SILVER_QUARANTINE.name, bad, {"silver": "x"})
    stage.add_quality_failures(bad)
    [earth] = close(stage, 1).entity_rows
    assert (earth["quality_failed_count"], earth["quality_ratio"]) == (1, 0.75)
    [platform] = store.scan(GOLD_GLOBAL_METRICS.name)
    assert platform["total_quality_failed"] == 2
    [alice] = store.scan(GOLD_USER_METRICS.name)
    assert alice["quality_failed_count"] == 1
    # Restored from the tables, the open window counts the same.
    restored = GoldStage(store, SETTINGS)
    restored.restore(None)
    assert restored.checkpoint() == at(1)
    feed(restored, store, [silver_event(title="Earth", at=at(1))])
    store.append(SILVER_QUARANTINE.name, [quarantined(silver_event(title="Earth", at=at(1, 5)), ["x"])], {})
    restored2 = GoldStage(store, SETTINGS)
    restored2.restore(None)
    [earth1] = close(restored2, 2).entity_rows
    assert (earth1["window_start"], earth1["quality_failed_count"]) == (at(1), 1)


def test_rows_the_gate_refuses_go_to_gold_quarantine_and_teach_no_baseline():
    strict = RuleSet(
        "gold", (*GOLD_RULES.rules, Rule("busy", RuleKind.RANGE, "total_events", Severity.WARNING, min=2))
    )
    settings = attrs.evolve(SETTINGS, rules=strict)
    by_window = traffic(6)
    expected = run_uninterrupted(by_window, settings)
    refused = list(expected.scan(GOLD_QUARANTINE.name))
    assert refused and all(r["layer"] == "gold" and r["reasons"] == ["busy"] for r in refused)
    assert all(r["total_events"] >= 2 for t in GOLD for r in expected.scan(t))
    store = new_store()
    stage = GoldStage(store, settings)
    results = []
    for w in range(6):
        feed(stage, store, by_window[w])
        results.append(close(stage, w))
        stage = GoldStage(store, settings)
        stage.restore(at(w))
    results.append(close(stage, 6))
    assert sum(r.quarantined for r in results) == store.count(GOLD_QUARANTINE.name)
    for table in (*GOLD, GOLD_QUARANTINE.name):
        assert len(list(store.scan(table))) == len(list(expected.scan(table)))
    for table in GOLD:
        assert gold_rows(store, table) == gold_rows(expected, table)


def test_anomalies_come_back_with_severity_score_and_explanation():
    by_window = traffic(7)
    store = new_store()
    stage = GoldStage(store, SETTINGS)
    results = []
    for w in range(7):
        feed(stage, store, by_window[w])
        results.append(close(stage, w))
    results.append(close(stage, 7))
    anomalies = [a for r in results for a in r.anomalies]
    [wave] = [a for a in anomalies if a.subject == "enwiki:Moon"]
    assert wave.types == ("REVERT_WAVE",) and wave.window.start == at(6) and wave.wiki == "enwiki"
    assert wave.risk_score > 0 and str(wave.severity) in ("MEDIUM", "HIGH", "CRITICAL")
    assert wave.explanation.startswith("Reverts: 5 of 5 edits (100%")


def test_late_events_are_counted_not_reopened():
    store = new_store()
    stage = GoldStage(store, SETTINGS)
    feed(stage, store, [silver_event(at=at(0))])
    close(stage, 1)
    stage.add([silver_event(at=at(0, 30))])
    assert stage.late_events == 1 and stage.open_windows == 0
    assert close(stage, 2).entity_rows == []


# -- the gate's shortcut: rows proven clean are not judged row by row, with the same verdict ----------


NOW = BASE_TIME + timedelta(hours=1)
GATE_COLUMNS = (
    "window_start",
    "window_end",
    "total_events",
    "revert_ratio",
    "risk_score",
    "health_score",
    "entity",
)
clean_cells = st.fixed_dictionaries({
    "window_start": st.just(BASE_TIME), "window_end": st.just(BASE_TIME + SIZE),
    "total_events": st.integers(1, 60),
    "revert_ratio": st.floats(0, 1), "risk_score": st.integers(0, 100), "health_score": st.integers(0, 100),
    "entity": st.sampled_from(["enwiki:Earth", "enwiki:Moon"]),
})  # fmt: skip
odd_cells = st.one_of(
    st.none(), st.integers(-3, 103), st.floats(), st.booleans(), st.sampled_from(["", "x"]),
    st.just(BASE_TIME), st.just(BASE_TIME + SIZE), st.just(float("nan")),
)  # fmt: skip
EXTRA_RULES = (
    Rule("x_range", RuleKind.RANGE, "total_events", Severity.WARNING, min=2, max=50),
    Rule("x_low", RuleKind.RANGE, "revert_ratio", Severity.WARNING, min=0.2),
    Rule("x_not_null", RuleKind.NOT_NULL, "risk_score", Severity.CRITICAL),
    Rule("x_named", RuleKind.NOT_NULL, "entity", Severity.CRITICAL),
    Rule("x_after", RuleKind.GREATER_THAN, "window_start", Severity.WARNING, other_column="window_end"),
    Rule("x_measured", RuleKind.RANGE, "health_score", Severity.WARNING, max=10, blocking=False),
    Rule("x_set", RuleKind.IN_SET, "risk_score", Severity.WARNING, values=(0,)),
    Rule("x_unique", RuleKind.UNIQUE, "total_events", Severity.WARNING),
)
NAN = float("nan")
ROW = {"window_start": BASE_TIME, "window_end": BASE_TIME + SIZE, "total_events": 3, "revert_ratio": 0.5,
       "risk_score": 0, "health_score": 100, "entity": "enwiki:Earth"}  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(
    st.lists(clean_cells, min_size=1, max_size=6),
    st.lists(st.tuples(st.integers(0, 5), st.sampled_from(GATE_COLUMNS), odd_cells), max_size=3),
    st.sets(st.sampled_from(GATE_COLUMNS), max_size=2),
    st.sets(st.sampled_from(EXTRA_RULES)),
)
@example([{**ROW, "revert_ratio": NAN}, {**ROW, "revert_ratio": 1.5}], [], set(), set())  # a NaN first
@example([{**ROW, "health_score": NAN}, {**ROW, "health_score": -1}], [], set(), set())
@example([ROW, ROW], [(1, "revert_ratio", None)], set(), set())
@example([ROW, ROW], [(1, "entity", "")], set(), {EXTRA_RULES[3]})
def test_rows_proven_clean_break_no_rule(rows, odd, absent, extra):
    """Rows mostly as gold writes them, with a few odd cells (None, NaN, inf, text, bools, datetimes)
    and columns some rows lack: whatever `RuleSet.proves_clean` passes, no rule (blocking or not) refuses."""
    rows = [{c: v for c, v in row.items() if c not in absent or i % 2} for i, row in enumerate(rows)]
    for index, column, value in odd:
        rows[index % len(rows)][column] = value
    rules = RuleSet("gold", (*GOLD_RULES.rules, *sorted(extra, key=lambda r: r.name)))
    if rules.proves_clean(rows):
        assert not any(rule.failed_by(row, NOW) for rule in rules.rules for row in rows)
        assert not any(rule.kind is RuleKind.UNIQUE for rule in rules.rules)  # a batch rule: never shortcut


def test_judged_rows_are_proven_clean():
    """The shortcut holds for the rows gold writes (else the gate judges every row twice again)."""
    store = new_store()
    stage = GoldStage(store, SETTINGS)
    for w, events in traffic(9).items():
        feed(stage, store, events)
        result = close(stage, w)
        for rows in (result.entity_rows, result.user_rows, result.global_rows):
            assert GOLD_RULES.proves_clean(rows)


def reference_commit_windows(store, settings, book, windows, closed_until, *, batch_id, now, engine):
    """`commit_windows` as first written: each row judged by the rules for the book, then by the gate."""
    rules = settings.rules

    def ok(row):
        return not rules.reasons(row, now)

    tables = {Scope.ENTITY: [], Scope.USER: [], Scope.GLOBAL: []}
    for rows in windows:
        judged = judge_window(rows, book)
        for row in (*judged.entities, *judged.users, judged.platform):
            row["aggregation_timestamp"] = now
            row["batch_id"] = batch_id
        platform = judged.platform if ok(judged.platform) else None
        book.observe(rows.window, list(filter(ok, judged.entities)), list(filter(ok, judged.users)), platform)
        tables[Scope.ENTITY].extend(judged.entities)
        tables[Scope.USER].extend(judged.users)
        tables[Scope.GLOBAL].append(judged.platform)
    everything = [row for scope_rows in tables.values() for row in scope_rows]
    gate = run_gate(rules, everything, batch_id=batch_id, reference=now, thresholds=settings.thresholds)
    passed_ids = {id(row) for row in gate.passed}
    passed = {scope: [r for r in rows if id(r) in passed_ids] for scope, rows in tables.items()}
    quality = [quality_metrics_row(gate.quality, engine=engine, measured_at=now)] if everything else []
    outputs = (passed[Scope.ENTITY], passed[Scope.USER], passed[Scope.GLOBAL], gate.quarantined, quality)
    for (table, column), rows_out in zip(_TABLES, outputs, strict=True):
        write_closed(store, table, rows_out, closed_until, column)
    anomalies = [a for scope, rows in passed.items() for a in (anomaly_of(scope, r) for r in rows) if a]
    anomalies.sort(key=lambda a: (a.window.start, -a.risk_score, a.scope, a.subject))
    return GoldResult(
        entity_rows=list(passed[Scope.ENTITY]), user_rows=list(passed[Scope.USER]),
        global_rows=list(passed[Scope.GLOBAL]), anomalies=anomalies, quality=gate.quality,
        windows=tuple(rows.window for rows in windows), quarantined=len(gate.quarantined),
    )  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    st.lists(silver_events(times=st.integers(0, 2399).map(lambda s: BASE_TIME + timedelta(seconds=s))),
             min_size=1, max_size=50),
    st.sets(st.sampled_from(EXTRA_RULES)),
)  # fmt: skip
def test_commit_gives_what_judging_every_row_gave(events, extra):
    """Four windows closed at once under rules that refuse some rows (so later windows are judged
    against a book that learned less): the same rows, quarantine, quality and anomalies, in order."""
    settings = attrs.evolve(
        SETTINGS, rules=RuleSet("gold", (*GOLD_RULES.rules, *sorted(extra, key=lambda r: r.name)))
    )
    windows = OpenWindows(SIZE)
    for event in events:
        windows.add(event)
    finished = [rows for rows in (acc.finalize() for acc in windows.close(at(4))) if rows is not None]
    outcomes = []
    for commit in (commit_windows, reference_commit_windows):
        store, book = new_store(), BaselineBook(settings.anomalies, SIZE)
        result = commit(
            store, settings, book, finished, at(4), batch_id="gold-4", now=at(4), engine="embedded"
        )
        outcomes.append((result, {t.name: list(store.scan(t.name)) for t in ALL_TABLES}))
    (fast, fast_tables), (slow, slow_tables) = outcomes
    assert fast == slow and fast_tables == slow_tables
    for got, want in zip((*fast.entity_rows, *fast.user_rows, *fast.global_rows),
                         (*slow.entity_rows, *slow.user_rows, *slow.global_rows), strict=True):  # fmt: skip
        assert list(got.items()) == list(want.items())
