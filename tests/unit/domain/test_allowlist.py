import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import titles, wikis
from wikiguard.domain.allowlist import Allowlist, AllowlistError, Entity, canonical_entity, normalise_title

WATCH = Allowlist.of(
    [
        Entity("United States", "enwiki", ("USA", "United_States_of_America")),
        Entity("India", "enwiki"),
        Entity("apple", "enwiktionary", ("Apple",)),
    ]
)


@pytest.mark.parametrize(
    ("wiki", "title", "expected"),
    [
        ("enwiki", "United States", "enwiki:United States"),
        ("enwiki", "United_States", "enwiki:United States"),
        ("enwiki", "  united States ", "enwiki:United States"),
        ("enwiki", "USA", "enwiki:United States"),
        ("enwiki", "united States of America", "enwiki:United States"),
        ("enwiki", "India", "enwiki:India"),
        ("enwiktionary", "apple", "enwiktionary:apple"),
        ("enwiktionary", "Apple", "enwiktionary:apple"),
    ],
)
def test_matches_titles_and_aliases(wiki, title, expected):
    assert WATCH.match(wiki, title) == expected


@pytest.mark.parametrize(
    ("wiki", "title"),
    [
        ("enwiki", "Category:21st-century Indian male actors"),  # the earlier system matched this to India
        ("enwiki", "Indiana"),
        ("enwiki", "United States Senate"),
        ("dewiki", "India"),  # another wiki
        ("enwiktionary", "APPLE"),
        ("enwiki", "Talk:India"),
    ],
)
def test_never_matches_substrings_or_other_wikis(wiki, title):
    assert WATCH.match(wiki, title) is None


def test_canonical_name_is_as_mediawiki_shows_it():
    assert canonical_entity("enwiki", "earth_science") == "enwiki:Earth science"
    assert canonical_entity("frwiktionary", "chat") == "frwiktionary:chat"
    assert normalise_title("  a__b  ", "enwiki") == "A b"


def test_one_alias_for_two_entities_is_refused():
    with pytest.raises(AllowlistError, match="USA"):
        Allowlist.of([Entity("United States", "enwiki", ("USA",)), Entity("USA", "enwiki")])


@given(wikis, titles, st.lists(titles, max_size=3))
def test_alias_and_title_matching_agree(wiki, title, aliases):
    aliases = [a for a in aliases if normalise_title(a, wiki) != normalise_title(title, wiki)]
    entity = Entity(title, wiki, tuple(dict.fromkeys(aliases)))
    allowlist = Allowlist.of([entity])
    for name in (title, *aliases):
        assert allowlist.match(wiki, name) == entity.canonical
        assert allowlist.match(wiki, name.replace(" ", "_")) == entity.canonical
    assert allowlist.match(wiki, title + " extra") in (None, entity.canonical)
    assert allowlist.match(wiki + "x", title) is None
