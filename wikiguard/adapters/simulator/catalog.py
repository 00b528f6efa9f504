"""The simulated world: wikis weighted like the live feed, pages with sizes and revisions, users.

Everything is built once from the seeded RNG; JSON fragments are escaped here, once, so that
rendering an event is string concatenation.
"""

from __future__ import annotations

import bisect
import itertools
import random
from typing import Any
from urllib.parse import quote

import orjson

# Share of the live feed per wiki (counts from the 2024-08-22 recording, the long tail folded in).
# fmt: off
WIKI_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("commonswiki", 993), ("wikidatawiki", 671), ("eswiktionary", 116), ("enwiki", 160),
    ("enwiktionary", 88), ("ptwiki", 39), ("arwiki", 39), ("mgwiktionary", 37), ("frwiktionary", 36),
    ("zhwiki", 29), ("uzwiki", 26), ("frwiki", 25), ("jawiki", 24), ("dewiki", 20), ("plwiki", 17),
    ("eswiki", 11), ("ruwiki", 11), ("cawiki", 11), ("ckbwiki", 9), ("simplewiki", 9), ("ukwiki", 8),
    ("trwiktionary", 6), ("viwiki", 6), ("jawikibooks", 5), ("kowiki", 4), ("itwiki", 4), ("rowiki", 3),
    ("urwiki", 3), ("trwiki", 3), ("idwiki", 3), ("hewiki", 2), ("fawiki", 2), ("svwiki", 2),
    ("nlwiki", 2), ("metawiki", 1), ("mediawikiwiki", 1), ("ptwikisource", 1), ("enwikiversity", 1),
)
_FAMILIES = ("wiktionary", "wikibooks", "wikisource", "wikiversity", "wikinews", "wikiquote", "wikivoyage", "wiki")
_SPECIAL_DOMAINS = {
    "commonswiki": "commons.wikimedia.org", "wikidatawiki": "www.wikidata.org",
    "metawiki": "meta.wikimedia.org", "mediawikiwiki": "www.mediawiki.org", "specieswiki": "species.wikimedia.org",
}
# fmt: on
# fmt: off
_WORDS = (
    "river", "station", "history", "battle", "list", "church", "school", "album", "party", "county",
    "railway", "village", "election", "museum", "bridge", "season", "film", "league", "island", "castle",
    "province", "army", "council", "temple", "tower", "festival", "company", "language", "award",
    "district", "university", "mountain", "lake", "route", "dynasty", "canal", "harbour", "theatre",
    "North", "South", "Saint", "New", "Old", "Grand", "Upper", "Lower", "Royal", "National", "Central",
    "Western", "Eastern", "Little"
)
# fmt: on
# fmt: off
_SYLLABLES = (
    "ka", "ri", "to", "mo", "la", "en", "an", "ser", "vi", "na", "do", "el", "ia", "or", "us", "ta", "ne",
    "lo", "mi", "ra", "be", "gu", "fi", "sa", "ko"
)
# fmt: on


def domain_of(wiki: str) -> str:
    """The server name of a wiki database name (enwiki -> en.wikipedia.org)."""
    if wiki in _SPECIAL_DOMAINS:
        return _SPECIAL_DOMAINS[wiki]
    for family in _FAMILIES:
        if wiki.endswith(family):
            lang = wiki[: -len(family)].replace("_", "-")
            site = "wikipedia" if family == "wiki" else family
            return f"{lang}.{site}.org"
    return f"{wiki}.wikipedia.org"


def js(text: str) -> str:
    return orjson.dumps(text).decode()


class Page:
    """One page and its running state (size, latest revision); JSON fragments precomputed."""

    __slots__ = (
        "wiki",
        "title",
        "namespace",
        "length",
        "revision",
        "uri",
        "head",
        "tail",
        "server",
        "domain",
    )

    def __init__(self, wiki: str, title: str, namespace: int, length: int, revision: int):
        self.wiki, self.title, self.namespace = wiki, title, namespace
        self.length, self.revision = length, revision
        self.domain = domain_of(wiki)
        self.server = f"https://{self.domain}"
        url = f"{self.server}/wiki/{quote(title.replace(' ', '_'), safe='/:,()!*;@$~')}"
        self.uri = js(url)
        self.head = f'"namespace":{namespace},"title":{js(title)},"title_url":{self.uri}'
        self.tail = (
            f'"server_url":"{self.server}","server_name":"{domain_of(wiki)}",'
            f'"server_script_path":"/w","wiki":"{wiki}"'
        )


