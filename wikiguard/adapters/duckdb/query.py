"""Ad-hoc SQL over the lakehouse with DuckDB, reading Iceberg through pyiceberg.

Every table of the namespace is queryable under its bare name (`SELECT count(*) FROM silver_events`).
Only the tables the SQL mentions are read: each is scanned at its current snapshot into Arrow and
registered in a fresh in-memory DuckDB connection, so one query sees one consistent snapshot per
table and nothing a query creates outlives it.
"""

from __future__ import annotations

import re
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg import exceptions as iceberg_errors
from pyiceberg.catalog import Catalog

from wikiguard.application.tables import NAMESPACE
from wikiguard.domain.errors import WikiguardError

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class QueryError(WikiguardError):
    """The SQL could not run: a syntax error, an unknown table or column, or a table that cannot be read."""


class DuckDbLakehouseQuery:
    def __init__(self, catalog: Catalog, namespace: str = NAMESPACE) -> None:
        self._catalog = catalog
        self._namespace = namespace

    def tables(self) -> list[str]:
        try:
            return sorted(identifier[-1] for identifier in self._catalog.list_tables(self._namespace))
        except (iceberg_errors.NoSuchNamespaceError, OSError) as err:
            raise QueryError(f"cannot list tables of {self._namespace}: {err}") from err

    def _read(self, name: str) -> pa.Table:
        try:
            return self._catalog.load_table((self._namespace, name)).scan().to_arrow()
        except (iceberg_errors.NoSuchTableError, pa.ArrowException, OSError) as err:
            raise QueryError(f"cannot read table {name}: {err}") from err

    def run(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and rows of `sql`; statements without a result give two empty lists."""
        known = {name.lower(): name for name in self.tables()}
        # A word that names a table is enough: reading one table too many is harmless, one too few
        # would fail the query. Case-insensitive like DuckDB's own identifiers.
        mentioned = {known[word.lower()] for word in _WORD.findall(sql) if word.lower() in known}
        with duckdb.connect(":memory:") as con:
            con.execute("SET TimeZone = 'UTC'")  # timestamptz results in UTC whatever the host's zone
            for name in sorted(mentioned):
                con.register(name, self._read(name))
            try:
                result = con.execute(sql)
                if result.description is None:
                    return [], []
                columns = [column[0] for column in result.description]
                return columns, result.fetchall()
            except duckdb.Error as err:
                hint = (
                    f" (tables: {', '.join(sorted(known.values()))})"
                    if isinstance(err, duckdb.CatalogException)
                    else ""
                )
                raise QueryError(f"{type(err).__name__}: {err}{hint}") from err
