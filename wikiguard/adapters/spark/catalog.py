"""Which Iceberg catalog a Spark job talks to, and the DDL that creates its tables from the specs.

Three kinds of catalog, one set of tables:
- `jdbc`: Iceberg's JdbcCatalog on `<warehouse>/catalog.db` (SQLite), the very file pyiceberg's
  `SqlCatalog` (`wikiguard.adapters.iceberg.local_catalog`) uses, so both engines see the same
  tables. Both catalogs store their name in the rows of `catalog.db`: the Spark catalog name must be
  the pyiceberg catalog name (`wikiguard` for `local_catalog`).
- `hadoop`: a HadoopCatalog on a folder (no catalog database; Spark only).
- `glue`: AWS Glue with S3FileIO on an `s3://` warehouse (EMR Serverless; Athena reads the tables).

Catalog settings are runtime SQL settings, so a catalog can be added to a running session (the test
suite shares one session and gives each test its own catalog).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import attrs

from wikiguard.adapters.iceberg.schemas import TABLE_PROPERTIES
from wikiguard.application.tables import NAMESPACE, TableSpec

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession
    from pyspark.sql.types import DataType, StructType

CatalogKind = Literal["jdbc", "hadoop", "glue"]
CATALOG_KINDS: tuple[str, ...] = ("jdbc", "hadoop", "glue")

_SPARK_TYPES = {
    "string": "STRING",
    "int": "INT",
    "long": "BIGINT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP",  # Iceberg timestamptz: UTC instants, microseconds
    "date": "DATE",
    "list<string>": "ARRAY<STRING>",
}


class CatalogConfigError(ValueError):
    """A catalog that cannot be configured (unknown kind, warehouse of the wrong shape)."""


@attrs.frozen
class IcebergCatalog:
    """A Spark catalog name bound to an Iceberg catalog, and the namespace holding our tables."""

    name: str
    kind: CatalogKind
    warehouse: str
    namespace: str = NAMESPACE

    def table(self, table: str) -> str:
        return f"{self.name}.{self.namespace}.{table}"

    def conf(self) -> dict[str, str]:
        prefix = f"spark.sql.catalog.{self.name}"
        conf = {prefix: "org.apache.iceberg.spark.SparkCatalog", f"{prefix}.cache-enabled": "false"}
        warehouse = self.warehouse
        if self.kind in ("jdbc", "hadoop") and "://" not in warehouse:
            path = Path(warehouse).expanduser().resolve()
            path.mkdir(parents=True, exist_ok=True)
            warehouse = path.as_uri()
        if self.kind == "jdbc":
            folder = Path(warehouse.removeprefix("file://"))
            conf |= {
                f"{prefix}.catalog-impl": "org.apache.iceberg.jdbc.JdbcCatalog",
                f"{prefix}.uri": f"jdbc:sqlite:{folder / 'catalog.db'}",
                f"{prefix}.warehouse": warehouse,
                # V0 is the table layout pyiceberg's SqlCatalog creates (no iceberg_type column).
                f"{prefix}.jdbc.schema-version": "V0",
            }
        elif self.kind == "hadoop":
            conf |= {f"{prefix}.type": "hadoop", f"{prefix}.warehouse": warehouse}
        elif self.kind == "glue":
            if not warehouse.startswith(("s3://", "s3a://")):
                raise CatalogConfigError(f"a glue catalog needs an s3:// warehouse, got {warehouse!r}")
            conf |= {
                f"{prefix}.catalog-impl": "org.apache.iceberg.aws.glue.GlueCatalog",
                f"{prefix}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
                f"{prefix}.warehouse": warehouse,
            }
        else:
            raise CatalogConfigError(f"catalog kind must be one of {CATALOG_KINDS}, got {self.kind!r}")
        return conf

    def register(self, spark: SparkSession) -> None:
        """Add this catalog to a running session (before its first use under this name)."""
        for key, value in self.conf().items():
            spark.conf.set(key, value)


def spark_sql_type(logical: str) -> str:
    if logical not in _SPARK_TYPES:
        raise CatalogConfigError(f"unknown logical type {logical!r}")
    return _SPARK_TYPES[logical]


def spark_schema(spec: TableSpec) -> StructType:
    """The Spark schema of a table (required columns are non-nullable)."""
    from pyspark.sql.types import (
        ArrayType,
        BooleanType,
        DateType,
        DoubleType,
        IntegerType,
        LongType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )

    kinds: dict[str, DataType] = {
        "string": StringType(), "int": IntegerType(), "long": LongType(), "double": DoubleType(),
        "boolean": BooleanType(), "timestamp": TimestampType(), "date": DateType(),
        "list<string>": ArrayType(StringType(), containsNull=True),
    }  # fmt: skip
    return StructType([StructField(c.name, kinds[c.type], nullable=not c.required) for c in spec.columns])


def create_table_sql(catalog: IcebergCatalog, spec: TableSpec) -> str:
    """Explicit DDL: columns, NOT NULL, comments, identity partition, Athena-friendly properties."""
    columns = []
    for column in spec.columns:
        text = f"`{column.name}` {spark_sql_type(column.type)}"
        if column.required:
            text += " NOT NULL"
        if column.doc:
            text += " COMMENT '" + column.doc.replace("\\", "\\\\").replace("'", "\\'") + "'"
        columns.append(text)
    properties = ", ".join(f"'{k}'='{v}'" for k, v in sorted(TABLE_PROPERTIES.items()))
    return (
        f"CREATE TABLE IF NOT EXISTS {catalog.table(spec.name)} (\n  " + ",\n  ".join(columns) + "\n)"
        f"\nUSING iceberg\nPARTITIONED BY (`{spec.partition_by}`)\nTBLPROPERTIES ({properties})"
    )


def ensure_tables(spark: SparkSession, catalog: IcebergCatalog, specs: Iterable[TableSpec]) -> list[str]:
    """Create the namespace and every missing table; returns the tables created now."""
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {catalog.name}.{catalog.namespace}")
    existing = {
        row.tableName for row in spark.sql(f"SHOW TABLES IN {catalog.name}.{catalog.namespace}").collect()
    }
    created = []
    for spec in specs:
        if spec.name in existing:
            continue
        spark.sql(create_table_sql(catalog, spec))
        if spec.sort_by:  # the same write order pyiceberg declares
            order = ", ".join(f"`{name}`" for name in spec.sort_by)
            spark.sql(f"ALTER TABLE {catalog.table(spec.name)} WRITE ORDERED BY {order}")
        created.append(spec.name)
    return created
