"""Reusable session-scoped SparkSession fixture (local[2], Iceberg, Kafka source, Deequ).

Import in ``tests/integration/conftest.py``::

    from tests.integration.fixtures_spark import spark, spark_warehouse  # noqa: F401

Missing jars (``scripts/fetch-jvm.sh`` not run) or a missing pyspark FAIL the tests.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

SPARK_CATALOG = "wikiguard"


@pytest.fixture(scope="session")
def spark_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Local warehouse folder of the ``wikiguard`` Iceberg hadoop catalog for this test session."""
    return tmp_path_factory.mktemp("iceberg-warehouse")


@pytest.fixture(scope="session")
def spark(spark_warehouse: Path) -> Iterator[SparkSession]:
    from wikiguard.adapters.spark.session import SparkJarsMissingError, build_spark_session

    try:
        session = build_spark_session(
            "wikiguard-tests",
            warehouse=str(spark_warehouse),
            catalog_name=SPARK_CATALOG,
            catalog_type="hadoop",
        )
    except SparkJarsMissingError as exc:
        pytest.fail(str(exc), pytrace=False)
    session.sparkContext.setLogLevel("WARN")
    try:
        yield session
    finally:
        # pydeequ's lambda assertions and foreachBatch start py4j's callback server; close it first
        gateway = getattr(session.sparkContext, "_gateway", None)
        if gateway is not None:
            release_callback_connections(session)
            gateway.shutdown_callback_server()
        session.stop()


def release_callback_connections(spark: Any) -> None:
    """Shut down the sockets of py4j's callback connections (foreachBatch runs through them).

    Without this the session hangs at teardown: `shutdown_callback_server` closes each connection's
    stream while the connection's own thread is blocked reading it (py4j's BufferedReader lock).
    Shutting the socket down first ends that read, and the thread exits.
    """
    server = getattr(spark.sparkContext._gateway, "_callback_server", None)
    for connection in list(getattr(server, "connections", ()) or ()):
        sock = getattr(connection, "socket", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
    time.sleep(0.5)
