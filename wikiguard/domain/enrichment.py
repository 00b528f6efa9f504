"""What silver adds to a change: who made it, how big it was, whether it undid another edit."""

from __future__ import annotations

import functools
import ipaddress
import re
from datetime import date, datetime

import attrs

from wikiguard.domain.events import Change

# Temporary accounts, the form logged-out editors have had since 2025: "~2026-12345-67".
TEMPORARY_ACCOUNT = re.compile(r"^~\d{4}-")
DEFAULT_LARGE_EDIT_BYTES = 5000

# Edit summaries MediaWiki and the common tools write when an edit undoes another (public: the batch
# form of `is_revert` derives its prefilter from them).
# Matched at the start of the summary (after an optional section link), so that a summary
# that merely mentions a revert ("reverting is not allowed here") does not count.
REVERT_PATTERNS = (
    r"reverted (\d+ )?edits? by",
    r"reverted to revision",
    r"reverting edits? by",
    r"reverted good faith edits? by",
    r"undid revision \d+",
    r"undo revision \d+",
    r"rv\b",
    r"rvv\b",
    r"revert(ed)?\b",
    r"restored revision \d+",
    r"rollback\b",
    r"annulation de la modification",
    r"révocation des modifications",
    r"änderung \d+ von .* rückgängig gemacht",
    r"deshecha la edición",
    r"revertidos los cambios",
    r"desfeita a edição",
    r"reversão de edições",
)
REVERT_SUMMARY = re.compile(
    r"^\s*(/\*.*?\*/\s*)?(" + "|".join(REVERT_PATTERNS) + ")",
    re.IGNORECASE,
)


# What an IP address (v4, v6, v6 with a %scope) can be made of. Most user names fail this on their
# first letter, which spares them `ipaddress`, whose failure (an exception) costs microseconds.
_IP_LIKE = re.compile(r"[0-9a-fA-F:.]+(%[^%]+)?")


def is_ip_address(user: str) -> bool:
    return _IP_LIKE.fullmatch(user) is not None and _parses_as_ip(user)


@functools.lru_cache(maxsize=4096)  # the same few addresses edit again and again
def _parses_as_ip(user: str) -> bool:
    try:
        ipaddress.ip_address(user)
    except ValueError:
        return False
    return True


def is_temporary_account(user: str) -> bool:
    return bool(TEMPORARY_ACCOUNT.match(user))


def is_anonymous(user: str) -> bool:
    """A logged-out editor: an IP address (v4 or v6) or a temporary account."""
    return _account_kind(user) != "Registered"


def user_type(user: str, is_bot: bool) -> str:
    return "Bot" if is_bot else _account_kind(user)


@functools.lru_cache(maxsize=16384)  # users come back: each name is classified once
def _account_kind(user: str) -> str:
    """The user type a non-bot account has: "Temporary", "Anonymous" (an IP address) or "Registered"."""
    if is_temporary_account(user):
        return "Temporary"
    if is_ip_address(user):
        return "Anonymous"
    return "Registered"


def is_revert(comment: str) -> bool:
    """An edit whose summary says it undid others (rollback, undo, the usual manual forms)."""
    return bool(comment) and REVERT_SUMMARY.match(comment) is not None


def bytes_changed(length_old: int | None, length_new: int | None) -> int:
    if length_new is None:
        return 0
    return length_new - (length_old or 0)


@attrs.frozen
class SilverEvent:
    """A deduplicated, allowlisted change with what silver derives from it.

    Field names are the silver table's columns.
    """

    meta_id: str
    canonical_entity: str
    wiki: str
    title: str
    event_type: str
    namespace: int | None
    wikimedia_id: int | None
    user_name: str
    user_type: str
    is_bot: bool
    is_anonymous: bool
    is_temporary_account: bool
    is_minor: bool | None
    comment: str
    has_comment: bool
    length_old: int | None
    length_new: int | None
    revision_old: int | None
    revision_new: int | None
    bytes_changed: int
    is_large_edit: bool
    is_revert: bool
    log_type: str | None
    event_timestamp: datetime
    ingestion_timestamp: datetime
    processing_lag_seconds: float
    event_date: date
    event_hour: int
    kafka_topic: str
    kafka_partition: int
    kafka_offset: int


def enrich(
    change: Change,
    *,
    canonical_entity: str,
    ingested_at: datetime,
    kafka_topic: str,
    kafka_partition: int,
    kafka_offset: int,
    large_edit_bytes: int = DEFAULT_LARGE_EDIT_BYTES,
) -> SilverEvent:
    """Derive silver's columns; `ingested_at` is when WikiGuard received the event."""
    delta = bytes_changed(change.length_old, change.length_new)
    user = change.user_name
    account = _account_kind(user)
    event_time = change.event_timestamp
    return SilverEvent(
        meta_id=change.meta_id,
        canonical_entity=canonical_entity,
        wiki=change.wiki,
        title=change.title,
        event_type=change.type,
        namespace=change.namespace,
        wikimedia_id=change.rc_id,
        user_name=user,
        user_type="Bot" if change.is_bot else account,  # as user_type(user, is_bot)
        is_bot=change.is_bot,
        is_anonymous=account != "Registered",  # as is_anonymous(user)
        is_temporary_account=account == "Temporary",  # as is_temporary_account(user)
        is_minor=change.minor,
        comment=change.comment,
        has_comment=bool(change.comment.strip()),
        length_old=change.length_old,
        length_new=change.length_new,
        revision_old=change.revision_old,
        revision_new=change.revision_new,
        bytes_changed=delta,
        is_large_edit=abs(delta) >= large_edit_bytes,
        is_revert=is_revert(change.comment),
        log_type=change.log_type,
        event_timestamp=event_time,
        ingestion_timestamp=ingested_at,
        processing_lag_seconds=(ingested_at - event_time).total_seconds(),
        event_date=event_time.date(),
        event_hour=event_time.hour,
        kafka_topic=kafka_topic,
        kafka_partition=kafka_partition,
        kafka_offset=kafka_offset,
    )
