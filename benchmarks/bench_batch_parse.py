"""Batch parsing and allowlist matching (ADR 003) against the per-event functions they follow.

Takes --events lines of the 2,387-event recording (repeated), pinned to one CPU with one Arrow thread,
and prints CPU us/event, the best of --repeat rounds (each round runs every measurement once, so a
busy machine weighs on all of them alike), for:
- the per-event path, `decode_payload` then `parse_change` per payload, and `parse_payloads` of the
  texts and of a payload column (UTF-8 bytes, what a source chunk holds), with its stages on their
  own: the bytes checked and viewed as strings, screening the payloads, reading the JSON;
- `Allowlist.match` per change and `match_entities` on the wiki and title columns, with an allowlist
  of every title in the recording (every page watched: every distinct pair is matched in Python).

    python -m benchmarks.bench_batch_parse --events 50000
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow.compute as pc

from benchmarks.cpu import one_core, rounds
from wikiguard.application.batches import parse
from wikiguard.application.batches.parse import decode_payload
from wikiguard.application.ports import payload_column
from wikiguard.domain.allowlist import Allowlist, Entity
from wikiguard.domain.events import Change, Rejection, parse_change

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "wikimedia"
RECORDING = DATA / "yearfunla_wikiMedia_stream_monitor__recentchange_raw.jsonl"


def per_event(payloads: list[str]) -> list[Change | Rejection]:
    results: list[Change | Rejection] = []
    for payload in payloads:
        value = decode_payload(payload)
        results.append(value if isinstance(value, Rejection) else parse_change(value))
    return results


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--events", type=int, default=50_000)
    cli.add_argument("--repeat", type=int, default=7)
    args = cli.parse_args()
    one_core()

    lines = [line for line in RECORDING.read_text(encoding="utf-8").splitlines() if line.strip()]
    payloads = (lines * (args.events // len(lines) + 1))[: args.events]
    n = len(payloads)
    expected, parsed = per_event(payloads), parse.parse_payloads(payloads)
    assert dict(parsed.rejections) == {i: r for i, r in enumerate(expected) if isinstance(r, Rejection)}
    column = payload_column(payloads)  # what a source chunk holds: the payloads' UTF-8 bytes
    array = parse._utf8_column(column)
    readable = parse._readable(array)
    changes = [r for r in expected if isinstance(r, Change)]
    allowlist = Allowlist.of(
        Entity(title, wiki) for wiki, title in sorted({(c.wiki, c.title) for c in changes})
    )
    wiki, title = parsed.changes.column("wiki"), parsed.changes.column("title")
    entities = parse.match_entities(allowlist, wiki, title)
    assert entities.to_pylist() == [allowlist.match(c.wiki, c.title) for c in changes]

    seconds = rounds(
        {
            "per event (decode_payload + parse_change)": lambda: per_event(payloads),
            "parse_payloads of texts (encodes them first)": lambda: parse.parse_payloads(payloads),
            "parse_payloads": lambda: parse.parse_payloads(column),
            "  bytes to strings (checks UTF-8)": lambda: parse._utf8_column(column),
            "  screening for the JSON reader": lambda: parse._readable(array),
            "  pyarrow.json.read_json": lambda: parse._read(array, readable),
            f"Allowlist.match per change ({len(allowlist):,} entities)": lambda: [
                allowlist.match(c.wiki, c.title) for c in changes
            ],
            "match_entities": lambda: parse.match_entities(allowlist, wiki, title),
        },
        args.repeat,
    )
    stages = sum(s for name, s in seconds.items() if name.startswith("  "))
    print(f"{n:,} events of {RECORDING.name}; one CPU, one Arrow thread; CPU time, best of {args.repeat}")
    for name, s in seconds.items():
        print(f"{name:<48}{s / n * 1e6:6.2f} us/event")
        if name == "  pyarrow.json.read_json":
            print(
                f"{'  the rest: columns, rows per event':<48}{(seconds['parse_payloads'] - stages) / n * 1e6:6.2f} us/event"
            )
    taken = parse._well_formed(parse._read(array, readable))[1]
    print(
        f"per event: {n - (pc.sum(readable).as_py() or 0):,} screened out, {n - (pc.sum(taken).as_py() or 0):,} "
        f"in all; {len(parsed.rejections):,} rejected; every row as the per-event path gives it"
    )


if __name__ == "__main__":
    main()
