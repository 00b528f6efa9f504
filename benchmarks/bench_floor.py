"""Per-event cost floor of a columnar (Arrow-batch) pipeline, stage by stage, on one core.

bench_embedded measures the engine as built (Python objects per event). This measures what the same
work costs when done on Arrow batches with pyarrow's C++ kernels, so the two can be compared stage by
stage and we can judge whether 50,000 events/s end to end (20 us/event) is reachable at all. Every
stage here is the cheapest plausible form of its job, so the figures are a floor, not a forecast.

The 2,387-event recording is replayed to N events (fresh meta.id, timestamp moved on each round), in
batches of --batch-rows, pinned to CPU 0 with one Arrow thread, cyclic GC off while timing. Stages:
0 generate lines, 1 lines -> string column, 2 pyarrow.json parse (3: orjson per line, for comparison
only, not in the sum), 4 vectorised enrichment into bronze and silver tables, 5 dedup on meta.id in
Python, 6 gold-like group_by, 7 Iceberg appends (local SQLite catalog, zstd, our bronze/silver specs).

    python -m benchmarks.bench_floor --events 1000000
"""

from __future__ import annotations

import argparse
import gc
import resource
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.io.pyarrow import schema_to_pyarrow

from benchmarks.cpu import one_core
from wikiguard.adapters.iceberg.schemas import TABLE_PROPERTIES, iceberg_schema, partition_spec
from wikiguard.application.tables import BRONZE_EVENTS, SILVER_EVENTS
from wikiguard.domain.enrichment import REVERT_SUMMARY

RECORDING = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "wikimedia" / (
    "yearfunla_wikiMedia_stream_monitor__recentchange_raw.jsonl"
)
_I64, _STR, _BOOL = pa.int64(), pa.string(), pa.bool_()
JSON_SCHEMA = pa.schema([
    ("meta", pa.struct([("id", _STR), ("dt", _STR), ("domain", _STR), ("stream", _STR)])),
    ("id", _I64), ("type", _STR), ("namespace", pa.int32()), ("title", _STR), ("comment", _STR),
    ("timestamp", _I64), ("user", _STR), ("bot", _BOOL), ("minor", _BOOL), ("patrolled", _BOOL),
    ("length", pa.struct([("old", _I64), ("new", _I64)])),
    ("revision", pa.struct([("old", _I64), ("new", _I64)])),
    ("server_name", _STR), ("wiki", _STR), ("log_type", _STR), ("log_action", _STR),
])
IP_RE = r"^(\d{1,3}\.){3}\d{1,3}$|^[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4}){2,7}$"
REVERT_RE = REVERT_SUMMARY.pattern  # the engine's own pattern (matched at the start; RE2 accepts it)
UTC_US = pa.timestamp("us", "UTC")
STAGES = ("0 generate lines", "1 lines -> string col", "2 pyarrow.json parse", "3 orjson per line (cmp)",
          "4 enrich (pc)", "5 dedup (py dict)", "6 gold group_by", "7a bronze append", "7b silver append",
          "8 free batch memory")

GOLD_INPUT = ("canonical_entity", "window_start", "meta_id", "bytes_changed", "is_revert", "is_anonymous",
              "user_name", "event_timestamp")


def recording_pieces() -> list[tuple[bytes, bytes, bytes, int]]:
    """Each recorded line cut around its meta.id and timestamp value: (head, middle, tail, timestamp)."""
    pieces = []
    for line in RECORDING.read_bytes().splitlines():
        event = orjson.loads(line)
        meta_id, ts = event["meta"]["id"].encode(), event["timestamp"]
        head, rest = line.split(meta_id, 1)
        middle, tail = rest.split(b'"timestamp":%d' % ts, 1)
        pieces.append((head, middle + b'"timestamp":', tail, ts))
    return pieces