class Catalog:
    """Wikis, pages and users, plus lookup tables so a weighted draw is one `getrandbits`."""

    def __init__(self, rng: random.Random, watched: list[tuple[str, str]], pages_per_wiki: int = 400):
        self.rng = rng
        names = [w for w, _ in WIKI_WEIGHTS]
        self.wiki_table: list[str] = _table(names, [c for _, c in WIKI_WEIGHTS])
        self.pages: dict[str, list[Page]] = {w: self._pages(w, pages_per_wiki) for w in names}
        self.categories: dict[str, list[Page]] = {w: self._categories(w) for w in names}
        self.watched = [self.page(w, t) for w, t in watched]
        # Zipf-like popularity: a few pages get most edits, as on the real feed.
        self.page_table_pages = range(pages_per_wiki)
        self.page_table: list[int] = _table(
            list(range(pages_per_wiki)), [1.0 / (i + 1) for i in range(pages_per_wiki)]
        )
        self.registered = [self._name(rng) for _ in range(3000)]
        self.bots = [f"{self._name(rng).replace(' ', '')}Bot" for _ in range(40)] + ["Cewbot", "DaxServer"]
        self.rev_counter = itertools.count(1_000_000_000 + rng.randrange(10**8))
        self.rc_counter = itertools.count(2_000_000_000 + rng.randrange(10**8))
        self.log_counter = itertools.count(100_000_000 + rng.randrange(10**7))

    def page(self, wiki: str, title: str) -> Page:
        for page in self.pages.get(wiki, ()):
            if page.title == title:
                return page
        namespace = 0 if ":" not in title or title.startswith("Q") else _namespace(title)
        return Page(wiki, title, namespace, 20_000 + self.rng.randrange(200_000), self._revision())

    def draw_page(self, wiki: str) -> Page:
        pages = self.pages.get(wiki)
        if pages is None:  # a wiki only a scenario or the allowlist mentions
            pages = self.pages[wiki] = self._pages(wiki, len(self.page_table_pages))
            self.categories[wiki] = self._categories(wiki)
        return pages[self.page_table[self.rng.getrandbits(16)]]

    def draw_wiki(self) -> str:
        return self.wiki_table[self.rng.getrandbits(16)]

    def ip(self) -> str:
        bits = self.rng.getrandbits(64)
        if bits & 3 == 0:  # about a quarter of logged-out editors come over IPv6
            groups = [(bits >> (16 * i)) & 0xFFFF for i in range(4)]
            return "2001:db8:" + ":".join(f"{g:x}" for g in groups) + f":{bits & 0xFF:x}:1"
        return f"{(bits >> 8) % 223 + 1}.{(bits >> 16) & 255}.{(bits >> 24) & 255}.{((bits >> 32) & 253) + 1}"

    def temporary(self, year: int) -> str:
        bits = self.rng.getrandbits(24)
        return f"~{year}-{10000 + (bits >> 7) % 90000}-{10 + (bits & 127) % 90}"

    def _revision(self) -> int:
        return 100_000_000 + self.rng.randrange(900_000_000)

    def _pages(self, wiki: str, count: int) -> list[Page]:
        rng = self.rng
        pages = []
        for i in range(count):
            if wiki == "wikidatawiki":
                title, ns = f"Q{rng.randrange(1, 130_000_000)}", 0
            elif wiki == "commonswiki":
                title, ns = f"File:{rng.choice(_WORDS).title()} {rng.randrange(1, 99999)}.jpg", 6
            elif "wiktionary" in wiki:
                title, ns = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randrange(2, 4))), 0
            elif i % 10 == 0:
                title, ns = f"User talk:{self._name(rng)}", 3
            else:
                words = rng.sample(_WORDS, rng.randrange(1, 4))
                title, ns = " ".join(words).capitalize(), 0
            pages.append(Page(wiki, title, ns, rng.randrange(200, 90_000), self._revision()))
        return pages

    def _categories(self, wiki: str) -> list[Page]:
        return [
            Page(wiki, f"Category:{w.capitalize()} {self.rng.randrange(1800, 2026)}", 14, 0, 0)
            for w in _WORDS[:20]
        ]

    @staticmethod
    def _name(rng: random.Random) -> str:
        first = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randrange(2, 4))).capitalize()
        return (
            first
            if rng.random() < 0.5
            else f"{first} {rng.choice(_SYLLABLES).capitalize()}{rng.randrange(100)}"
        )


def _namespace(title: str) -> int:
    prefix = title.split(":", 1)[0]
    return {
        "Talk": 1,
        "User": 2,
        "User talk": 3,
        "Wikipedia": 4,
        "File": 6,
        "Template": 10,
        "Category": 14,
    }.get(prefix, 0)


def _table(values: list[Any], weights: list[float], size: int = 1 << 16) -> list[Any]:
    """`size` draws laid out in advance by weight: indexing it with random bits is a weighted draw."""
    cumulative = list(itertools.accumulate(weights))
    total = cumulative[-1]
    return [values[bisect.bisect_right(cumulative, (i + 0.5) / size * total)] for i in range(size)]
