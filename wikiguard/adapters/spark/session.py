"""Build the project's SparkSession: local Spark 3.5 (from pyspark) plus the extra
jars fetched by ``scripts/fetch-jvm.sh`` into ``jvm/lib/spark`` (Kafka source,
Iceberg runtime + AWS bundle, Deequ). No Ivy / ``spark.jars.packages`` at run time.

Versions of those jars are pinned in ``jvm/pom.xml``; see ``docs/jvm.md``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from wikiguard.adapters.spark.catalog import IcebergCatalog

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

# pydeequ reads SPARK_VERSION when it is imported; set it before anyone does.
os.environ.setdefault("SPARK_VERSION", "3.5")

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_JARS_DIR = REPO_ROOT / "jvm" / "lib" / "spark"
JARS_DIR_ENV = "WIKIGUARD_JARS_DIR"

ICEBERG_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"

# jar name prefixes that must be present in the jars dir
REQUIRED_JARS: tuple[str, ...] = (
    "iceberg-spark-runtime-3.5_2.12-",
    "spark-sql-kafka-0-10_2.12-",
    "spark-token-provider-kafka-0-10_2.12-",
    "kafka-clients-",
    "commons-pool2-",
    "deequ-",
)

CatalogType = Literal["hadoop", "glue", "jdbc"]


class SparkJarsMissingError(RuntimeError):
    """The extra Spark jars are not there: run scripts/fetch-jvm.sh."""


def resolve_jars_dir(jars_dir: Path | None = None) -> Path:
    """``jars_dir`` if given, else ``$WIKIGUARD_JARS_DIR``, else ``<repo>/jvm/lib/spark``."""
    if jars_dir is not None:
        return Path(jars_dir).resolve()
    env = os.environ.get(JARS_DIR_ENV)
    if env:
        return Path(env).resolve()
    return DEFAULT_JARS_DIR


def spark_jars(jars_dir: Path | None = None) -> list[Path]:
    """Absolute paths of all jars in the jars dir; raises if any required jar is missing."""
    d = resolve_jars_dir(jars_dir)
    jars = sorted(p.resolve() for p in d.glob("*.jar")) if d.is_dir() else []
    missing = [prefix for prefix in REQUIRED_JARS if not any(j.name.startswith(prefix) for j in jars)]
    if missing:
        raise SparkJarsMissingError(
            f"Spark jars missing in {d}: {', '.join(p.rstrip('-') for p in missing)}. "
            "Run scripts/fetch-jvm.sh (or point WIKIGUARD_JARS_DIR at a folder holding them)."
        )
    return jars


def spark_conf(
    app_name: str,
    *,
    warehouse: str | os.PathLike[str],
    catalog_name: str = "wikiguard",
    catalog_type: CatalogType = "hadoop",
    jars_dir: Path | None = None,
    extra_conf: Mapping[str, str] | None = None,
    master: str | None = "local[2]",
) -> dict[str, str]:
    """The full Spark configuration used by :func:`build_spark_session` (pure; no JVM)."""
    jars = spark_jars(jars_dir)
    conf: dict[str, str] = {
        "spark.app.name": app_name,
        "spark.jars": ",".join(str(j) for j in jars),
        "spark.sql.extensions": ICEBERG_EXTENSIONS,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "4",
        "spark.default.parallelism": "4",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.adaptive.enabled": "true",
        # toPandas / createDataFrame through Arrow (the Spark jobs move key columns to the driver)
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    }
    if master is not None:
        conf["spark.master"] = master
        if master.startswith("local"):
            conf["spark.driver.host"] = "127.0.0.1"
            conf["spark.driver.bindAddress"] = "127.0.0.1"
    conf |= IcebergCatalog(catalog_name, catalog_type, os.fspath(warehouse)).conf()
    if extra_conf:
        conf |= dict(extra_conf)
    return conf


def build_spark_session(
    app_name: str,
    *,
    warehouse: str | os.PathLike[str],
    catalog_name: str = "wikiguard",
    catalog_type: CatalogType = "hadoop",
    jars_dir: Path | None = None,
    extra_conf: Mapping[str, str] | None = None,
    master: str | None = "local[2]",
) -> SparkSession:
    """A SparkSession with Iceberg (catalog ``catalog_name``), the Kafka source and Deequ.

    ``catalog_type="hadoop"``: Iceberg HadoopCatalog on a local warehouse folder (or URI).
    ``catalog_type="glue"``: AWS Glue catalog with S3FileIO on an ``s3://`` warehouse.
    ``catalog_type="jdbc"``: Iceberg JdbcCatalog on ``<warehouse>/catalog.db`` (SQLite), shared with
    pyiceberg's SQL catalog of the same name.
    ``master=None`` leaves the master to the environment (e.g. spark-submit on a cluster).

    Static settings such as ``spark.jars`` only apply when the JVM starts: build the
    session once per process (a second call returns the running session).
    """
    os.environ.setdefault("SPARK_VERSION", "3.5")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)

    conf = spark_conf(
        app_name,
        warehouse=warehouse,
        catalog_name=catalog_name,
        catalog_type=catalog_type,
        jars_dir=jars_dir,
        extra_conf=extra_conf,
        master=master,
    )

    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()

    loaded = spark.sparkContext.getConf().get("spark.jars", "")
    if "iceberg-spark-runtime" not in loaded:
        raise RuntimeError(
            "a SparkSession was already running without the wikiguard jars; "
            "build_spark_session must create the first session in the process"
        )
    # Start py4j's callback server the way pyspark does (an ephemeral port the JVM is told about)
    # before anything else can: pydeequ would otherwise start it on py4j's fixed default port, where
    # a second Spark process on the machine takes over the callbacks (foreachBatch, Deequ lambdas).
    from pyspark.java_gateway import ensure_callback_server_started

    ensure_callback_server_started(spark.sparkContext._gateway)
    return spark
