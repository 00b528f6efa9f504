"""Recorded files: JSON Lines / SSE recordings as a change source, and the allowlist YAML."""

from wikiguard.adapters.files.allowlist_yaml import AllowlistFileError, load_allowlist
from wikiguard.adapters.files.jsonl_source import JsonLinesChangeSource

__all__ = ["AllowlistFileError", "JsonLinesChangeSource", "load_allowlist"]
