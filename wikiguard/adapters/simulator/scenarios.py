"""Trouble to inject into simulated traffic: who does what to which page, when."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from wikiguard.adapters.simulator.catalog import Catalog, Page

KINDS = ("burst", "revert_wave", "anonymous_surge", "user_blitz", "cross_wiki", "mass_revert")

# (seconds after the scenario starts, type, page, user, is_bot, comment, byte delta)
Step = tuple[float, str, "Page", str, bool, str, int]


def rollback_summary(vandal: str, restored: str) -> str:
    return (
        f"Reverted edits by [[Special:Contributions/{vandal}|{vandal}]] ([[User talk:{vandal}|talk]])"
        f" to last version by {restored}"
    )


def undo_summary(revision: int, vandal: str) -> str:
    return f"Undid revision {revision} by [[Special:Contributions/{vandal}|{vandal}]] ([[User talk:{vandal}|talk]])"


@attrs.frozen
class Scenario:
    """One injected pattern. Page scenarios target `(wiki, title)`; user scenarios follow `user`.

    - burst: `events` edits on the page by many ordinary editors.
    - revert_wave: vandal edits and their reverts ("Reverted edits by X", "Undid revision N") by
      several users on the page.
    - anonymous_surge: IP (v4/v6) and temporary-account edits on the page.
    - user_blitz: a brand-new account (created first) editing many pages of `wiki` quickly.
    - cross_wiki: one user editing on many different wikis.
    - mass_revert: one user reverting edits on many pages of `wiki`.
    """

    kind: str = attrs.field(validator=attrs.validators.in_(KINDS))
    at: datetime
    wiki: str = "enwiki"
    title: str | None = None
    events: int = 60
    duration: timedelta = timedelta(minutes=10)
    user: str | None = None

    def steps(self, catalog: Catalog, year: int) -> Iterator[Step]:
        """The scenario's events, spread evenly over its duration."""
        rng = catalog.rng
        span = self.duration.total_seconds()
        page = catalog.page(self.wiki, self.title) if self.title else catalog.draw_page(self.wiki)
        user = self.user or f"{self.kind.title().replace('_', '')}{rng.randrange(1000, 9999)}"
        vandals = [catalog.ip(), catalog.temporary(year), catalog.ip()]
        patrollers = rng.sample(catalog.registered, 4)
        wikis = sorted({catalog.draw_wiki() for _ in range(200)} | {self.wiki})
        if self.kind == "user_blitz":
            yield 0.0, "newuser", page, user, False, "", 0
        for n in range(self.events):
            at = span * n / max(self.events, 1)
            if self.kind == "burst":
                yield (
                    at,
                    "edit",
                    page,
                    rng.choice(catalog.registered),
                    False,
                    "/* Recent events */ update",
                    rng.randrange(-300, 900),
                )
            elif self.kind == "revert_wave":
                vandal = vandals[n // 2 % len(vandals)]
                if n % 3 == 0:
                    yield at, "edit", page, vandal, False, "", -rng.randrange(500, 5000)
                else:
                    summary = (
                        rollback_summary(vandal, patrollers[0])
                        if n % 2
                        else undo_summary(page.revision, vandal)
                    )
                    yield (
                        at,
                        "edit",
                        page,
                        patrollers[n % len(patrollers)],
                        False,
                        summary,
                        rng.randrange(500, 5000),
                    )
            elif self.kind == "anonymous_surge":
                who = catalog.temporary(year) if n % 2 else catalog.ip()
                yield at, "edit", page, who, False, "", rng.randrange(-2000, 2000)
            elif self.kind == "user_blitz":
                target = page if n == 0 else catalog.draw_page(self.wiki)
                yield at, "edit", target, user, False, "", rng.randrange(10, 3000)
            elif self.kind == "cross_wiki":
                wiki = wikis[n % len(wikis)]
                target = page if wiki == self.wiki and self.title else catalog.draw_page(wiki)
                yield at, "edit", target, user, False, "+link", rng.randrange(10, 300)
            else:  # mass_revert
                target = page if n == 0 else catalog.draw_page(self.wiki)
                summary = rollback_summary(rng.choice(vandals), rng.choice(catalog.registered))
                yield at, "edit", target, user, False, summary, rng.randrange(-3000, 3000)
