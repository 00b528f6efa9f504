"""Batch functions on Arrow record batches: the embedded engine's hot path (ADR 003).

Each function does to a whole batch what a per-event domain function does to one event, and a
property test holds the two to the same answers; the domain functions stay the specification.
"""
