"""`TableStore` on Apache Iceberg through pyiceberg: a local SQLite catalog, or AWS Glue + S3.

Checkpoints live in Iceberg metadata: every append is ONE commit whose snapshot summary carries
`wikiguard.checkpoint.<key> = <position>`, so rows and positions land (or fail) together and survive
restarts. `checkpoint()` reads the newest snapshot of the current branch that has the key. An append
of zero rows with a checkpoint still commits a snapshot, one that adds no data files, so an idle
writer's position moves too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy.exc
from botocore.exceptions import BotoCoreError, ClientError
from pyiceberg import exceptions as iceberg_errors
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.expressions import (
    AlwaysFalse,
    AlwaysTrue,
    And,
    BooleanExpression,
    GreaterThanOrEqual,
    In,
    Or,
    Reference,
)
from pyiceberg.expressions.literals import literal
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.table import Table

from wikiguard.adapters.iceberg import schemas, writes
from wikiguard.adapters.iceberg.catalog import CachingSqlCatalog
from wikiguard.adapters.iceberg.snapshots import (
    CHECKPOINT_PREFIX,
    checkpoints_of,
    maintain_table,
    trim_snapshots,
)
from wikiguard.application.ports import Row, RowFilter, Rows, TableSnapshot, TableStore
from wikiguard.application.tables import NAMESPACE, TableSpec
from wikiguard.domain.errors import WikiguardError

logger = logging.getLogger(__name__)

# What pyiceberg and the systems under it raise for anticipated trouble (missing table, lost commit
# race, unreachable S3/Glue, locked SQLite catalog); anything else is a bug and propagates.
_SDK_ERRORS: tuple[type[BaseException], ...] = (
    iceberg_errors.NoSuchTableError,
    iceberg_errors.NoSuchNamespaceError,
    iceberg_errors.CommitFailedException,
    iceberg_errors.ValidationException,
    iceberg_errors.ValidationError,
    iceberg_errors.TableAlreadyExistsError,
    iceberg_errors.NamespaceAlreadyExistsError,
    iceberg_errors.RESTError,
    iceberg_errors.WaitingForLockException,
    pa.ArrowException,
    OSError,
    sqlalchemy.exc.SQLAlchemyError,
    BotoCoreError,
    ClientError,
)


class TableStoreError(WikiguardError):
    """A table operation failed: unknown table, rows that do not fit, or the catalog/storage refused."""


@contextmanager
def _wrapped(what: str) -> Iterator[None]:
    try:
        yield
    except schemas.RowConversionError as err:
        raise TableStoreError(str(err)) from err
    except _SDK_ERRORS as err:
        raise TableStoreError(f"{what}: {type(err).__name__}: {err}") from err


def local_catalog(warehouse: Path, *, create: bool = True) -> Catalog:
    """A SQL catalog in `<warehouse>/catalog.db` (SQLite) over `file://<warehouse>`; any Iceberg tool
    opens it. `create=False` (commands that only read or tidy) refuses a folder without a catalog.

    pyiceberg's `SqlCatalog` with cheaper commits (`CachingSqlCatalog`): the same files and rows."""
    warehouse = warehouse.resolve()
    if warehouse.exists() and not warehouse.is_dir():
        raise TableStoreError(f"{warehouse} is a file, not a warehouse directory")
    if not create and not (warehouse / "catalog.db").is_file():
        raise TableStoreError(
            f"no warehouse at {warehouse} (no catalog.db): run `wikiguard run` first, or pass --warehouse"
        )
    try:
        warehouse.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a file in the way, no permission, a read-only disk
        raise TableStoreError(
            f"cannot use {warehouse} as the warehouse directory: {err.strerror or err}"
        ) from err
    return CachingSqlCatalog(
        "wikiguard",
        uri=f"sqlite:///{warehouse / 'catalog.db'}",
        warehouse=warehouse.as_uri(),
    )


def glue_catalog(
    warehouse_s3_url: str,
    region: str,
    endpoint_url: str | None = None,
    s3_endpoint: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
) -> Catalog:
    """AWS Glue catalog with S3 FileIO. Endpoints are overridable for a moto server on loopback.

    Credentials default to the usual AWS chain (role, env); pass them only for tests.
    """
    properties: dict[str, str] = {
        "type": "glue",
        "warehouse": warehouse_s3_url,
        "glue.region": region,
        "s3.region": region,
        "client.region": region,
        "py-io-impl": "pyiceberg.io.pyarrow.PyArrowFileIO",
    }
    if endpoint_url:
        properties["glue.endpoint"] = endpoint_url
    if s3_endpoint:
        properties["s3.endpoint"] = s3_endpoint
        properties["s3.force-virtual-addressing"] = "false"  # path-style: a loopback host has no buckets
    if access_key_id and secret_access_key:
        properties |= {"client.access-key-id": access_key_id, "client.secret-access-key": secret_access_key}
        properties |= {"s3.access-key-id": access_key_id, "s3.secret-access-key": secret_access_key}
        if session_token:
            properties |= {"client.session-token": session_token, "s3.session-token": session_token}
    with _wrapped("opening the Glue catalog"):
        return load_catalog("wikiguard", **properties)


