"""Wikimedia EventStreams over Server-Sent Events."""

from wikiguard.adapters.sse.source import SseCounters, SseSourceError, WikimediaSseChangeSource

__all__ = ["SseCounters", "SseSourceError", "WikimediaSseChangeSource"]
