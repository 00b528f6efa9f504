"""Hypothesis strategies shared by the unit tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

BASE_TIME = datetime(2026, 1, 29, 12, 0, tzinfo=UTC)

wikis = st.sampled_from(["enwiki", "dewiki", "wikidatawiki", "commonswiki", "enwiktionary", "frwiktionary"])
title_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ éü()-", min_size=1, max_size=12)
titles = st.lists(title_words, min_size=1, max_size=4).map(" ".join).filter(lambda t: t.strip() != "")
event_times = st.integers(min_value=0, max_value=6 * 3600).map(lambda s: BASE_TIME + timedelta(seconds=s))
meta_ids = st.uuids().map(str)
users = st.one_of(
    st.sampled_from(["Alice", "Bob", "ClueBot NG", "Mr. Example"]),
    st.ip_addresses().map(str),
    st.integers(min_value=1, max_value=99999).map(lambda n: f"~2026-{n}-{n % 97}"),
)


@st.composite
def raw_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid recentchange object (schema 1.0.0 shape) of any type."""
    kind = draw(st.sampled_from(["edit", "new", "log", "categorize", "external", "142"]))
    when = draw(event_times)
    wiki = draw(wikis)
    event: dict[str, Any] = {
        "$schema": "/mediawiki/recentchange/1.0.0",
        "meta": {
            "uri": "https://example.org/wiki/X",
            "id": draw(meta_ids),
            "dt": when.isoformat().replace("+00:00", "Z"),
            "domain": "en.wikipedia.org",
            "stream": "mediawiki.recentchange",
            "topic": "eqiad.mediawiki.recentchange",
            "partition": 0,
            "offset": draw(st.integers(min_value=0, max_value=2**40)),
        },
        "id": draw(st.integers(min_value=1, max_value=2**40)),
        "type": kind,
        "namespace": draw(st.integers(min_value=0, max_value=3000)),
        "title": draw(titles),
        "comment": draw(st.sampled_from(["", "fix", "Reverted edits by X", "Undid revision 1 by Y"])),
        "timestamp": int(when.timestamp()),
        "user": draw(users),
        "bot": draw(st.booleans()),
        "server_name": "en.wikipedia.org",
        "wiki": wiki,
    }
    if kind in ("edit", "new"):
        new_len = draw(st.integers(min_value=0, max_value=200_000))
        event["length"] = {"new": new_len}
        event["revision"] = {"new": draw(st.integers(min_value=2, max_value=2**31))}
        if kind == "edit":
            event["length"]["old"] = draw(st.integers(min_value=0, max_value=200_000))
            event["revision"]["old"] = event["revision"]["new"] - 1
    if kind == "log":
        event["log_type"] = "block"
        event["log_action"] = "block"
    return event


def json_values(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Any JSON value, including objects that look partly like events."""
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(
                st.sampled_from(["meta", "id", "dt", "type", "title", "wiki", "user", "timestamp", "length",
                                 "revision", "$schema", "stream", "old", "new", "x"]),
                children,
                max_size=6,
            ),
        ),
        max_leaves=max_leaves,
    )


@st.composite
def damaged_events(draw: st.DrawFn) -> Any:
    """A valid event with some fields removed or replaced by arbitrary JSON."""
    event = draw(raw_events())
    for key in draw(st.lists(st.sampled_from(sorted(event)), max_size=4)):
        if draw(st.booleans()):
            event.pop(key, None)
        else:
            event[key] = draw(json_values(5))
    return event


def fresh_id() -> str:
    return str(uuid.uuid4())
