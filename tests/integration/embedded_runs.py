"""Helpers for running `wikiguard run` on recordings and reading the warehouse back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from wikiguard.adapters.iceberg.table_store import IcebergTableStore, local_catalog
from wikiguard.application.tables import ALL_TABLES

# Columns that legitimately differ between two runs over the same input (wall-clock and batch ids).
VOLATILE = {
    "ingestion_timestamp",
    "processing_lag_seconds",
    "batch_id",
    "aggregation_timestamp",
    "quarantined_at",
    "avg_processing_lag_seconds",
    "max_processing_lag_seconds",
    "avg_processing_lag",
    "max_processing_lag",
    "measured_at",
    "freshness_p50_seconds",
    "freshness_max_seconds",
}


def top_titles(path: Path, n: int) -> list[tuple[str, str]]:
    """The n most frequent (wiki, title) pairs of a recording: a test allowlist that keeps a good share."""
    counts: Counter[tuple[str, str]] = Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            event = json.loads(line)
            counts[(event["wiki"], event["title"])] += 1
    return [pair for pair, _ in counts.most_common(n)]


def write_allowlist(path: Path, pairs: list[tuple[str, str]]) -> Path:
    lines = ["entities:"]
    for wiki, title in pairs:
        lines += [f"  - title: {json.dumps(title, ensure_ascii=False)}", f"    wiki: {wiki}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def wikiguard(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wikiguard.entrypoints.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def open_store(warehouse: Path) -> IcebergTableStore:
    return IcebergTableStore(local_catalog(warehouse), ALL_TABLES)


def table_rows(warehouse: Path, table: str, drop: set[str] = VOLATILE) -> list[dict[str, Any]]:
    rows = [{k: v for k, v in row.items() if k not in drop} for row in open_store(warehouse).scan(table)]
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))


def snapshot_of(warehouse: Path) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows without the volatile columns, sorted: what two equivalent runs must share."""
    return {spec.name: table_rows(warehouse, spec.name) for spec in ALL_TABLES if spec.name != "alerts_sent"}
