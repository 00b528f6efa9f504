"""Ingest throughput: loopback EventStreams server -> `wikiguard.entrypoints.ingest` -> real Kafka.

The recording is replayed N times with fresh ids (>= 200k events) by a loopback SSE server in its
own process; the ingest service runs as it does in production (`python -m
wikiguard.entrypoints.ingest`, its own process, JSON logs) with an allowlist keeping ~90% of the
events, and stops after reading them all (`--max-events`). Figures: events/s between the service's
"ingest starting" and "ingest stopped" log lines (final flush included), CPU seconds and peak RSS
of the ingest process (from wait4's rusage).

    scripts/kafka.sh start && scripts/kafka.sh wait
    python benchmarks/bench_ingest.py [--times 90] [--bootstrap 127.0.0.1:19092]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
RECORDING = (
    REPO.parent
    / "shared"
    / "data"
    / "wikimedia"
    / "yearfunla_wikiMedia_stream_monitor__recentchange_raw.jsonl"
)

SERVER = """
import sys, time
from tests.support.sse_server import LoopbackSseServer
from wikiguard.adapters.simulator.replay import recorded_repeat
lines = [r.payload for r in recorded_repeat(sys.argv[1], int(sys.argv[2])).records({})]
with LoopbackSseServer(lines, id_mode="offset", flush_bytes=65536) as server:
    print(len(lines), server.url, flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin
"""


def allowlist_yaml(path: Path) -> None:
    """Nine pages in ten of the recording (the replay keeps titles, so ~90% of events are kept)."""
    pages = sorted({(e["wiki"], e["title"]) for e in map(json.loads, RECORDING.read_text().splitlines())})
    entities = [{"title": t, "wiki": w} for n, (w, t) in enumerate(pages) if n % 10 != 9]
    path.write_text(yaml.safe_dump({"entities": entities}, allow_unicode=True), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--times", type=int, default=90, help="replays of the 2,387-event recording")
    parser.add_argument("--bootstrap", default=os.environ.get("WIKIGUARD_KAFKA_BOOTSTRAP", "127.0.0.1:19092"))
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(RECORDING), str(args.times)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        total, url = server.stdout.readline().split()
        with tempfile.TemporaryDirectory() as tmp:
            allowlist = Path(tmp) / "allowlist.yaml"
            allowlist_yaml(allowlist)
            topic = f"bench_{uuid.uuid4().hex[:8]}"
            ingest_env = {
                **env,
                "WIKIGUARD_SSE_URL": url,
                "WIKIGUARD_KAFKA_BOOTSTRAP": args.bootstrap,
                "WIKIGUARD_KAFKA_TOPIC": topic,
                "WIKIGUARD_KAFKA_DLQ_TOPIC": f"{topic}_dlq",
                "WIKIGUARD_STATE_DIR": str(Path(tmp) / "state"),
                "WIKIGUARD_ALLOWLIST": str(allowlist),
                "WIKIGUARD_PROGRESS_SECONDS": "5",
            }
            log_path = Path(tmp) / "ingest.log"
            with log_path.open("w") as log:
                started = time.monotonic()
                ingest = subprocess.Popen(
                    [sys.executable, "-m", "wikiguard.entrypoints.ingest", "--max-events", total],
                    env=ingest_env,
                    stderr=log,
                )
                _, status, usage = os.wait4(ingest.pid, 0)
                ingest.returncode = os.waitstatus_to_exitcode(status)
                wall = time.monotonic() - started
            lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    finally:
        if server.stdin:
            server.stdin.close()
        server.wait(timeout=30)
    if ingest.returncode != 0:
        print("\n".join(json.dumps(line) for line in lines[-20:]))
        print(f"ingest exited {ingest.returncode}")
        return 1
    start = next(datetime.fromisoformat(x["ts"]) for x in lines if x["msg"] == "ingest starting")
    stop = next(x for x in lines if x["msg"] == "ingest stopped")
    seconds = (datetime.fromisoformat(stop["ts"]) - start).total_seconds()
    counters = stop["counters"]
    cpu = usage.ru_utime + usage.ru_stime
    print(f"events read          {counters['read']:>10,}")
    print(f"kept / filtered      {counters['kept']:>10,} / {counters['filtered']:,}")
    print(f"delivered to Kafka   {counters['sent']:>10,} (failed {counters['failed']})")
    print(f"streaming seconds    {seconds:>10.2f} (process wall incl. startup {wall:.2f})")
    print(f"throughput           {counters['read'] / seconds:>10,.0f} events/s")
    print(f"ingest CPU seconds   {cpu:>10.2f} (user {usage.ru_utime:.2f}, sys {usage.ru_stime:.2f})")
    print(f"events per CPU-s     {counters['read'] / cpu:>10,.0f}")
    print(f"peak RSS             {usage.ru_maxrss / 1024:>10.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
