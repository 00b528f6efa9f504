import json
from datetime import timedelta
from pathlib import Path

import pytest

from wikiguard.domain.enrichment import bytes_changed, enrich, is_anonymous, is_revert, user_type
from wikiguard.domain.events import parse_change

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "wikimedia"


@pytest.mark.parametrize(
    ("user", "anonymous"),
    [
        ("192.168.0.1", True),
        ("2001:db8::1", True),
        ("2A02:C7C:1234:0:0:0:0:1", True),
        ("~2026-31415-92", True),
        ("~2025-1-2", True),
        ("Alice", False),
        ("~Tilde", False),
        ("1.2.3", False),
        ("", False),
    ],
)
def test_anonymous_users(user, anonymous):
    assert is_anonymous(user) is anonymous


def test_user_types():
    assert user_type("ClueBot NG", True) == "Bot"
    assert user_type("~2026-1-1", False) == "Temporary"
    assert user_type("10.0.0.1", False) == "Anonymous"
    assert user_type("Alice", False) == "Registered"


@pytest.mark.parametrize(
    "comment",
    [
        "Reverted edits by [[Special:Contribs/1.2.3.4|1.2.3.4]] ([[User talk:1.2.3.4|talk]]) to last version by Bob",
        "Reverted 2 edits by Vandal (talk) to last revision by Bob",
        "Undid revision 1335104379 by [[Special:Contributions/Foo|Foo]] ([[User talk:Foo|talk]])",
        "/* History */ Undid revision 12 by X",
        "rv vandalism",
        "Revert: unsourced",
        "Restored revision 12345 by Bob",
        "Reverted good faith edits by X",
    ],
)
def test_reverts(comment):
    assert is_revert(comment)


@pytest.mark.parametrize(
    "comment",
    ["", "the page got smaller", "reverting is not allowed here", "Copyedit; see revert policy", "Removed spam"],
)
def test_not_reverts(comment):
    assert not is_revert(comment)


def test_bytes_changed():
    assert bytes_changed(100, 250) == 150
    assert bytes_changed(None, 40) == 40
    assert bytes_changed(None, None) == 0


def test_enrich_real_temporary_accounts_and_lag():
    lines = (DATA / "digital-sentinel__silver_event_data.jsonl").read_text().splitlines()
    changes = [parse_change(json.loads(x)) for x in lines]
    temps = [c for c in changes if c.user_name.startswith("~2026")]
    assert len({c.user_name for c in temps}) >= 1
    c = temps[0]
    event = enrich(c, canonical_entity="enwiki:X", ingested_at=c.event_timestamp + timedelta(seconds=42),
                   kafka_topic="t", kafka_partition=0, kafka_offset=1)
    assert event.is_anonymous and event.is_temporary_account and event.user_type == "Temporary"
    assert event.processing_lag_seconds == 42
    assert event.event_date == c.event_timestamp.date()
