"""How fast the change sources go: simulator generation, recorded replay, SSE client over loopback.

Run: python -m benchmarks.bench_sources [--events N]   (from the repository root)
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # so `tests.support` imports when run as a script

from tests.support.sse_server import LoopbackSseServer  # noqa: E402
from wikiguard.adapters.simulator import SimulatedChangeSource, recorded_repeat  # noqa: E402
from wikiguard.adapters.sse import WikimediaSseChangeSource  # noqa: E402

RAW = ROOT.parent / "shared/data/wikimedia/yearfunla_wikiMedia_stream_monitor__recentchange_raw.jsonl"


def rate(label: str, items: Iterable[object], limit: int | None = None) -> float:
    started, cpu = time.perf_counter(), time.process_time()
    count = 0
    for _ in items:
        count += 1
        if limit is not None and count >= limit:
            break
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    per_second = count / seconds
    # CPU time is the fairer figure on a shared machine (for SSE it includes the server threads).
    print(
        f"{label:<44} {count:>9,} events {seconds:7.2f} s wall {per_second:>10,.0f}/s"
        f"  cpu {cpu:6.2f} s {count / cpu:>10,.0f}/s"
    )
    return per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=300_000, help="events for the in-process sources")
    parser.add_argument("--sse-events", type=int, default=50_000, help="events over the loopback SSE server")
    args = parser.parse_args()

    watched = [("enwiki", "Donald Trump"), ("enwiki", "India")]
    rate(
        "simulator payloads()", SimulatedChangeSource(1, max_events=args.events, entities=watched).payloads()
    )
    rate("simulator records()", SimulatedChangeSource(1, max_events=args.events, entities=watched).records())
    times = max(1, args.events // 2387)
    rate(f"recorded_repeat x{times} records()", recorded_repeat(RAW, times).records())

    lines = [r.payload for r in recorded_repeat(RAW, max(1, args.sse_events // 2387 + 1)).records()][
        : args.sse_events
    ]
    with LoopbackSseServer(lines, flush_bytes=65536) as server:
        source = WikimediaSseChangeSource(
            server.url, user_agent="WikiGuard-bench/0.1 (https://github.com/wikiguard)", read_timeout=30
        )
        try:
            rate("SSE client over loopback (real framing)", source.records(), limit=len(lines))
        finally:
            source.close()


if __name__ == "__main__":
    main()
