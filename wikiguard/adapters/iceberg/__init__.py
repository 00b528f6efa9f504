"""Apache Iceberg tables through pyiceberg: the lakehouse `TableStore` and its catalogs."""

from wikiguard.adapters.iceberg.table_store import (
    IcebergTableStore,
    TableStoreError,
    glue_catalog,
    local_catalog,
)

__all__ = ["IcebergTableStore", "TableStoreError", "glue_catalog", "local_catalog"]
