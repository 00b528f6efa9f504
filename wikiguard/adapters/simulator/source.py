"""Simulated `recentchange` traffic: realistic raw payloads, deterministic for a seed, fast.

Event time runs on its own clock (about 30 events per second of event time, like the live feed),
so a million events span hours of event time whatever the wall clock does. Payloads have the
exact shape of the live 1.0.0 events (see shared/data), including the feed's rough edges:
bots, IP and temporary-account editors, re-sent events, late events, canaries, broken payloads.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from math import log
from types import MappingProxyType
from typing import Any

import attrs

from wikiguard.adapters.simulator.catalog import Catalog, js
from wikiguard.adapters.simulator.render import Renderer
from wikiguard.adapters.simulator.scenarios import Scenario
from wikiguard.application.ports import ChangeSource, SourceRecord

_NO_RESUME: Mapping[str, int] = MappingProxyType({})


@attrs.frozen
class TrafficMix:
    """Shares of each feature in background traffic (defaults near the live feed's)."""

    events_per_s: float = 30.0  # of event time
    bot: float = 0.30
    ip: float = 0.03
    temporary: float = 0.04
    watched: float = 0.0001  # per watched page: ~11 background edits an hour each
    edit: float = 0.52
    categorize: float = 0.40
    new: float = 0.05  # the rest are log events
    late: float = 0.30  # events whose timestamp lags their arrival (mostly categorize)
    duplicate: float = 0.003
    canary: float = 0.0005
    malformed: float = 0.001


@attrs.define
class SimulatorStats:
    """What the simulator has emitted so far, for tests and benchmarks to check against."""

    events: int = 0
    duplicates: int = 0
    canaries: int = 0
    malformed: int = 0
    scenario_events: dict[str, int] = attrs.Factory(dict)


class SimulatedChangeSource(ChangeSource):
    """A bounded (`max_events`) or endless source of simulated events, optionally paced."""

    name = "simulator"

    def __init__(
        self,
        seed: int,
        *,
        rate_per_s: float | None = None,
        max_events: int | None = None,
        start: datetime = datetime(2026, 1, 29, tzinfo=UTC),
        entities: Sequence[tuple[str, str]] = (),
        scenarios: Sequence[Scenario] = (),
        mix: TrafficMix = TrafficMix(),
        topic: str = "eqiad.mediawiki.recentchange",
        sleep: Callable[[float], Any] = time.sleep,
    ):
        self.seed, self.rate_per_s, self.max_events = seed, rate_per_s, max_events
        self.start, self.entities, self.scenarios = start, list(entities), list(scenarios)
        self.mix, self.topic, self._sleep = mix, topic, sleep
        self.stats = SimulatorStats()
        self._closed = False

    def close(self) -> None:
        self._closed = True

    def records(self, resume: Mapping[str, int] = _NO_RESUME) -> Iterator[SourceRecord]:
        """Records at positions 1, 2, ... of `topic` partition 0, after `resume["<topic>:0"]`."""
        topic = self.topic
        skip = resume.get(f"{topic}:0", 0)
        for position, (payload, arrival) in enumerate(self.payloads(), start=1):
            if position > skip:
                yield SourceRecord(payload, position, datetime.fromtimestamp(arrival, UTC), topic)

    def payloads(self) -> Iterator[tuple[str, float]]:
        """(payload, arrival time in epoch seconds); the same sequence for the same seed."""
        self._closed = False
        self.stats = stats = SimulatorStats()
        rng = random.Random(self.seed)
        catalog = Catalog(rng, self.entities)
        render = Renderer(rng, catalog, self.topic)
        mix = self.mix
        now = self.start.timestamp()
        year = self.start.year
        pending: list[tuple[float, int, str, tuple[Any, ...]]] = []
        order = itertools.count()
        for scenario in self.scenarios:
            base = scenario.at.timestamp()
            for step in scenario.steps(catalog, year):
                heapq.heappush(pending, (base + step[0], next(order), scenario.kind, step[1:]))
        recent: list[str] = []
        limit = self.max_events if self.max_events is not None else -1
        wall0, rate = time.monotonic(), self.rate_per_s
        type_table = _type_table(mix)
        random_, getrandbits, expovariate = rng.random, rng.getrandbits, rng.expovariate
        mean_gap = 1.0 / mix.events_per_s
        watched = catalog.watched
        bots = [js(b) for b in catalog.bots]
        pages, wiki_table, page_table = catalog.pages, catalog.wiki_table, catalog.page_table
        registered = [js(r) for r in catalog.registered]
        p_bot, p_ip = mix.bot, mix.bot + mix.ip
        p_temp = p_ip + mix.temporary
        p_dup, p_canary = mix.duplicate, mix.duplicate + mix.canary
        p_broken = p_canary + mix.malformed
        p_watched, p_late = mix.watched * len(catalog.watched), mix.late
        count = 0
        while count != limit and not self._closed:
            if pending and pending[0][0] <= now:
                at, _, kind, (etype, page, user, bot, comment, delta) = heapq.heappop(pending)
                payload = render.scripted(etype, page, user, bot, comment, delta, at)
                stats.scenario_events[kind] = stats.scenario_events.get(kind, 0) + 1
                arrival = max(at, now)
            else:
                now -= log(1.0 - random_()) * mean_gap  # exponential gaps: a Poisson stream
                arrival = now
                r = random_()
                if r < p_dup and recent:
                    payload = recent[getrandbits(16) % len(recent)]
                    stats.duplicates += 1
                else:
                    etype = type_table[getrandbits(8)]
                    if watched and random_() < p_watched:
                        page = watched[getrandbits(16) % len(watched)]
                        if etype == "new":  # a watched page exists already: creating it again is not background
                            etype = "edit"
                    else:
                        page = pages[wiki_table[getrandbits(16)]][page_table[getrandbits(16)]]
                    late = random_() < p_late
                    lag = (
                        (min(96.0, expovariate(1 / 12)) if etype == "categorize" else random_() * 3)
                        if late
                        else 0.0
                    )
                    u = random_()
                    # Users go into the payload as JSON text: generated names need no escaping.
                    if u < p_bot:
                        user, bot = bots[getrandbits(16) % len(bots)], True
                    elif u < p_ip:
                        user, bot = f'"{catalog.ip()}"', False
                    elif u < p_temp:
                        user, bot = f'"{catalog.temporary(year)}"', False
                    else:
                        user, bot = registered[getrandbits(16) % len(registered)], False
                    payload = render.background(etype, page, user, bot, now - lag, r < p_canary)
                    if p_canary <= r < p_broken:
                        payload = render.break_(payload)
                        stats.malformed += 1
                    else:
                        if r < p_canary:
                            stats.canaries += 1
                        if len(recent) < 256:
                            recent.append(payload)
                        else:
                            recent[getrandbits(8)] = payload
            count += 1
            if count & 63 == 0:
                stats.events = count
                if rate is not None:
                    ahead = wall0 + count / rate - time.monotonic()
                    if ahead > 0:
                        self._sleep(ahead)
            yield payload, arrival
        stats.events = count


def _type_table(mix: TrafficMix) -> list[str]:
    edges = [
        (mix.edit, "edit"),
        (mix.edit + mix.categorize, "categorize"),
        (mix.edit + mix.categorize + mix.new, "new"),
    ]
    return [next((t for edge, t in edges if (i + 0.5) / 256 < edge), "log") for i in range(256)]
