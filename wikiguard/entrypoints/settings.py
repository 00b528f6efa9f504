"""Settings: the only reader of the environment. A missing or bad value fails with a clear message."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import attrs

from wikiguard.domain.alerts import DEFAULT_ROUTES, AlertKind, AlertSeverity, Route
from wikiguard.domain.errors import WikiguardError

DEFAULT_SSE_URL = "https://stream.wikimedia.org/v2/stream/recentchange"
USER_AGENT = "WikiGuard/0.1 (https://github.com/wikiguard/wikiguard; wikiguard@example.org) python-requests"


class SettingsError(WikiguardError):
    """A configuration value is missing or cannot be used."""


def _get(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    value = env.get(name)
    return default if value is None or value == "" else value


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = _get(env, name, str(default))
    try:
        return int(str(raw))
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _get(env, name, str(default))
    try:
        value = float(str(raw))
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{name} must not be negative, got {raw!r}")
    return value


def _bucket(env: Mapping[str, str], name: str) -> str | None:
    value = _get(env, name, None)
    if value is not None and ("/" in value or ":" in value):
        raise SettingsError(f"{name} must be a bare S3 bucket name (a Terraform output), got {value!r}")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = str(_get(env, name, default))
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def parse_routes(text: str | None) -> tuple[Route, ...]:
    """`[kind:]SEVERITY=sink+sink,...` (kind: quality, anomaly, freshness; none means every kind).

    Example: `CRITICAL=sns+slack,WARNING=slack,anomaly:INFO=log`. Unset: CRITICAL to SNS, WARNING and
    above to Slack, everything to the log.
    """
    if not text:
        return DEFAULT_ROUTES
    routes = []
    for entry in text.split(","):
        head, _, sinks = entry.strip().partition("=")
        kind_text, _, severity_text = head.rpartition(":")
        try:
            kind = AlertKind(kind_text.strip().lower()) if kind_text.strip() else None
            severity = AlertSeverity(severity_text.strip().upper())
        except ValueError:
            raise SettingsError(
                f"WIKIGUARD_ALERT_ROUTES entry {entry.strip()!r}: expected [kind:]SEVERITY=sink+sink with kind in "
                f"{', '.join(k.value for k in AlertKind)} and SEVERITY in {', '.join(s.value for s in AlertSeverity)}"
            ) from None
        names = tuple(n.strip() for n in sinks.split("+") if n.strip())
        if not names:
            raise SettingsError(f"WIKIGUARD_ALERT_ROUTES entry {entry.strip()!r} names no sink")
        routes.append(Route(kind, severity, names))
    return tuple(routes)


@attrs.frozen
class Settings:
    """Everything configurable, with the environment variable that sets it."""

    warehouse: Path = Path("warehouse")  # WIKIGUARD_WAREHOUSE (local catalog)
    catalog: str = "local"  # WIKIGUARD_CATALOG: local | glue
    s3_warehouse: str | None = None  # WIKIGUARD_S3_WAREHOUSE: s3://bucket/prefix (glue)
    aws_region: str = "us-east-1"  # AWS_REGION
    aws_endpoint_url: str | None = None  # WIKIGUARD_AWS_ENDPOINT_URL (moto / localstack)
    allowlist: Path | None = None  # WIKIGUARD_ALLOWLIST (default: the packaged allowlist)
    sse_url: str = DEFAULT_SSE_URL  # WIKIGUARD_SSE_URL
    user_agent: str = USER_AGENT  # WIKIGUARD_USER_AGENT
    batch_rows: int = 50_000  # WIKIGUARD_BATCH_ROWS
    batch_seconds: float = 30.0  # WIKIGUARD_BATCH_SECONDS
    allowed_lateness: timedelta = timedelta(minutes=5)  # WIKIGUARD_ALLOWED_LATENESS_SECONDS
    dedup_horizon: timedelta = timedelta(hours=1)  # WIKIGUARD_DEDUP_HORIZON_SECONDS
    alert_throttle: timedelta = timedelta(minutes=30)  # WIKIGUARD_ALERT_THROTTLE_SECONDS
    alert_routes: tuple[Route, ...] = DEFAULT_ROUTES  # WIKIGUARD_ALERT_ROUTES, e.g. CRITICAL=sns+slack,WARNING=slack
    freshness_objective: timedelta = timedelta(minutes=15)  # WIKIGUARD_FRESHNESS_OBJECTIVE_SECONDS
    log_level: str = "INFO"  # WIKIGUARD_LOG_LEVEL, of the ingest service's JSON logs
    slack_webhook_url: str | None = attrs.field(default=None, repr=False)  # WIKIGUARD_SLACK_WEBHOOK_URL
    slack_secret_id: str | None = None  # WIKIGUARD_SLACK_SECRET_ID (Secrets Manager)
    sns_topic_arn: str | None = None  # WIKIGUARD_SNS_TOPIC_ARN
    kafka_bootstrap: str = "127.0.0.1:19092"  # WIKIGUARD_KAFKA_BOOTSTRAP
    kafka_topic: str = "cleaned_events"  # WIKIGUARD_KAFKA_TOPIC
    kafka_dlq_topic: str = "cleaned_events_dlq"  # WIKIGUARD_KAFKA_DLQ_TOPIC
    kafka_security: str = "plaintext"  # WIKIGUARD_KAFKA_SECURITY: plaintext | tls | iam
    kafka_partitions: int = 3  # WIKIGUARD_KAFKA_PARTITIONS
    kafka_replication: int = 1  # WIKIGUARD_KAFKA_REPLICATION
    kafka_retention_ms: int = 7 * 24 * 3600 * 1000  # WIKIGUARD_KAFKA_RETENTION_MS
    state_dir: Path = Path(".wikiguard")  # WIKIGUARD_STATE_DIR (ingest resume file, heartbeat)
    kafka_delivery_timeout_ms: int = 300_000  # WIKIGUARD_KAFKA_DELIVERY_TIMEOUT_MS (then spooled)
    sse_read_timeout: float = 60.0  # WIKIGUARD_SSE_READ_TIMEOUT_SECONDS (silence before a reconnect)
    sse_backoff: float = 1.0  # WIKIGUARD_SSE_BACKOFF_SECONDS (first reconnect delay, doubles to 60 s)
    progress_seconds: float = 30.0  # WIKIGUARD_PROGRESS_SECONDS (ingest progress log lines)
    # AWS job control (`wikiguard jobs|ingest-service|status`); names follow the Terraform outputs.
    emr_application_id: str | None = None  # WIKIGUARD_EMR_APPLICATION_ID
    emr_job_role_arn: str | None = None  # WIKIGUARD_EMR_JOB_ROLE_ARN
    emr_log_group: str | None = None  # WIKIGUARD_EMR_LOG_GROUP (CloudWatch logging of job runs)
    artifacts_bucket: str | None = None  # WIKIGUARD_ARTIFACTS_BUCKET (code zip, entrypoints, jars)
    checkpoints_bucket: str | None = None  # WIKIGUARD_CHECKPOINTS_BUCKET (Spark streaming checkpoints)
    code_version: str | None = None  # WIKIGUARD_CODE_VERSION (default: the installed wikiguard version)
    jars_prefix: str = "jars"  # WIKIGUARD_JARS_PREFIX (folder of the pinned jars in the artifacts bucket)
    ecs_cluster_name: str | None = None  # WIKIGUARD_ECS_CLUSTER_NAME
    ecs_service_name: str | None = None  # WIKIGUARD_ECS_SERVICE_NAME

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        catalog = _choice(env, "WIKIGUARD_CATALOG", "local", ("local", "glue"))
        s3 = _get(env, "WIKIGUARD_S3_WAREHOUSE", None)
        if catalog == "glue" and not (s3 and s3.startswith("s3://")):
            raise SettingsError("WIKIGUARD_CATALOG=glue needs WIKIGUARD_S3_WAREHOUSE=s3://bucket/prefix")
        allowlist = _get(env, "WIKIGUARD_ALLOWLIST", None)
        batch_rows = _int(env, "WIKIGUARD_BATCH_ROWS", 50_000)
        if batch_rows < 1:
            raise SettingsError(f"WIKIGUARD_BATCH_ROWS must be at least 1, got {batch_rows}")
        return cls(
            warehouse=Path(str(_get(env, "WIKIGUARD_WAREHOUSE", "warehouse"))),
            catalog=catalog,
            s3_warehouse=s3,
            aws_region=str(_get(env, "AWS_REGION", _get(env, "AWS_DEFAULT_REGION", "us-east-1"))),
            aws_endpoint_url=_get(env, "WIKIGUARD_AWS_ENDPOINT_URL", None),
            allowlist=Path(allowlist) if allowlist else None,
            sse_url=str(_get(env, "WIKIGUARD_SSE_URL", DEFAULT_SSE_URL)),
            user_agent=str(_get(env, "WIKIGUARD_USER_AGENT", USER_AGENT)),
            batch_rows=batch_rows,
            batch_seconds=_float(env, "WIKIGUARD_BATCH_SECONDS", 30.0),
            allowed_lateness=timedelta(seconds=_float(env, "WIKIGUARD_ALLOWED_LATENESS_SECONDS", 300)),
            dedup_horizon=timedelta(seconds=_float(env, "WIKIGUARD_DEDUP_HORIZON_SECONDS", 3600)),
            alert_throttle=timedelta(seconds=_float(env, "WIKIGUARD_ALERT_THROTTLE_SECONDS", 1800)),
            alert_routes=parse_routes(_get(env, "WIKIGUARD_ALERT_ROUTES", None)),
            freshness_objective=timedelta(seconds=_float(env, "WIKIGUARD_FRESHNESS_OBJECTIVE_SECONDS", 900)),
            log_level=_choice(env, "WIKIGUARD_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
            slack_webhook_url=_get(env, "WIKIGUARD_SLACK_WEBHOOK_URL", None),
            slack_secret_id=_get(env, "WIKIGUARD_SLACK_SECRET_ID", None),
            sns_topic_arn=_get(env, "WIKIGUARD_SNS_TOPIC_ARN", None),
            kafka_bootstrap=str(_get(env, "WIKIGUARD_KAFKA_BOOTSTRAP", "127.0.0.1:19092")),
            kafka_topic=str(_get(env, "WIKIGUARD_KAFKA_TOPIC", "cleaned_events")),
            kafka_dlq_topic=str(_get(env, "WIKIGUARD_KAFKA_DLQ_TOPIC", "cleaned_events_dlq")),
            kafka_security=_choice(env, "WIKIGUARD_KAFKA_SECURITY", "plaintext", ("plaintext", "tls", "iam")),
            kafka_partitions=_int(env, "WIKIGUARD_KAFKA_PARTITIONS", 3),
            kafka_replication=_int(env, "WIKIGUARD_KAFKA_REPLICATION", 1),
            kafka_retention_ms=_int(env, "WIKIGUARD_KAFKA_RETENTION_MS", 7 * 24 * 3600 * 1000),
            state_dir=Path(str(_get(env, "WIKIGUARD_STATE_DIR", ".wikiguard"))),
            kafka_delivery_timeout_ms=_int(env, "WIKIGUARD_KAFKA_DELIVERY_TIMEOUT_MS", 300_000),
            sse_read_timeout=_float(env, "WIKIGUARD_SSE_READ_TIMEOUT_SECONDS", 60.0),
            sse_backoff=_float(env, "WIKIGUARD_SSE_BACKOFF_SECONDS", 1.0),
            progress_seconds=_float(env, "WIKIGUARD_PROGRESS_SECONDS", 30.0),
            emr_application_id=_get(env, "WIKIGUARD_EMR_APPLICATION_ID", None),
            emr_job_role_arn=_get(env, "WIKIGUARD_EMR_JOB_ROLE_ARN", None),
            emr_log_group=_get(env, "WIKIGUARD_EMR_LOG_GROUP", None),
            artifacts_bucket=_bucket(env, "WIKIGUARD_ARTIFACTS_BUCKET"),
            checkpoints_bucket=_bucket(env, "WIKIGUARD_CHECKPOINTS_BUCKET"),
            code_version=_get(env, "WIKIGUARD_CODE_VERSION", None),
            jars_prefix=str(_get(env, "WIKIGUARD_JARS_PREFIX", "jars")),
            ecs_cluster_name=_get(env, "WIKIGUARD_ECS_CLUSTER_NAME", None),
            ecs_service_name=_get(env, "WIKIGUARD_ECS_SERVICE_NAME", None),
        )