class IcebergTableStore(TableStore):
    """Tables of `specs` in `namespace` of `catalog`; each `append` is exactly one Iceberg commit.

    `max_snapshots`: once a table has more, an append also expires all but the newest half (their
    checkpoints consolidated first). pyiceberg's commit cost grows with the snapshot count, so a
    streaming writer needs this; None leaves retention to `maintain()` alone.
    """

    def __init__(
        self,
        catalog: Catalog,
        specs: Sequence[TableSpec],
        namespace: str = NAMESPACE,
        max_snapshots: int | None = 32,
    ) -> None:
        if max_snapshots is not None and max_snapshots < 2:
            raise TableStoreError(f"max_snapshots must be at least 2 (got {max_snapshots})")
        self._max_snapshots = max_snapshots
        self._catalog = catalog
        self._specs = {spec.name: spec for spec in specs}
        self._namespace = namespace
        self._tables: dict[str, Table] = {}
        self._arrow_schemas: dict[str, pa.Schema] = {}

    def ensure_tables(self) -> None:
        with _wrapped(f"creating namespace {self._namespace}"):
            self._catalog.create_namespace_if_not_exists(self._namespace)
        warehouse = str(self._catalog.properties.get("warehouse", "")).rstrip("/")
        for spec in self._specs.values():
            schema = schemas.iceberg_schema(spec)
            with _wrapped(f"creating table {spec.name}"):
                table = self._catalog.create_table_if_not_exists(
                    (self._namespace, spec.name),
                    schema=schema,
                    partition_spec=schemas.partition_spec(spec, schema),
                    sort_order=schemas.sort_order(spec, schema),
                    properties=schemas.TABLE_PROPERTIES,
                )
            # A catalog such as Glue finds a table by name wherever it lives: refuse to write a
            # warehouse's data into another warehouse's tables.
            if warehouse and not table.location().startswith(warehouse + "/"):
                raise TableStoreError(
                    f"table {self._namespace}.{spec.name} lives at {table.location()}, outside the configured "
                    f"warehouse {warehouse}; point the warehouse setting at it, or drop the old tables"
                )

    def _table(self, name: str, refresh: bool = False) -> Table:
        if name not in self._specs:
            raise TableStoreError(f"unknown table {name!r}; known: {sorted(self._specs)}")
        # Cached: our own commits update the cached metadata in place, so only reads that must see
        # other writers' commits (or survive a restart) refresh.
        with _wrapped(f"loading table {name}"):
            if name not in self._tables:
                table = self._catalog.load_table((self._namespace, name))
                self._tables[name] = table
                self._arrow_schemas[name] = schema_to_pyarrow(table.schema())
            elif refresh:
                self._tables[name].refresh()
        return self._tables[name]

    def append(self, table: str, rows: Rows, checkpoint: Mapping[str, str]) -> None:
        iceberg_table = self._table(table)
        properties = {CHECKPOINT_PREFIX + key: str(value) for key, value in checkpoint.items()}
        if not len(rows) and not properties:
            return  # nothing to record; an empty snapshot would only grow the metadata
        spec, arrow_schema = self._specs[table], self._arrow_schemas[table]
        with _wrapped(f"appending {len(rows)} rows to {table}"):
            if isinstance(rows, pa.Table):
                data = schemas.conform(spec, arrow_schema, rows)
            else:
                data = schemas.rows_to_arrow(spec, arrow_schema, rows)
            writes.append(iceberg_table, data, properties)
        if self._max_snapshots is not None and len(iceberg_table.metadata.snapshots) > self._max_snapshots:
            self._trim(table, iceberg_table, self._max_snapshots)

    def _trim(self, name: str, iceberg_table: Table, max_snapshots: int) -> None:
        # The append has landed: a failure here must not look like a failed append (the caller would
        # write the rows twice), and the next append retries the trim anyway.
        try:
            expired = trim_snapshots(iceberg_table, self._specs[name], keep_newest=max_snapshots // 2)
            logger.debug("expired %d snapshots of %s", expired, name)
        except _SDK_ERRORS:
            logger.warning("could not expire old snapshots of %s; will retry", name, exc_info=True)

    def checkpoint(self, table: str, key: str) -> str | None:
        with _wrapped(f"reading checkpoint {key} of {table}"):
            return checkpoints_of(self._table(table, refresh=True), {key}).get(key)

    def scan(self, table: str, at_least: tuple[str, Any] | None = None) -> Iterator[Row]:
        # Validated and planned now, so a bad table or column fails at the call, not at first next().
        iceberg_table = self._table(table, refresh=True)
        row_filter: BooleanExpression = AlwaysTrue()
        if at_least is not None:
            column, value = at_least
            if column not in self._specs[table].column_names:
                raise TableStoreError(f"{table}: unknown column {column!r} in at_least")
            try:
                row_filter = GreaterThanOrEqual(term=Reference(column), value=literal(value))
            except (TypeError, ValueError) as err:
                raise TableStoreError(f"{table}: cannot compare {column} with {value!r}: {err}") from err
        with _wrapped(f"scanning {table}"):
            reader = iceberg_table.scan(row_filter=row_filter).to_arrow_batch_reader()
        return self._rows(table, reader)

    def _rows(self, table: str, reader: pa.RecordBatchReader) -> Iterator[Row]:
        with _wrapped(f"scanning {table}"):
            for batch in reader:
                yield from schemas.arrow_to_rows(batch)

    def count(self, table: str) -> int:
        with _wrapped(f"counting {table}"):
            # Plans from manifest record counts: no data file is opened when there are no deletes.
            return int(self._table(table, refresh=True).scan().count())

    def maintain(self, older_than: datetime) -> Mapping[str, int]:
        totals = {
            "tables": 0,
            "snapshots_expired": 0,
            "files_before": 0,
            "files_after": 0,
            "partitions_compacted": 0,
        }
        for name, spec in self._specs.items():
            iceberg_table = self._table(name, refresh=True)
            with _wrapped(f"maintaining {name}"):
                done = maintain_table(iceberg_table, spec, older_than)
            logger.info("maintained %s: %s", name, done)
            totals["tables"] += 1
            for key, value in done.items():
                totals[key] += value
        return totals

    def delete(self, table: str, where: Sequence[RowFilter], checkpoint: Mapping[str, str]) -> int:
        # Refreshed: the count and the delete must see every commit, not only our own.
        iceberg_table = self._table(table, refresh=True)
        properties = {CHECKPOINT_PREFIX + key: str(value) for key, value in checkpoint.items()}
        expression = self._expression(table, where)
        with _wrapped(f"deleting from {table}"):
            matched = int(iceberg_table.scan(row_filter=expression).count()) if where else 0
            if not matched and not properties:
                return 0
            # One transaction, one catalog commit: pyiceberg's copy-on-write delete may add a DELETE
            # snapshot (whole files dropped) and an OVERWRITE one (files rewritten); both carry the
            # checkpoint. With nothing to delete, an empty append carries it, as `append([])` does.
            with iceberg_table.transaction() as txn:
                if matched:
                    txn.delete(expression, snapshot_properties=properties)
                else:
                    with txn.update_snapshot(snapshot_properties=properties).fast_append():
                        pass
        if self._max_snapshots is not None and len(iceberg_table.metadata.snapshots) > self._max_snapshots:
            self._trim(table, iceberg_table, self._max_snapshots)
        return matched

    def _expression(self, table: str, where: Sequence[RowFilter]) -> BooleanExpression:
        known = self._specs[table].column_names
        expression: BooleanExpression = AlwaysFalse()
        for row_filter in where:
            unknown = row_filter.columns - set(known)
            if unknown:
                raise TableStoreError(f"{table}: unknown columns {sorted(unknown)} in a delete filter")
            clause: BooleanExpression = AlwaysTrue()
            try:
                for column, values in row_filter.equals.items():
                    present = [v for v in values if v is not None]  # None never matches, as in SQL
                    clause = And(clause, In(term=Reference(column), values={literal(v) for v in present}))
                if row_filter.at_least is not None:
                    column, value = row_filter.at_least
                    clause = And(clause, GreaterThanOrEqual(term=Reference(column), value=literal(value)))
            except (TypeError, ValueError) as err:
                raise TableStoreError(f"{table}: cannot build a delete filter from {row_filter}: {err}") from err
            expression = Or(expression, clause)
        return expression

    def snapshots(self, table: str) -> list[TableSnapshot]:
        iceberg_table = self._table(table, refresh=True)
        chain = []
        snapshot = iceberg_table.current_snapshot()
        while snapshot is not None:  # the current branch's ancestry, up to the first expired parent
            chain.append(snapshot)
            parent = snapshot.parent_snapshot_id
            snapshot = iceberg_table.snapshot_by_id(parent) if parent is not None else None
        history: list[TableSnapshot] = []
        carried: dict[str, str] = {}
        for snapshot in reversed(chain):
            summary = snapshot.summary.additional_properties if snapshot.summary is not None else {}
            own = {k[len(CHECKPOINT_PREFIX) :]: v for k, v in summary.items() if k.startswith(CHECKPOINT_PREFIX)}
            carried = {**carried, **own}
            committed_at = datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC)
            history.append(TableSnapshot(snapshot.snapshot_id, committed_at, dict(carried)))
        return history
