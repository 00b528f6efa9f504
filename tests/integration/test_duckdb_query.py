"""DuckDB SQL over a real local Iceberg warehouse written by `IcebergTableStore`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.contract.test_table_store_contract import SPECS, sample_rows
from wikiguard.adapters.duckdb import DuckDbLakehouseQuery, QueryError
from wikiguard.adapters.iceberg import IcebergTableStore, local_catalog
from wikiguard.application.tables import NAMESPACE, QUALITY_METRICS, SILVER_EVENTS

pytestmark = pytest.mark.integration


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    store = IcebergTableStore(local_catalog(tmp_path), SPECS)
    store.ensure_tables()
    store.append("silver_events", sample_rows(SILVER_EVENTS, 6), {"ingest": "6"})
    store.append("silver_events", sample_rows(SILVER_EVENTS, 4, start=6), {"ingest": "10"})
    store.append("quality_metrics", sample_rows(QUALITY_METRICS, 3), {})
    return tmp_path


def run(warehouse: Path, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    return DuckDbLakehouseQuery(local_catalog(warehouse)).run(sql)


def test_tables_are_queryable_by_bare_name(warehouse: Path) -> None:
    assert run(warehouse, "SELECT count(*) AS n FROM silver_events") == (["n"], [(10,)])
    assert run(warehouse, "select count(*) from QUALITY_METRICS")[1] == [(3,)]
    assert run(warehouse, "SELECT count(*) FROM bronze_events")[1] == [(0,)]


def test_types_come_through(warehouse: Path) -> None:
    columns, rows = run(
        warehouse,
        "SELECT event_date, count(*) AS n, max(event_timestamp) AS last, bool_or(is_bot) AS bots "
        "FROM silver_events GROUP BY event_date ORDER BY event_date",
    )

    assert columns == ["event_date", "n", "last", "bots"]
    assert [(day.isoformat(), n) for day, n, _, _ in rows] == [
        ("2026-01-29", 4),
        ("2026-01-30", 3),
        ("2026-01-31", 3),
    ]
    last = max(row[2] for row in rows)
    assert last == datetime(2026, 1, 29, 22, 30, tzinfo=UTC) + timedelta(minutes=37 * 9, microseconds=9)
    assert last.utcoffset() == timedelta(0)
    (checks,) = run(
        warehouse, "SELECT failed_checks FROM quality_metrics WHERE len(failed_checks) > 0 LIMIT 1"
    )[1][0]
    assert checks == ["failed_checks-1", "with space"]


def test_a_join_across_tables(warehouse: Path) -> None:
    _, rows = run(
        warehouse,
        "SELECT count(*) FROM silver_events s JOIN quality_metrics q ON s.event_date = q.event_date",
    )
    assert rows == [(10,)]  # one metric row per silver day (3 days), silver has 4 + 3 + 3 rows


def test_only_the_tables_the_sql_names_are_read(warehouse: Path) -> None:
    table = local_catalog(warehouse).load_table((NAMESPACE, "quality_metrics"))
    for task in table.scan().plan_files():
        Path(task.file.file_path.removeprefix("file://")).unlink()

    assert run(warehouse, "SELECT count(*) FROM silver_events")[1] == [(10,)]
    with pytest.raises(QueryError, match="quality_metrics"):
        run(warehouse, "SELECT count(*) FROM quality_metrics")


def test_bad_sql_is_a_query_error(warehouse: Path) -> None:
    with pytest.raises(QueryError, match="syntax error"):
        run(warehouse, "SELEC count(*) FROM silver_events")


def test_unknown_table_is_a_query_error_naming_the_tables(warehouse: Path) -> None:
    with pytest.raises(QueryError, match="silver_events") as caught:
        run(warehouse, "SELECT * FROM gold_nothing")
    assert "gold_nothing" in str(caught.value)


def test_unknown_column_is_a_query_error(warehouse: Path) -> None:
    with pytest.raises(QueryError, match="no_such_column"):
        run(warehouse, "SELECT no_such_column FROM silver_events")
