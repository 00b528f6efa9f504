"""The AWS shape of the warehouse: `wikiguard run` on Glue + S3 (a moto server) equals the local run.

The same recording goes through the embedded pipeline twice, once into a local SQLite-catalog
warehouse and once with `WIKIGUARD_CATALOG=glue` into an S3 bucket of the moto server; the tables read
back through pyiceberg must hold the same rows (wall-clock columns aside). Then Glue must show the
database and its Iceberg tables, and S3 the data and metadata files, which is what Athena reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RECORDINGS
from tests.integration.embedded_runs import VOLATILE, snapshot_of, top_titles, wikiguard, write_allowlist
from tests.support import moto_server
from tests.support.moto_server import REGION, aws_client, unique
from wikiguard.adapters.iceberg.table_store import IcebergTableStore, glue_catalog
from wikiguard.application.tables import ALL_TABLES, NAMESPACE

pytestmark = pytest.mark.integration


moto_endpoint = moto_server.moto_endpoint  # the session fixture, under its own name


@pytest.fixture
def glue(moto_endpoint: str) -> Iterator[Any]:
    """A Glue client, with no `wikiguard_lakehouse` database before the test.

    The database name is fixed and Glue finds a table by name whatever bucket it lives in, so two
    tests on the one moto server (whose backends are process-wide) would otherwise share tables.
    """
    client = aws_client("glue", moto_endpoint)
    drop_namespace(client)
    yield client
    drop_namespace(client)


def drop_namespace(client: Any) -> None:
    try:
        tables = client.get_tables(DatabaseName=NAMESPACE)["TableList"]
    except client.exceptions.EntityNotFoundException:
        return
    for table in tables:
        client.delete_table(DatabaseName=NAMESPACE, Name=table["Name"])
    client.delete_database(Name=NAMESPACE)


RAW = RECORDINGS / "yearfunla_wikiMedia_stream_monitor__recentchange_raw.jsonl"


def glue_env(endpoint: str, warehouse: str) -> dict[str, str]:
    """The environment of the subprocess only: dummy credentials, every AWS call to the moto server."""
    return {
        "WIKIGUARD_CATALOG": "glue",
        "WIKIGUARD_S3_WAREHOUSE": warehouse,
        "WIKIGUARD_AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",  # no instance-metadata probing for credentials
    }


def glue_snapshot(endpoint: str, warehouse: str) -> dict[str, list[dict[str, Any]]]:
    """`embedded_runs.snapshot_of`, read through the Glue catalog instead of the local one."""
    catalog = glue_catalog(
        warehouse,
        REGION,
        endpoint_url=endpoint,
        s3_endpoint=endpoint,
        access_key_id="testing",
        secret_access_key="testing",
    )
    store = IcebergTableStore(catalog, ALL_TABLES)
    snapshot = {}
    for spec in ALL_TABLES:
        if spec.name == "alerts_sent":
            continue
        rows = [{k: v for k, v in row.items() if k not in VOLATILE} for row in store.scan(spec.name)]
        snapshot[spec.name] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))
    return snapshot


def run_json(*args: str, env: dict[str, str] | None = None) -> Any:
    result = wikiguard(*args, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    start = min(i for i in (result.stdout.find("{"), result.stdout.find("[")) if i >= 0)
    return json.loads(result.stdout[start:])


def test_glue_warehouse_holds_the_same_tables_as_the_local_one(moto_endpoint: str, glue: Any, tmp_path: Path):
    bucket = unique("wikiguard-warehouse")
    aws_client("s3", moto_endpoint).create_bucket(Bucket=bucket)
    warehouse = f"s3://{bucket}/warehouse"
    allowlist = write_allowlist(tmp_path / "allowlist.yaml", top_titles(RAW, 40))
    common = ("run", "--source", str(RAW), "--allowlist", str(allowlist), "--json")

    local = run_json(*common, "--warehouse", str(tmp_path / "local"))
    on_glue = run_json(*common, env=glue_env(moto_endpoint, warehouse))

    assert on_glue["read"] == local["read"] == 2387
    assert on_glue["silver_rows"] == local["silver_rows"] > 0
    reference = snapshot_of(tmp_path / "local")
    assert sum(len(rows) for rows in reference.values()) > 0
    got = glue_snapshot(moto_endpoint, warehouse)
    for table in reference:
        assert got[table] == reference[table], table

    # Glue: the database and one Iceberg table per spec, each pointing at its metadata file in S3.
    assert glue.get_database(Name=NAMESPACE)["Database"]["Name"] == NAMESPACE
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName=NAMESPACE)["TableList"]}
    assert set(tables) == {spec.name for spec in ALL_TABLES}
    for name, table in tables.items():
        parameters = table["Parameters"]
        assert parameters["table_type"].upper() == "ICEBERG", name
        assert parameters["metadata_location"].startswith(f"{warehouse}/{NAMESPACE}.db/{name}/metadata/"), (
            name
        )

    # S3: data files under each table that has rows, metadata files under every table.
    keys = []
    for page in aws_client("s3", moto_endpoint).get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [o["Key"] for o in page.get("Contents", [])]
    for spec in ALL_TABLES:
        prefix = f"warehouse/{NAMESPACE}.db/{spec.name}/"
        assert any(k.startswith(prefix + "metadata/") and k.endswith(".metadata.json") for k in keys), (
            spec.name
        )
        if reference.get(spec.name):
            assert any(k.startswith(prefix + "data/") and k.endswith(".parquet") for k in keys), spec.name

    # The query command reads the same Glue tables.
    sql = "SELECT count(*) AS n FROM silver_events"
    counted = run_json("query", sql, "--format", "json", env=glue_env(moto_endpoint, warehouse))
    assert counted == [{"n": len(reference["silver_events"])}]


def test_a_second_glue_run_over_the_same_input_adds_nothing(moto_endpoint: str, glue: Any, tmp_path: Path):
    """Checkpoints live in the Iceberg snapshots on S3, so a restart resumes there too."""
    bucket = unique("wikiguard-warehouse")
    aws_client("s3", moto_endpoint).create_bucket(Bucket=bucket)
    warehouse = f"s3://{bucket}/warehouse"
    recording = RECORDINGS / "yearfunla_wikiMedia_stream_monitor__recentchange.jsonl"
    allowlist = write_allowlist(tmp_path / "allowlist.yaml", top_titles(recording, 20))
    args = ("run", "--source", str(recording), "--allowlist", str(allowlist), "--json")
    env = glue_env(moto_endpoint, warehouse)
    first = run_json(*args, env=env)
    before = glue_snapshot(moto_endpoint, warehouse)
    again = run_json(*args, env=env)
    assert first["bronze_rows"] > 0
    assert again["read"] == 0 and again["bronze_rows"] == 0
    assert glue_snapshot(moto_endpoint, warehouse) == before


def test_tables_of_another_warehouse_are_refused(moto_endpoint: str, glue: Any):
    from wikiguard.adapters.iceberg.table_store import TableStoreError

    bucket = unique("wikiguard-warehouse")
    aws_client("s3", moto_endpoint).create_bucket(Bucket=bucket)

    def store(prefix: str) -> IcebergTableStore:
        catalog = glue_catalog(f"s3://{bucket}/{prefix}", REGION, endpoint_url=moto_endpoint,
                               s3_endpoint=moto_endpoint, access_key_id="testing", secret_access_key="testing")
        return IcebergTableStore(catalog, ALL_TABLES)

    store("first").ensure_tables()
    store("first").ensure_tables()  # the same warehouse again: fine
    with pytest.raises(TableStoreError, match="outside the configured warehouse"):
        store("second").ensure_tables()
