"""Silver events for the gold tests: a factory for hand-written scenarios and a hypothesis strategy.

Both go through the real `parse_change` and `enrich`, so derived fields (user type, revert, bytes)
are what silver would produce. Users, wikis and times come from the shared `tests.strategies`.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from tests.strategies import BASE_TIME, event_times, users, wikis
from wikiguard.domain.allowlist import canonical_entity
from wikiguard.domain.enrichment import SilverEvent, enrich
from wikiguard.domain.events import Change, parse_change

_offsets = itertools.count()


def silver_event(
    *,
    title: str = "Earth",
    wiki: str = "enwiki",
    user: str = "Alice",
    at: datetime = BASE_TIME,
    kind: str = "edit",
    comment: str = "copyedit",
    bot: bool = False,
    old: int = 1000,
    new: int = 1040,
    lag: float = 2.5,
) -> SilverEvent:
    offset = next(_offsets)
    raw: dict[str, Any] = {
        "$schema": "/mediawiki/recentchange/1.0.0",
        "meta": {
            "id": f"id-{offset}",
            "dt": at.isoformat(),
            "stream": "mediawiki.recentchange",
            "domain": "x",
        },
        "type": kind,
        "title": title,
        "wiki": wiki,
        "user": user,
        "bot": bot,
        "comment": comment,
        "timestamp": at.isoformat(),
    }
    if kind in ("edit", "new"):
        raw["length"] = {"new": new} if kind == "new" else {"old": old, "new": new}
    change = parse_change(raw)
    assert isinstance(change, Change), change
    return enrich(
        change,
        canonical_entity=canonical_entity(wiki, title),
        ingested_at=at + timedelta(seconds=lag),
        kafka_topic="eqiad.mediawiki.recentchange",
        kafka_partition=0,
        kafka_offset=offset,
    )


@st.composite
def silver_events(draw: st.DrawFn, times: st.SearchStrategy[datetime] = event_times) -> SilverEvent:
    """Any silver event on a few pages (so that pages and users repeat within a window)."""
    kind = draw(st.sampled_from(["edit", "edit", "new", "categorize", "log", "142"]))
    return silver_event(
        title=draw(st.sampled_from(["Earth", "Moon", "Mars", "Python (programming language)"])),
        wiki=draw(wikis),
        user=draw(users),
        at=draw(times),
        kind=kind,
        comment=draw(st.sampled_from(["", "fix", "Reverted edits by X (talk)", "Undid revision 1 by Y"])),
        bot=draw(st.booleans()),
        old=draw(st.integers(0, 50_000)),
        new=draw(st.integers(0, 50_000)),
        lag=draw(st.floats(0, 900, allow_nan=False).map(lambda s: round(s, 6))),
    )


__all__ = ["BASE_TIME", "silver_event", "silver_events"]
