"""The `recentchange` event as WikiGuard sees it, and how a raw JSON object becomes one.

Parsing never raises: a raw object either becomes a `Change` or a `Rejection` that says why.
Accepted shapes are the official schema versions 1.0.0 and 1.0.1 (see `shared/data/schema/`) and
the 2018-2019 legacy events (`meta.schema_uri`, no `$schema`, no `meta.stream`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

KNOWN_TYPES = frozenset({"edit", "new", "log", "categorize", "external"})
CANARY_DOMAIN = "canary"


@attrs.frozen
class Change:
    """One valid recentchange event, flattened to the fields the lakehouse uses."""

    meta_id: str
    meta_dt: datetime
    meta_stream: str
    meta_domain: str
    meta_topic: str | None
    meta_partition: int | None
    meta_offset: int | None
    rc_id: int | None
    type: str
    namespace: int | None
    title: str
    comment: str
    event_timestamp: datetime
    user_name: str
    is_bot: bool
    minor: bool | None
    patrolled: bool | None
    wiki: str
    server_name: str
    length_old: int | None
    length_new: int | None
    revision_old: int | None
    revision_new: int | None
    log_type: str | None
    log_action: str | None
    schema: str

    @property
    def is_canary(self) -> bool:
        return self.meta_domain == CANARY_DOMAIN


@attrs.frozen
class Rejection:
    """A raw object that is not a usable recentchange event, with every reason found."""

    reasons: tuple[str, ...]
    meta_id: str | None = None

    @property
    def reason(self) -> str:
        return ";".join(self.reasons)


def parse_change(raw: Any) -> Change | Rejection:
    """Parse one decoded JSON value into a `Change`, or say why it is not one."""
    change = parse_well_formed(raw)
    return change if change is not None else parse_any(raw)


def parse_well_formed(raw: Any) -> Change | None:
    """Fast path for the shape nearly every event has; None when anything differs.

    Plain dicts, every field of the type the schema says (integers really ints, `type` one of the
    known words): then no check can fail and the checks of `parse_any` reduce to type tests. Anything
    else (legacy events, numeric types, damaged fields) returns None and `parse_any` decides. A
    property test holds the two to the same answers.
    """
    if type(raw) is not dict:
        return None
    meta = raw.get("meta")
    if type(meta) is not dict:
        return None
    meta_id, stream, schema = meta.get("id"), meta.get("stream"), raw.get("$schema")
    kind, title, wiki, user = raw.get("type"), raw.get("title"), raw.get("wiki"), raw.get("user")
    if not (
        type(meta_id) is str and meta_id and type(stream) is str and type(schema) is str
        and type(kind) is str and kind in KNOWN_TYPES and type(title) is str and title.strip()
        and type(wiki) is str and wiki and (user is None or type(user) is str)
    ):  # fmt: skip
        return None
    length, revision = raw.get("length", _EMPTY), raw.get("revision", _EMPTY)
    if type(length) is not dict or type(revision) is not dict:
        return None
    comment, minor, patrolled, bot = raw.get("comment"), raw.get("minor"), raw.get("patrolled"), raw.get("bot")
    for flag in (bot, minor, patrolled):
        if flag is not None and type(flag) is not bool:
            return None
    length_old, length_new = length.get("old"), length.get("new")
    revision_old, revision_new = revision.get("old"), revision.get("new")
    rc_id, namespace = raw.get("id"), raw.get("namespace")
    partition, offset = meta.get("partition"), meta.get("offset")
    for value in (length_old, length_new, revision_old, revision_new, rc_id, namespace, partition, offset):
        if value is not None and not (type(value) is int and _INT64_MIN <= value <= _INT64_MAX):
            return None
    meta_dt = parse_time(meta.get("dt"))
    if meta_dt is None:
        return None
    domain, topic, server_name = meta.get("domain"), meta.get("topic"), raw.get("server_name")
    log_type, log_action = raw.get("log_type"), raw.get("log_action")
    return Change(
        meta_id=meta_id,
        meta_dt=meta_dt,
        meta_stream=stream,
        meta_domain=domain if isinstance(domain, str) else str(server_name or ""),
        meta_topic=topic if isinstance(topic, str) else None,
        meta_partition=partition,
        meta_offset=offset,
        rc_id=rc_id,
        type=kind,
        namespace=namespace,
        title=title,
        comment=comment if isinstance(comment, str) else "",
        event_timestamp=parse_time(raw.get("timestamp")) or meta_dt,
        user_name=user or "",
        is_bot=bot is True,
        minor=minor,
        patrolled=patrolled,
        wiki=wiki,
        server_name=server_name if isinstance(server_name, str) else "",
        length_old=length_old,
        length_new=length_new,
        revision_old=revision_old,
        revision_new=revision_new,
        log_type=log_type if isinstance(log_type, str) else None,
        log_action=log_action if isinstance(log_action, str) else None,
        schema=schema,
    )


_EMPTY: dict[str, Any] = {}
_FLAGS = ("bot", "minor", "patrolled")


def parse_any(raw: Any) -> Change | Rejection:
    """The general parser: any JSON value, any accepted schema version; every reason found."""
    if not isinstance(raw, Mapping):
        return Rejection(("not_an_object",))
    reasons: list[str] = []
    meta = raw.get("meta")
    if not isinstance(meta, Mapping):
        return Rejection(("missing_meta",))
    meta_id = meta.get("id")
    if not isinstance(meta_id, str) or not meta_id:
        reasons.append("missing_meta_id")
        meta_id = None
    meta_dt = parse_time(meta.get("dt"))
    if meta_dt is None:
        reasons.append("bad_meta_dt")
    schema = raw.get("$schema")
    if not isinstance(schema, str):
        schema = meta.get("schema_uri") if isinstance(meta.get("schema_uri"), str) else None
        if schema is None:
            reasons.append("missing_schema")
    stream = meta.get("stream")
    if stream is None and isinstance(raw.get("$schema"), str):
        reasons.append("missing_meta_stream")
    kind = raw.get("type")
    if isinstance(kind, int) and not isinstance(kind, bool):
        kind = str(kind)
    if not isinstance(kind, str) or not (kind in KNOWN_TYPES or kind.isdigit()):
        reasons.append("bad_type")
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip():
        reasons.append("missing_title")
    wiki = raw.get("wiki")
    if not isinstance(wiki, str) or not wiki:
        reasons.append("missing_wiki")
    event_ts = parse_time(raw.get("timestamp"))
    if event_ts is None:
        event_ts = meta_dt
    user = raw.get("user")
    if user is not None and not isinstance(user, str):
        reasons.append("bad_user")
    # Flags and sizes of another type are damage, not absence: said, never read as false or empty.
    for name in _FLAGS:
        if raw.get(name) is not None and not isinstance(raw.get(name), bool):
            reasons.append(f"bad_{name}")
    for name in ("length", "revision"):
        if raw.get(name) is not None and not isinstance(raw.get(name), Mapping):
            reasons.append(f"bad_{name}")
    length = _mapping(raw.get("length"))
    revision = _mapping(raw.get("revision"))
    ints = {
        "length_old": length.get("old"),
        "length_new": length.get("new"),
        "revision_old": revision.get("old"),
        "revision_new": revision.get("new"),
        "rc_id": raw.get("id"),
        "namespace": raw.get("namespace"),
        "meta_partition": meta.get("partition"),
        "meta_offset": meta.get("offset"),
    }
    for name, value in ints.items():
        if value is not None and not _is_int(value):
            reasons.append(f"bad_{name}")
    if reasons:
        return Rejection(tuple(reasons), meta_id)
    assert meta_dt is not None and event_ts is not None and isinstance(meta_id, str)
    assert isinstance(kind, str) and isinstance(title, str) and isinstance(wiki, str)
    domain = meta.get("domain")
    return Change(
        meta_id=meta_id,
        meta_dt=meta_dt,
        meta_stream=stream if isinstance(stream, str) else "mediawiki.recentchange",
        meta_domain=domain if isinstance(domain, str) else str(raw.get("server_name") or ""),
        meta_topic=meta.get("topic") if isinstance(meta.get("topic"), str) else None,
        meta_partition=ints["meta_partition"],
        meta_offset=ints["meta_offset"],
        rc_id=ints["rc_id"],
        type=kind,
        namespace=ints["namespace"],
        title=title,
        comment=_text(raw.get("comment")),
        event_timestamp=event_ts,
        user_name=user or "",
        is_bot=raw.get("bot") is True,
        minor=_bool_or_none(raw.get("minor")),
        patrolled=_bool_or_none(raw.get("patrolled")),
        wiki=wiki,
        server_name=_text(raw.get("server_name")),
        length_old=ints["length_old"],
        length_new=ints["length_new"],
        revision_old=ints["revision_old"],
        revision_new=ints["revision_new"],
        log_type=raw.get("log_type") if isinstance(raw.get("log_type"), str) else None,
        log_action=raw.get("log_action") if isinstance(raw.get("log_action"), str) else None,
        schema=schema or "",
    )


def parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime from epoch seconds or an ISO-8601 string; None when unusable or before
    `EARLIEST_EVENT_TIME`."""
    # Events carry whole seconds, many events the same second: those conversions are cached.
    if type(value) is int:
        return _from_epoch(value)
    if type(value) is str:
        return _from_text(value)
    return _parse_time(value)


@functools.lru_cache(maxsize=4096)
def _from_epoch(value: int) -> datetime | None:
    return _parse_time(value)


@functools.lru_cache(maxsize=4096)
def _from_text(value: str) -> datetime | None:
    return _parse_time(value)


# No wiki had a change before Wikipedia's first day: an earlier instant (epoch 0, a negative number)
# is a broken value, not an event time, and would open a window decades behind every other.
EARLIEST_EVENT_TIME = datetime(2001, 1, 15, tzinfo=UTC)


def _parse_time(value: Any) -> datetime | None:
    moment = _instant(value)
    return moment if moment is not None and moment >= EARLIEST_EVENT_TIME else None


def _instant(value: Any) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            # Epoch seconds; a value this large can only be milliseconds.
            seconds = value / 1000 if value > 10**11 else value
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value:
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return None
        return parsed.astimezone(UTC)
    return None


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _is_int(value: Any) -> bool:
    """An integer a 64-bit column holds (JSON sets no bound; orjson gives up to 2**64 - 1)."""
    return isinstance(value, int) and not isinstance(value, bool) and _INT64_MIN <= value <= _INT64_MAX


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _bool_or_none(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None
