"""An alert as a Slack Block Kit message (pure: alert in, JSON-ready dict out).

Slack limits respected here: a header holds 150 characters, a section text 3,000, a section at most
10 fields of 2,000; `&`, `<` and `>` in our text are escaped so a page title cannot inject a mention
or a link.
"""

from __future__ import annotations

from typing import Any

from wikiguard.domain.alerts import Alert, AlertKind, AlertSeverity

HEADER_MAX = 150
TEXT_MAX = 3000
FIELD_MAX = 2000
FIELDS_MAX = 10
DETAIL_LINES_MAX = 20

_ICON = {
    AlertSeverity.CRITICAL: ":rotating_light:",
    AlertSeverity.WARNING: ":warning:",
    AlertSeverity.INFO: ":information_source:",
}
_SUBJECT_LABEL = {AlertKind.QUALITY: "Layer", AlertKind.ANOMALY: "Subject", AlertKind.FRESHNESS: "Layer"}


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fallback_text(alert: Alert) -> str:
    """The plain text Slack shows in notifications and where blocks cannot be shown."""
    return clip(f"[{alert.severity}] {alert.title}", TEXT_MAX)


def message(alert: Alert, channel: str | None = None) -> dict[str, Any]:
    """The payload for an incoming webhook (or, with `channel`, for chat.postMessage)."""
    payload: dict[str, Any] = {"text": escape(fallback_text(alert)), "blocks": blocks(alert)}
    if channel:
        payload["channel"] = channel
    return payload


def blocks(alert: Alert) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": clip(f"{alert.severity}: {alert.title}", HEADER_MAX)},
        },
        _section(f"{_ICON[alert.severity]} {escape(alert.summary)}"),
        {"type": "section", "fields": _fields(alert)},
    ]
    if alert.details:
        shown = alert.details[:DETAIL_LINES_MAX]
        lines = [f"• {escape(line)}" for line in shown]
        if len(alert.details) > len(shown):
            lines.append(f"… and {len(alert.details) - len(shown)} more")
        out.append(_section("*Details*\n" + "\n".join(lines)))
    if alert.query:
        # the code fence is closed even when clipped, so the query stays copyable
        query = clip(escape(alert.query), TEXT_MAX - 40)
        out.append(_section(f"*See the rows*\n```{query}```"))
    out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _context(alert)}]})
    return out


def _fields(alert: Alert) -> list[dict[str, str]]:
    window_label = "Batch" if alert.kind is AlertKind.QUALITY else "Window"
    pairs = [
        ("Severity", str(alert.severity)),
        (_SUBJECT_LABEL.get(alert.kind, "Subject"), alert.subject),
        (window_label, alert.window_or_batch),
        *alert.facts.items(),
    ]
    return [
        {"type": "mrkdwn", "text": clip(f"*{escape(label.capitalize())}*\n{escape(value)}", FIELD_MAX)}
        for label, value in pairs[:FIELDS_MAX]
    ]


def _context(alert: Alert) -> str:
    parts = [f"{alert.kind} alert", f"key `{escape(alert.key)}`", f"raised {alert.raised_at.isoformat()}"]
    if alert.suppressed_before:
        parts.append(f"{alert.suppressed_before} similar alerts held back since the last one")
    return clip(" · ".join(parts), TEXT_MAX)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, TEXT_MAX)}}
