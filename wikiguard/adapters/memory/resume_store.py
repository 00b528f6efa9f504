"""A resume store in memory, for tests: remembers every id it was asked to save."""

from __future__ import annotations

from wikiguard.application.ports import ResumeStore


class InMemoryResumeStore(ResumeStore):
    """`saved` lists every id saved, in order; `load` returns the last one (or the initial id)."""

    def __init__(self, initial: str | None = None) -> None:
        self.initial = initial
        self.saved: list[str] = []

    def load(self) -> str | None:
        return self.saved[-1] if self.saved else self.initial

    def save(self, event_id: str) -> None:
        self.saved.append(event_id)
