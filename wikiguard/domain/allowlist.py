"""Which pages are watched: exact, normalised title or alias matches, never substrings."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from wikiguard.domain.errors import WikiguardError


class AllowlistError(WikiguardError):
    """An allowlist entry that cannot be used; the message names where it came from."""


def is_case_sensitive_wiki(wiki: str) -> bool:
    # Wiktionaries keep the first letter's case: "apple" and "Apple" are different pages there.
    return wiki.endswith("wiktionary")


def normalise_title(title: str, wiki: str) -> str:
    """The title as MediaWiki shows it: spaces not underscores, runs of spaces folded, first letter upper."""
    text = " ".join(title.replace("_", " ").split())
    if not text or is_case_sensitive_wiki(wiki):
        return text
    return text[0].upper() + text[1:]


def canonical_entity(wiki: str, title: str) -> str:
    return f"{wiki}:{normalise_title(title, wiki)}"


@attrs.frozen
class Entity:
    """A watched page on one wiki, with the other titles it is known by."""

    title: str
    wiki: str
    aliases: tuple[str, ...] = ()

    @property
    def canonical(self) -> str:
        return canonical_entity(self.wiki, self.title)


@attrs.frozen
class Allowlist:
    """Maps (wiki, normalised title) of every title and alias to its entity's canonical name."""

    entities: tuple[Entity, ...]
    _index: dict[tuple[str, str], str] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        index: dict[tuple[str, str], str] = {}
        for entity in self.entities:
            for name in (entity.title, *entity.aliases):
                key = (entity.wiki, normalise_title(name, entity.wiki))
                owner = index.get(key)
                if owner is not None and owner != entity.canonical:
                    raise AllowlistError(f"{entity.wiki}:{name!r} names both {owner} and {entity.canonical}")
                index[key] = entity.canonical
        object.__setattr__(self, "_index", index)

    @classmethod
    def of(cls, entities: Iterable[Entity]) -> Allowlist:
        return cls(tuple(entities))

    def match(self, wiki: str, title: str) -> str | None:
        """The canonical entity this page belongs to, or None when it is not watched."""
        return self._index.get((wiki, normalise_title(title, wiki)))

    def __len__(self) -> int:
        return len(self.entities)

    @property
    def wikis(self) -> frozenset[str]:
        return frozenset(e.wiki for e in self.entities)