def generate(pieces: list[tuple[bytes, bytes, bytes, int]], start: int, count: int, span: int) -> list[bytes]:
    """Events start..start+count-1 of the endless replay: a fresh uuid-shaped id, time moved by round."""
    n_rec, out = len(pieces), []
    for n in range(start, start + count):
        head, middle, tail, ts = pieces[n % n_rec]
        out.append(b"%s00000000-0000-4000-8000-%012x%s%d%s" % (head, n, middle, ts + n // n_rec * span, tail))
    return out


def entity_keys(wiki: pa.ChunkedArray, title: pa.ChunkedArray) -> pa.ChunkedArray:
    """wiki:Title with underscores as spaces, runs of spaces folded, trimmed, first letter upper (but
    on wiktionaries), as domain.allowlist.canonical_entity."""
    text = pc.replace_substring_regex(pc.replace_substring(title, "_", " "), "  +", " ")
    text = pc.utf8_trim_whitespace(text)
    upper = pc.binary_join_element_wise(pc.utf8_upper(pc.utf8_slice_codeunits(text, 0, 1)),
                                        pc.utf8_slice_codeunits(text, 1), "")
    return pc.binary_join_element_wise(wiki, pc.if_else(pc.ends_with(wiki, "wiktionary"), text, upper), ":")


def enrich(parsed: pa.Table, raw: pa.Array, keys: pa.Array, canon: pa.Array, first_offset: int,
           batch_id: str) -> tuple[dict[str, pa.Array], dict[str, pa.Array]]:
    """Bronze and silver columns (plus window_start) of the allowlisted, well-formed events of a batch."""
    flat = parsed.flatten()
    c = {name: flat.column(name) for name in flat.column_names}
    index = pc.index_in(entity_keys(c["wiki"], c["title"]), value_set=keys)
    keep = pc.is_valid(index)
    for name in ("meta.id", "type", "timestamp", "user", "bot"):
        keep = pc.and_(keep, pc.is_valid(c[name]))
    c = {name: col.filter(keep) for name, col in c.items()}
    n = len(c["meta.id"])
    entity, raw = pc.take(canon, index.filter(keep)), raw.filter(keep)
    now_s = int(time.time())
    ingested = pa.repeat(pa.scalar(now_s * 1_000_000, UTC_US), n)
    offsets = pa.array(np.arange(first_offset, first_offset + n, dtype=np.int64))
    ts = c["timestamp"]
    event_ts = pc.multiply(ts, 1_000_000).cast(UTC_US)
    day = pc.divide(ts, 86_400)
    event_date = day.cast(pa.int32()).cast(pa.date32())
    hours = pc.divide(ts, 3600)
    user, bot, comment = c["user"], c["bot"], c["comment"]
    is_ip = pc.match_substring_regex(user, IP_RE)
    is_temp = pc.match_substring_regex(user, r"^~\d{4}-")
    account = pc.if_else(is_temp, "Temporary", pc.if_else(is_ip, "Anonymous", "Registered"))
    user_type = pc.if_else(bot, "Bot", account)
    new, old = c["length.new"], c["length.old"]
    delta = pc.if_else(pc.is_valid(new), pc.subtract(new, pc.fill_null(old, 0)), 0)
    common = {
        "meta_id": c["meta.id"], "canonical_entity": entity, "wiki": c["wiki"], "event_type": c["type"],
        "event_timestamp": event_ts, "ingestion_timestamp": ingested, "kafka_topic": pa.repeat("embedded", n),
        "kafka_partition": pa.repeat(pa.scalar(0, pa.int32()), n), "kafka_offset": offsets,
        "batch_id": pa.repeat(batch_id, n), "event_date": event_date,
    }
    bronze = {**common, "event_data": raw, "sse_event_id": pa.nulls(n, _STR)}
    silver = {
        **common, "title": c["title"], "namespace": c["namespace"], "wikimedia_id": c["id"],
        "user_name": user,
        "user_type": user_type, "is_bot": bot, "is_anonymous": pc.or_(is_ip, is_temp),
        "is_temporary_account": is_temp, "is_minor": c["minor"], "comment": comment,
        "has_comment": pc.fill_null(pc.greater(pc.binary_length(comment), 0), False),
        "length_old": old, "length_new": new, "revision_old": c["revision.old"],
        "revision_new": c["revision.new"], "bytes_changed": delta,
        "is_large_edit": pc.greater_equal(pc.abs(delta), 5000),
        "is_revert": pc.fill_null(pc.match_substring_regex(comment, REVERT_RE, ignore_case=True), False),
        "log_type": c["log_type"], "processing_lag_seconds": pc.subtract(now_s, ts).cast(pa.float64()),
        "event_hour": pc.subtract(hours, pc.multiply(pc.divide(hours, 24), 24)).cast(pa.int32()),
        "window_start": pc.multiply(pc.divide(ts, 600), 600_000_000).cast(UTC_US),
    }
    return bronze, silver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch-rows", type=int, default=50_000)
    parser.add_argument("--verbose", action="store_true", help="print each batch's stage times (ms)")
    args = parser.parse_args()
    one_core()

    pieces = recording_pieces()
    stamps = [p[3] for p in pieces]
    span = max(stamps) - min(stamps) + 1
    # Allowlist: every (wiki, title) of the recording, padded with made-up pages to 2,000 keys.
    sample = pj.read_json(pa.BufferReader(b"\n".join(generate(pieces, 0, len(pieces), span))),
                          parse_options=pj.ParseOptions(explicit_schema=JSON_SCHEMA,
                                                        unexpected_field_behavior="ignore"))
    real = pc.unique(entity_keys(sample["wiki"], sample["title"])).to_pylist()
    keys = pa.array(real + [f"xxwiki:Made-up page {i}" for i in range(2_000 - len(real))], _STR)
    canon = keys  # one title per entity here; aliases would map several keys to one canonical name

    work = Path(tempfile.mkdtemp(prefix="wikiguard-floor-"))
    catalog = SqlCatalog("bench", uri=f"sqlite:///{work / 'catalog.db'}", warehouse=f"file://{work}")
    catalog.create_namespace("bench")
    tables, arrow_schemas = {}, {}
    for spec in (BRONZE_EVENTS, SILVER_EVENTS):
        schema = iceberg_schema(spec)
        tables[spec.name] = catalog.create_table(("bench", spec.name), schema=schema,
                                                 partition_spec=partition_spec(spec, schema),
                                                 properties=TABLE_PROPERTIES)
        arrow_schemas[spec.name] = schema_to_pyarrow(tables[spec.name].schema())
    read_opts = pj.ReadOptions(use_threads=False)
    parse_opts = pj.ParseOptions(explicit_schema=JSON_SCHEMA, unexpected_field_behavior="ignore")

    seconds: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    seen: dict[str, None] = {}
    clock = time.perf_counter
    gc.collect()
    gc.disable()
    for first in range(0, args.events, args.batch_rows):
        size = min(args.batch_rows, args.events - first)
        marks = [clock()]
        lines = generate(pieces, first, size, span)
        marks.append(clock())
        raw = pa.array(lines, pa.binary()).cast(_STR)
        marks.append(clock())
        try:
            parsed = pj.read_json(pa.BufferReader(b"\n".join(lines)), read_options=read_opts,
                                  parse_options=parse_opts)
        except pa.ArrowInvalid as err:  # a type clash: parse this batch per line instead
            counts["fallback batches"] += 1
            print(f"  batch at {first:,}: read_json failed ({err}); orjson fallback")
            parsed = pa.Table.from_pylist([orjson.loads(line) for line in lines], schema=JSON_SCHEMA)
        marks.append(clock())
        objects = [orjson.loads(line) for line in lines]
        del objects  # freeing the dicts is part of what the per-line parse costs
        marks.append(clock())
        bronze, silver = enrich(parsed, raw, keys, canon, first + 1, f"batch-{first}")
        marks.append(clock())
        ids = silver["meta_id"].to_pylist()
        fresh = []
        for meta_id in ids:
            fresh.append(meta_id not in seen)
            seen[meta_id] = None
        keep = pa.array(fresh, _BOOL)
        silver = {name: col.filter(keep) for name, col in silver.items()}
        marks.append(clock())
        gold = pa.table({k: silver[k] for k in GOLD_INPUT})
        gold = gold.group_by(["canonical_entity", "window_start"], use_threads=False).aggregate([
            ("meta_id", "count"), ("bytes_changed", "sum"), ("bytes_changed", "min"),
            ("bytes_changed", "max"),
            ("is_revert", "sum"), ("is_anonymous", "sum"), ("user_name", "count_distinct"),
            ("event_timestamp", "min"), ("event_timestamp", "max"),
        ])
        marks.append(clock())
        for name, columns in ((BRONZE_EVENTS.name, bronze), (SILVER_EVENTS.name, silver)):
            schema = arrow_schemas[name]
            tables[name].append(pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema))
            counts[f"{name} rows"] += len(columns["meta_id"])
            marks.append(clock())
        counts["gold rows"] += gold.num_rows
        del lines, raw, parsed, bronze, silver, gold, ids, fresh, keep
        marks.append(clock())
        steps = [b - a for a, b in zip(marks, marks[1:], strict=False)]
        for stage, dt in zip(STAGES, steps, strict=True):
            seconds[stage] += dt
        if args.verbose:
            print(f"  batch at {first:>9,}: " + " ".join(f"{dt * 1e3:5.0f}" for dt in steps) + " ms")
        counts["read"] += size
        counts["batches"] += 1
    gc.enable()

    n = counts["read"]
    print(f"events {n:,} in {counts['batches']} batches of {args.batch_rows:,}; CPU 0 only, 1 Arrow thread")
    print("  " + ", ".join(f"{k} {v:,}" for k, v in counts.items() if k not in ("read", "batches")))
    print(f"{'stage':<28}{'s':>8}{'us/event':>10}{'events/s':>14}")

    def row(label: str, s: float) -> None:
        print(f"{label:<28}{s:>8.2f}{s / n * 1e6:>10.2f}{n / s if s else 0:>14,.0f}")

    for stage in STAGES:
        row(stage, seconds[stage])
    columnar = sum(s for k, s in seconds.items() if k != STAGES[3])
    row("sum columnar (all but 3)", columnar)
    row("sum with 3 instead of 2", columnar - seconds[STAGES[2]] + seconds[STAGES[3]])
    disk = sum(f.stat().st_size for f in work.rglob("*.parquet"))
    print(f"parquet on disk {disk / 2**20:,.0f} MiB ({disk / n:,.0f} B/event); "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
