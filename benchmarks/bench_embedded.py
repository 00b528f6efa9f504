"""Throughput and memory of the embedded engine, end to end and per stage.

Replays the 2,387-event recording N times with fresh ids and shifted times (so dedup keeps them and
event time moves on, closing windows as the live stream would), with an allowlist of every page in
the recording so nearly every event goes through bronze, silver and gold into a local Iceberg
warehouse. Prints events/s end to end and per stage, and peak memory (RSS).

    python -m benchmarks.bench_embedded --events 1000000
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from tests.integration.embedded_runs import top_titles, write_allowlist
from wikiguard.adapters.simulator import recorded_repeat
from wikiguard.application.pipeline import PipelineSettings
from wikiguard.entrypoints.containers import EmbeddedContainer
from wikiguard.entrypoints.settings import Settings

RECORDING = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "wikimedia" / (
    "yearfunla_wikiMedia_stream_monitor__recentchange_raw.jsonl"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch-rows", type=int, default=PipelineSettings().batch_rows)  # the engine's default
    parser.add_argument("--keep", action="store_true", help="keep the warehouse folder")
    parser.add_argument("--cores", type=int, default=1,
                        help="CPUs the process may run on (the target is stated for one core)")
    args = parser.parse_args()
    # Pinned, so pyarrow's and pyiceberg's worker threads share the core with the pipeline and the
    # figure is what one core does, not what the machine does.
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.cores])
    pa.set_cpu_count(args.cores)
    pa.set_io_thread_count(args.cores)

    work = Path(tempfile.mkdtemp(prefix="wikiguard-bench-"))
    allowlist = write_allowlist(work / "allowlist.yaml", top_titles(RECORDING, 100_000))
    times = -(-args.events // 2387)
    settings = Settings(warehouse=work / "warehouse", allowlist=allowlist)
    container = EmbeddedContainer(settings=settings)
    container.source.override(recorded_repeat(RECORDING, times, seed=1))
    container.run_settings.override(
        PipelineSettings(batch_rows=args.batch_rows, batch_seconds=3600, max_events=args.events,
                         maintain_every_batches=10_000)
    )
    container.init_resources()
    pipeline = container.pipeline()
    started = time.perf_counter()
    cpu0 = time.process_time()
    summary = pipeline.run()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    container.shutdown_resources()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"cores                  {len(os.sched_getaffinity(0)):>12}")
    print(f"events read            {summary.read:>12,}")
    print(f"bronze rows            {summary.bronze_rows:>12,}  (filtered {summary.filtered_out:,}, "
          f"quarantined {summary.bronze_quarantined:,})")
    print(f"silver rows            {summary.silver_rows:>12,}  (duplicates {summary.duplicates:,}, "
          f"quarantined {summary.silver_quarantined:,})")
    print(f"gold rows              {summary.gold_entity_rows + summary.gold_user_rows + summary.gold_global_rows:>12,}")
    print(f"batches (commits/table){summary.batches:>12,}")
    print(f"wall time              {elapsed:>12.1f} s   (CPU {cpu:.1f} s)")
    print(f"end to end             {summary.read / elapsed:>12,.0f} events/s")
    for stage, seconds in sorted(summary.stage_seconds.items()):
        print(f"  {stage:<20} {seconds:>8.2f} s   {summary.read / seconds if seconds else 0:>12,.0f} events/s")
    source_s = elapsed - sum(summary.stage_seconds.values())
    print(f"  {'source+batching':<20} {source_s:>8.2f} s")
    print(f"peak RSS               {peak_mib:>12.0f} MiB")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"warehouse kept in {work}")


if __name__ == "__main__":
    main()
