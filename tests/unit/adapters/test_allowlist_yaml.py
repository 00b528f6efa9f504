import json
from pathlib import Path

import pytest

from wikiguard.adapters.files import AllowlistFileError, load_allowlist
from wikiguard.domain.errors import WikiguardError

REPO = Path(__file__).resolve().parents[3]
DEFAULT = REPO / "wikiguard" / "entrypoints" / "default_allowlist.yaml"
DATA = REPO.parent / "shared" / "data" / "wikimedia"

GOOD = """\
entities:
  - title: "United States"
    wiki: enwiki
    aliases: ["USA", "United_States_of_America"]
  - title: Q30
    wiki: wikidatawiki
  - title: apple
    wiki: enwiktionary
    aliases: []
config:
  ignored: true
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "allowlist.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_gives_an_allowlist_that_matches_titles_and_aliases(tmp_path):
    allowlist = load_allowlist(write(tmp_path, GOOD))

    assert len(allowlist) == 3
    assert allowlist.match("enwiki", "uSA") == "enwiki:United States"
    assert allowlist.match("enwiki", "Usa") is None  # only the first letter folds case
    assert allowlist.match("enwiki", "United States of America") == "enwiki:United States"
    assert allowlist.match("wikidatawiki", "Q30") == "wikidatawiki:Q30"
    assert allowlist.match("enwiktionary", "Apple") is None


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        # the 3rd entry has no wiki: its mapping starts on line 9
        (
            "entities:\n  - title: A\n    wiki: enwiki\n\n  - title: B\n    wiki: enwiki\n"
            "    aliases: [B2]\n\n  - title: C\n    aliases: [C2]\n",
            9,
            "entity 3 has no 'wiki'",
        ),
        (
            "entities:\n  - title: A\n    wiki: enwiki\n  - title: ''\n    wiki: enwiki\n",
            4,
            "'title' must be",
        ),
        ("entities:\n  - title: A\n    wik: enwiki\n", 3, "unknown key 'wik'"),
        ("entities:\n  - title: A\n    wiki: enwiki\n    aliases: B\n", 4, "'aliases' must be a list"),
        ("entities:\n  - title: A\n    wiki: enwiki\n    aliases: [B, ~]\n", 4, "every alias"),
        ("entities:\n  - title: A\n    wiki: [enwiki]\n", 3, "'wiki' must be"),
        ("entities:\n  - just a string\n", 2, "must be a mapping"),
        ("entities:\n  - title: A\n    wiki: enwiki\n  - {title: [oops\n", 5, "not valid YAML"),
        ("entities: {title: A}\n", 1, "must be a list"),
        ("entities: []\n", 1, "empty"),
        ("other: 1\n", 1, "missing 'entities'"),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_and_line(tmp_path, text, line, words):
    path = write(tmp_path, text)
    with pytest.raises(AllowlistFileError) as caught:
        load_allowlist(path)
    message = str(caught.value)
    assert str(path) in message
    assert f"line {line}:" in message
    assert words in message


def test_an_alias_claimed_by_two_entities_names_both_lines(tmp_path):
    text = (
        "entities:\n"
        "  - title: United Kingdom\n    wiki: enwiki\n    aliases: [UK, Britain]\n"
        "  - title: Great Britain\n    wiki: enwiki\n    aliases:\n      - GB\n      - britain\n"
    )
    with pytest.raises(
        AllowlistFileError, match=r"line 9: enwiki:'britain' already names enwiki:United Kingdom \(line 4\)"
    ):
        load_allowlist(write(tmp_path, text))


def test_an_entity_listed_twice_is_refused(tmp_path):
    text = "entities:\n  - {title: India, wiki: enwiki}\n  - {title: india, wiki: enwiki}\n"
    with pytest.raises(AllowlistFileError, match="line 3: .*listed twice .*line 2"):
        load_allowlist(write(tmp_path, text))


def test_missing_or_empty_files_are_anticipated_errors(tmp_path):
    with pytest.raises(AllowlistFileError, match="cannot read"):
        load_allowlist(tmp_path / "missing.yaml")
    with pytest.raises(AllowlistFileError, match="expected a mapping"):
        load_allowlist(write(tmp_path, ""))
    assert issubclass(AllowlistFileError, WikiguardError)


def test_the_default_allowlist_loads_and_keeps_the_original_twenty_entities():
    allowlist = load_allowlist(DEFAULT)
    canonical = {e.canonical for e in allowlist.entities}

    assert 30 <= len(allowlist) <= 50
    original = {
        "enwiki:United States",
        "enwiki:Donald Trump",
        "enwiki:India",
        "enwiki:Wikipedia",
        "enwiki:Catholic Church",
        "enwiki:World War II",
        "enwiki:List of WWE personnel",
        "enwiki:Britney Spears",
        "enwiki:The Undertaker",
        "enwiki:ATP Tour records",
    }
    assert original <= canonical
    assert {"wikidatawiki", "commonswiki", "enwiki"} <= allowlist.wikis


def test_the_default_allowlist_yields_rows_from_the_recordings():
    allowlist = load_allowlist(DEFAULT)
    matched = set()
    for name in (
        "digital-sentinel__silver_event_data.jsonl",
        "yearfunla_wikiMedia_stream_monitor__recentchange_raw.jsonl",
    ):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            entity = allowlist.match(event["wiki"], event["title"])
            if entity:
                matched.add((name, entity))
    names = {name for name, _ in matched}
    assert names == {
        "digital-sentinel__silver_event_data.jsonl",
        "yearfunla_wikiMedia_stream_monitor__recentchange_raw.jsonl",
    }
    assert (
        "digital-sentinel__silver_event_data.jsonl",
        "enwiki:Wikipedia:Administrators' noticeboard/Incidents",
    ) in matched
