"""DuckDB: ad-hoc SQL over the Iceberg lakehouse."""

from wikiguard.adapters.duckdb.query import DuckDbLakehouseQuery, QueryError

__all__ = ["DuckDbLakehouseQuery", "QueryError"]
